"""One interface for every content guard, the failure policy, and the configured guard.

`content_guard()` picks, in order: `VllmGuard` when SAFETY_GUARD_BASE_URL is set (production),
`GgufGuard` when SAFETY_GUARD_GGUF names a Llama Guard 3 GGUF file, else the embedded CPU
stand-in. Whichever it is, it comes wrapped in `PolicyGuard`, so the pipeline never sees an
exception from a guard: an error or a timeout becomes an `unavailable` verdict whose `safe`
follows SAFETY_FAIL_CLOSED. Each backend bounds its own time: the vLLM guard with its HTTP timeouts
(SAFETY_GUARD_TIMEOUT); the local ones compute on this machine, and an overall deadline would also
cut short their one-time model load on the first check.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Protocol

from django.core.signals import setting_changed
from django.dispatch import receiver

from safety.conf import safety_settings
from safety.verdict import Verdict

logger = logging.getLogger(__name__)


class ContentGuard(Protocol):
    name: str

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        """conversation: (role, text) pairs, role "user" or "assistant", oldest first.
        agent=False classifies the last user turn; agent=True the last assistant turn."""


class PolicyGuard:
    """Applies the failure policy to another guard."""

    def __init__(self, inner: ContentGuard, *, fail_closed: bool) -> None:
        self.inner = inner
        self.name = inner.name
        self.fail_closed = fail_closed

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        try:
            return await self.inner.check(conversation, agent=agent)
        except Exception as error:  # any failure of the guard is a safety event, never a crash of the turn
            detail = f"{self.name} guard unavailable: {type(error).__name__}: {error}"
            policy = "closed" if self.fail_closed else "open"
            logger.warning("%s; failing %s", detail, policy, extra={"guard": self.name, "fail_policy": policy})
            return Verdict(safe=not self.fail_closed, unavailable=True, detail=detail)


@functools.cache
def content_guard() -> ContentGuard:
    """The configured guard, built once per process (again after a settings change: tests, and
    `override_settings` anywhere, would otherwise keep the guard of settings that no longer hold)."""
    return PolicyGuard(_configured_backend(), fail_closed=safety_settings().fail_closed)


@receiver(setting_changed)
def _rebuild_guard(**kwargs: object) -> None:
    content_guard.cache_clear()


def _configured_backend() -> ContentGuard:
    configured = safety_settings()
    if configured.guard_base_url:
        from safety.vllm_guard import VllmGuard

        return VllmGuard(
            configured.guard_base_url,
            model=configured.guard_model,
            categories=configured.categories,
            api_key=configured.guard_api_key,
            timeout=configured.guard_timeout,
            max_connections=configured.guard_max_connections,
        )
    if configured.guard_gguf:
        from safety.gguf_guard import GgufGuard

        return GgufGuard(configured.guard_gguf, categories=configured.categories)
    from safety.embedded import EmbeddedGuard

    return EmbeddedGuard(categories=configured.categories, threshold=configured.embedded_threshold)
