"""Saving the answers that are being written: one database trip per interval for all of them.

Each running answer is saved every ASSISTANT_FLUSH_INTERVAL_MS while it grows, and at least once
a second as a heartbeat (`recorder.HEARTBEAT_SECONDS`; a reader takes an answer without heartbeats
for one whose process died).
Saving each answer on its own costs a thread hop and a commit per answer per interval, which at a
thousand concurrent answers is most of a core; one writer per event loop saves every answer that is
due in one transaction instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from typing import Protocol

from assistant.conf import assistant_settings
from assistant.engine import recorder
from core.db import database_sync_to_async
from core.errors import DEPENDENCY_ERRORS

logger = logging.getLogger(__name__)


class GrowingAnswer(Protocol):
    def progress_due(self, now: float) -> recorder.AnswerProgress | None:
        """What to save now, or None when nothing changed and a heartbeat is not due yet."""

    def progress_saved(self, progress: recorder.AnswerProgress, at: float) -> None: ...


class ProgressWriter:
    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self.answers: set[GrowingAnswer] = set()
        self.task: asyncio.Task[None] | None = None

    def add(self, answer: GrowingAnswer) -> None:
        self.answers.add(answer)
        if self.task is None:
            # A fresh context, like the runners: it must not hold on to any request's executor.
            self.task = asyncio.create_task(self._write_periodically(), context=contextvars.Context())

    def discard(self, answer: GrowingAnswer) -> None:
        self.answers.discard(answer)

    async def _write_periodically(self) -> None:
        try:
            while self.answers:
                await asyncio.sleep(self.interval)
                await self.write_due()
        finally:
            self.task = None

    async def write_due(self) -> None:
        now = time.monotonic()
        due = [(answer, progress) for answer in list(self.answers) if (progress := answer.progress_due(now))]
        if not due:
            return
        try:
            await database_sync_to_async(recorder.save_answers_progress)([progress for _, progress in due])
        except DEPENDENCY_ERRORS as exc:
            # Kept in memory and saved at the next interval; readers see no heartbeat meanwhile.
            logger.warning("could not save %d growing answer(s): %s", len(due), exc)
            return
        for answer, progress in due:
            answer.progress_saved(progress, now)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProgressWriter] = weakref.WeakKeyDictionary()


def progress_writer() -> ProgressWriter:
    """This event loop's writer (tests run many loops in one process)."""
    loop = asyncio.get_running_loop()
    if loop not in _writers:
        _writers[loop] = ProgressWriter(assistant_settings().flush_interval_ms / 1000)
    return _writers[loop]
