"""What the pipeline uses besides the model: the content guard, web search, Code Shield and
Imagine's final renders (for `/imagine <prompt>` turns).

The pipeline sees four small protocols; `default_capabilities()` builds them from settings. Web
search runs on a Celery worker (queue `search`) and comes back through the result backend, polled
without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from core.images import ImageRef
from safety.codeshield import CodeReport, scan_code
from safety.guard import content_guard
from safety.verdict import Verdict
from search.sources import SearchOutcome

logger = logging.getLogger(__name__)

RESULT_POLL_SECONDS = 0.05
SEARCH_TIMED_OUT = "The web search took too long, so this answer does not use live results."
SEARCH_UNAVAILABLE = "Web search is unavailable right now, so this answer does not use live results."
MATH_UNAVAILABLE = "Error: the math tool is unavailable right now."


class ContentGuard(Protocol):
    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict: ...


class WebTools(Protocol):
    """Web search (and reading shared links), and the math tool of Llama 3.1's `wolfram_alpha`."""

    async def search(self, query: str, urls: Sequence[str], question: str = "") -> SearchOutcome: ...

    async def solve(self, query: str) -> str: ...


class CodeScanner(Protocol):
    async def scan(self, answer: str) -> CodeReport: ...


@dataclass(frozen=True)
class ImageRequest:
    prompt: str  # as `imagine.commands.imagine_prompt` read it from the message
    owner_id: int
    conversation_id: int


class ImageMaker(Protocol):
    """Imagine's final renders. Both raise AssistantError with a sentence to show."""

    def clean(self, prompt: str) -> str: ...

    async def render(self, request: ImageRequest) -> ImageRef:
        """Render and keep it in the owner's gallery, tied to the conversation."""


@dataclass(frozen=True)
class Capabilities:
    guard: ContentGuard | None = None  # None: nothing is checked (tests of other steps only)
    check_output: bool = True  # the guard also judges answers (off for the embedded stand-in by default)
    web: WebTools | None = None
    code: CodeScanner | None = None
    imagine: ImageMaker | None = None  # None: `/imagine <prompt>` is text for the model


class WorkerTools:
    """Search and math on the `search` queue's workers, each waited for up to `timeout` seconds."""

    def __init__(self, timeout: float, max_sources: int) -> None:
        self.timeout = timeout
        self.max_sources = max_sources

    async def search(self, query: str, urls: Sequence[str], question: str = "") -> SearchOutcome:
        from search.tasks import search_web

        try:
            pending = await asyncio.to_thread(search_web.delay, query, list(urls), self.max_sources, question)
            return SearchOutcome.from_json(await self._result_of(pending))  # type: ignore[arg-type]
        except TimeoutError:
            logger.warning("search timed out after %.1fs: %.80r", self.timeout, query)
            return SearchOutcome(query=query, sources=[], error=SEARCH_TIMED_OUT)
        except Exception:
            logger.exception("search failed: %.80r", query)
            return SearchOutcome(query=query, sources=[], error=SEARCH_UNAVAILABLE)

    async def solve(self, query: str) -> str:
        from search.tasks import solve_math

        try:
            pending = await asyncio.to_thread(solve_math.delay, query)
            return str(await self._result_of(pending))
        except Exception:
            logger.exception("math tool failed: %.80r", query)
            return MATH_UNAVAILABLE

    async def _result_of(self, pending: object) -> object:
        deadline = time.monotonic() + self.timeout
        try:
            while not await asyncio.to_thread(pending.ready):  # type: ignore[attr-defined]
                if time.monotonic() > deadline:
                    raise TimeoutError
                await asyncio.sleep(RESULT_POLL_SECONDS)
            return await asyncio.to_thread(pending.get, timeout=1, disable_sync_subtasks=False)  # type: ignore[attr-defined]
        finally:
            await asyncio.to_thread(pending.forget)  # type: ignore[attr-defined]


class CodeShield:
    async def scan(self, answer: str) -> CodeReport:
        return await scan_code(answer)


def _judges_answers() -> bool:
    """Llama Guard judges answers; the embedded stand-in only when the operator asks (docs/safety.md:
    on ordinary answers its false-alarm rate is too high to stop them)."""
    llama_guard = bool(settings.SAFETY_GUARD_BASE_URL or settings.SAFETY_GUARD_GGUF)
    return llama_guard or settings.SAFETY_EMBEDDED_CHECKS_ANSWERS


def _build_capabilities() -> Capabilities:
    from assistant.engine.renders import FinalRenders  # renders builds on this module's types

    return Capabilities(
        guard=content_guard() if settings.SAFETY_CHECKS else None,
        check_output=_judges_answers(),
        web=WorkerTools(settings.SEARCH_TIMEOUT_SECONDS, settings.SEARCH_MAX_SOURCES),
        code=CodeShield() if settings.SAFETY_CODE_SHIELD else None,
        imagine=FinalRenders(),
    )


@functools.cache
def default_capabilities() -> Capabilities:
    """Built once per process: the guards keep their own per-event-loop state (HTTP clients, batches)."""
    return _build_capabilities()
