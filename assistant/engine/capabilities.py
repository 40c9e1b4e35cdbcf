"""What the pipeline uses besides the model: the content guard (and the vision guard for photos), web
search, Code Shield, the code interpreter's sandbox and Imagine's final renders (for `/imagine
<prompt>` turns).

The pipeline sees six small protocols; `default_capabilities()` builds them from settings. Web
search runs on a Celery worker (queue `search`) and comes back through the result backend
(`core.celery_results`); so does the code interpreter's (queue `code`, assistant/engine/code_tool.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from celery.result import AsyncResult
from django.core.signals import setting_changed
from django.dispatch import receiver

from assistant.engine.code_tool import PythonRunner, WorkerPython
from core.celery_results import await_result
from core.images import ImageRef
from safety.codeshield import CodeReport, scan_code
from safety.conf import SafetySettings, safety_settings
from safety.guard import PolicyGuard, content_guard
from safety.verdict import Verdict
from safety.vision_guard import Photo, VisionGuard
from search.conf import search_settings
from search.sources import SearchOutcome

logger = logging.getLogger(__name__)

RESULT_POLL_SECONDS = 0.05
SEARCH_TIMED_OUT = "The web search took too long, so this answer does not use live results."
SEARCH_UNAVAILABLE = "Web search is unavailable right now, so this answer does not use live results."
MATH_UNAVAILABLE = "Error: the math tool is unavailable right now."
WEB_TOOLS_NOT_OFFERED = "Error: web search and the math tool are not available in this conversation."


class ContentGuard(Protocol):
    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict: ...


class PhotoGuard(Protocol):
    """Llama Guard 3 Vision: for one photo, a content guard that judges the turns about it."""

    def seeing(self, photo: Photo) -> ContentGuard: ...


class WebTools(Protocol):
    """Web search (and reading shared links), and the math tool of Llama 3.1's `wolfram_alpha`."""

    async def search(self, query: str, urls: Sequence[str], question: str = "") -> SearchOutcome: ...

    async def solve(self, query: str) -> str: ...


class CodeScanner(Protocol):
    async def scan(self, answer: str) -> CodeReport: ...


@dataclass(frozen=True)
class ImageRequest:
    prompt: str  # as `imagine.commands.imagine_prompt` read it from the message (a photo's caption)
    owner_id: int
    conversation_id: int
    # `edit <instruction>`: the message whose picture it restyles, the question itself (the caption of a
    # photo) or the message its Edit button named (read from storage, so a regenerated answer finds it
    # too); None: the conversation's newest picture.
    picture_message_id: int | None = None


class ImageMaker(Protocol):
    """Imagine's final renders. Both raise AssistantError with a sentence to show."""

    def clean(self, prompt: str) -> str: ...

    async def render(self, request: ImageRequest) -> ImageRef:
        """Render and keep it in the owner's gallery, tied to the conversation."""


@dataclass(frozen=True)
class Capabilities:
    guard: ContentGuard | None = None  # None: nothing is checked (tests of other steps only)
    photo_guard: PhotoGuard | None = None  # None: a photo is checked by its printed text only (no vision guard)
    check_output: bool = True  # the guard also judges answers (off for the embedded stand-in by default)
    web: WebTools | None = None
    code: CodeScanner | None = None
    python: PythonRunner | None = None  # None: not offered; code written anyway gets an "unavailable" result
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

    async def _result_of(self, pending: AsyncResult) -> object:
        return await await_result(pending, wait_seconds=self.timeout, poll_seconds=RESULT_POLL_SECONDS)


class PolicyPhotoGuard:
    """The vision guard inside the failure policy (SAFETY_FAIL_CLOSED), as the content guard is."""

    def __init__(self, guard: VisionGuard, *, fail_closed: bool) -> None:
        self.guard = guard
        self.fail_closed = fail_closed

    def seeing(self, photo: Photo) -> ContentGuard:
        return PolicyGuard(self.guard.seeing(photo), fail_closed=self.fail_closed)


class CodeShield:
    async def scan(self, answer: str) -> CodeReport:
        return await scan_code(answer)


def _judges_answers() -> bool:
    """Llama Guard judges answers; the embedded stand-in only when the operator asks (docs/safety.md:
    on ordinary answers its false-alarm rate is too high to stop them), in process or in its server
    (whose answer checks would only cost a request each: SAFETY_GUARD_JUDGES_ANSWERS=false)."""
    safety = safety_settings()
    if safety.guard_base_url:
        return safety.guard_judges_answers
    return bool(safety.guard_gguf) or safety.embedded_checks_answers


def _photo_guard(safety: SafetySettings) -> PhotoGuard | None:
    """Llama Guard 3 Vision when SAFETY_VISION_GUARD_BASE_URL is set (production); none otherwise."""
    if not safety.vision_guard_base_url:
        return None
    guard = VisionGuard(
        safety.vision_guard_base_url,
        model=safety.vision_guard_model,
        categories=safety.categories,
        api_key=safety.vision_guard_api_key,
        timeout=safety.vision_guard_timeout,
    )
    return PolicyPhotoGuard(guard, fail_closed=safety.fail_closed)


def _build_capabilities() -> Capabilities:
    from assistant.engine.renders import FinalRenders  # renders builds on this module's types

    safety, search = safety_settings(), search_settings()
    return Capabilities(
        guard=content_guard() if safety.checks else None,
        photo_guard=_photo_guard(safety) if safety.checks else None,
        check_output=_judges_answers(),
        web=WorkerTools(search.timeout_seconds, search.max_sources),
        code=CodeShield() if safety.code_shield else None,
        python=WorkerPython(),
        imagine=FinalRenders(),
    )


@functools.cache
def default_capabilities() -> Capabilities:
    """Built once per process: the guards keep their own per-event-loop state (HTTP clients, batches).
    Built again after a settings change, so that none outlives the settings it was built from."""
    return _build_capabilities()


@receiver(setting_changed)
def _rebuild_capabilities(**kwargs: object) -> None:
    default_capabilities.cache_clear()
