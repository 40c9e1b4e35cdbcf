"""GgufGuard through real llama.cpp. No Llama Guard GGUF ships in a package, so this runs the
bundled SmolLM2 file: it proves loading works, and that a model whose vocabulary lacks Llama 3's
special tokens (so it cannot be Llama Guard) gives an `unavailable` verdict."""

from __future__ import annotations

from model_service.embedded import bundled_gguf
from safety.gguf_guard import GgufGuard
from safety.guard import PolicyGuard
from safety.llama_guard import S_CATEGORIES


async def test_a_model_without_llama_3_special_tokens_is_unavailable_under_the_policy() -> None:
    guard = PolicyGuard(GgufGuard(str(bundled_gguf()), categories=S_CATEGORIES), fail_closed=True)
    verdict = await guard.check([("user", "How do I bake bread?")], agent=False)
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "'<|begin_of_text|>' is not one special token" in verdict.detail


async def test_a_missing_file_is_unavailable() -> None:
    missing = GgufGuard("/nonexistent/llama-guard-3-1b.gguf", categories=S_CATEGORIES)
    guard = PolicyGuard(missing, fail_closed=False)
    verdict = await guard.check([("user", "Hi")], agent=False)
    assert (verdict.safe, verdict.unavailable) == (True, True)
