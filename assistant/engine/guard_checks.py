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


class InputCheck:
    """The question's check, started before the answer and settled before anything of the answer is
    used: the model reads the prompt while the guard reads the question, so the check costs the first
    token nothing when it is the quicker of the two. Settled (awaited) before a search sends the
    question anywhere, before a tool runs and before the first text is shown."""

    def __init__(self, guard: ContentGuard | None, conversation: list[tuple[str, str]]) -> None:
        self.question = conversation[-1][1] if conversation else ""
        self.running = asyncio.create_task(guard.check(conversation, agent=False)) if guard is not None else None
        self.blocked_categories: tuple[str, ...] | None = None

    async def refusal(self) -> tuple[str, ...] | None:
        """The categories the question was refused for, or None once it passed (raises
        SafetyUnavailable when the guard could not answer and the policy is to refuse)."""
        if self.running is not None:
            running, self.running = self.running, None
            verdict = await running
            if not guard_allows(verdict, "input"):
                self.blocked_categories = verdict.categories
        return self.blocked_categories

    def close(self) -> None:
        """Stop a check whose answer is no longer wanted (the turn ended first)."""
        if self.running is not None:
            self.running.cancel()
            self.running = None


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
