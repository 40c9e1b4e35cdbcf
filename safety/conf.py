"""The safety package's settings, read from Django settings with these defaults.

| setting | default | meaning |
| --- | --- | --- |
| `SAFETY_GUARD_BASE_URL` | `""` | base URL (…/v1) of vLLM serving Llama Guard 3; set: `VllmGuard` |
| `SAFETY_GUARD_MODEL` | `"llama-guard-3-1b"` | the served model name sent to that server |
| `SAFETY_GUARD_API_KEY` | `""` | bearer token for that server, if it wants one |
| `SAFETY_GUARD_TIMEOUT` | `10.0` | seconds the vLLM guard may take to answer (connecting: at most 2 s) |
| `SAFETY_GUARD_GGUF` | `""` | path of a Llama Guard 3 1B GGUF file, run in process when no base URL is set |
| `SAFETY_CATEGORIES` | S1–S14, `jailbreak`, `injection` | hazards checked (the last two: embedded guard only) |
| `SAFETY_FAIL_CLOSED` | `False` | guard down or timed out: `True` = unsafe (production), `False` = safe |
| `SAFETY_EMBEDDED_THRESHOLD` | `0.6` | the embedded classifier flags a text when P(unsafe) reaches this |
| `SAFETY_CODE_BLOCK_SEVERITY` | `"none"` | Code Shield findings that block: `none` (warn only), `error`, `warning` |
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from safety.llama_guard import PROMPT_ATTACK_CATEGORIES, S_CATEGORIES


def guard_base_url() -> str:
    return getattr(settings, "SAFETY_GUARD_BASE_URL", "")


def guard_model() -> str:
    return getattr(settings, "SAFETY_GUARD_MODEL", "llama-guard-3-1b")


def guard_api_key() -> str:
    return getattr(settings, "SAFETY_GUARD_API_KEY", "")


def guard_timeout() -> float:
    return float(getattr(settings, "SAFETY_GUARD_TIMEOUT", 10.0))


def guard_gguf() -> str:
    return getattr(settings, "SAFETY_GUARD_GGUF", "")


def categories() -> tuple[str, ...]:
    return tuple(getattr(settings, "SAFETY_CATEGORIES", (*S_CATEGORIES, *PROMPT_ATTACK_CATEGORIES)))


def fail_closed() -> bool:
    return bool(getattr(settings, "SAFETY_FAIL_CLOSED", False))


def embedded_threshold() -> float:
    return float(getattr(settings, "SAFETY_EMBEDDED_THRESHOLD", 0.6))


def cache_dir() -> Path:
    """Where the embedded guard keeps its trained weights, named by the exemplars' hash, so every
    process of a machine (and every test server, whatever its own var/ folder) shares them."""
    return Path(getattr(settings, "SAFETY_CACHE_DIR", Path.cwd() / "var" / "cache"))


def code_block_severity() -> str:
    return getattr(settings, "SAFETY_CODE_BLOCK_SEVERITY", "none")
