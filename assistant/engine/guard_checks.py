"""The content guard's verdicts applied to a turn: the failure policy, and the output checks that
run beside the stream without holding it up."""

from __future__ import annotations

import asyncio
import logging

from assistant.engine.capabilities import ContentGuard
from core.metrics import count_verdict
from safety.verdict import Verdict

logger = logging.getLogger(__name__)


class SafetyUnavailable(Exception):
    """The content guard could not answer and the failure policy is to refuse (fail closed)."""


def guard_allows(verdict: Verdict, stage: str) -> bool:
    """Apply the failure policy to a guard that could not answer; raise when it says refuse."""
    count_verdict(verdict, stage)
    if verdict.unavailable:
        policy = "open" if verdict.safe else "closed"
        logger.warning("content guard unavailable (%s check, fail %s): %s", stage, policy, verdict.detail)
        if not verdict.safe:
            raise SafetyUnavailable(verdict.detail)
        return True
    return verdict.safe


class OutputWatch:
    """Checks the growing answer every SAFETY_OUTPUT_CHECK_CHARS characters without holding up the
    stream: at most one check runs at a time, and its verdict is read when the next text arrives."""

    def __init__(self, guard: ContentGuard, question: str, every_chars: int) -> None:
        self.guard = guard
        self.question = question
        self.every_chars = every_chars
        self.checked_chars = 0
        self.running: asyncio.Task[Verdict] | None = None

    def feed(self, answer_so_far: str) -> Verdict | None:
        """The finished check's unsafe verdict, if any; starts the next check when one is due."""
        if self.running is not None and self.running.done():
            verdict, self.running = self.running.result(), None
            if not guard_allows(verdict, "output"):
                return verdict
        if self.running is None and len(answer_so_far) - self.checked_chars >= self.every_chars:
            self.checked_chars = len(answer_so_far)
            self.running = asyncio.create_task(self._check(answer_so_far))
        return None

    async def final(self, answer: str) -> Verdict | None:
        """The whole answer's unsafe verdict, if any (the check in flight is superseded)."""
        self.close()
        verdict = await self._check(answer)
        return None if guard_allows(verdict, "output") else verdict

    def close(self) -> None:
        if self.running is not None:
            self.running.cancel()
            self.running = None

    async def _check(self, answer: str) -> Verdict:
        return await self.guard.check([("user", self.question), ("assistant", answer)], agent=True)
