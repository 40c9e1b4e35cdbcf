"""The content guard's verdicts applied to a turn: the failure policy, the question's check (with a
photo, the vision guard's beside it), and the output checks that run beside the stream without
holding it up."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

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


@dataclass(frozen=True)
class PhotoCheck:
    """The vision guard's part of a question's check: its judge of the photo sent with the question,
    and the person's words sent with it (without the photo's reading, which the judge sees itself)."""

    judge: ContentGuard
    question: str


@dataclass(frozen=True)
class EarlyCheck:
    """A question's check started before its turn is stored: the door starts it for a new
    conversation's first message, the whole conversation the check reads, so that the guard reads
    while the turn is written. The turn's `InputCheck` takes its verdict when it checks that very
    conversation; otherwise (or when the turn needs no check) it is cancelled."""

    conversation: tuple[tuple[str, str], ...]
    verdict: asyncio.Task[Verdict]

    @classmethod
    def start(cls, guard: ContentGuard, conversation: list[tuple[str, str]]) -> EarlyCheck:
        return cls(tuple(conversation), _question_check(guard, conversation))

    def cancel(self) -> None:
        self.verdict.cancel()


class InputCheck:
    """The question's check, started before the answer and settled before anything of the answer is
    used: the model reads the prompt while the guard reads the question, so the check costs the first
    token nothing when it is the quicker of the two. Settled (awaited) before a search sends the
    question anywhere, before a tool runs and before the first text is shown. With a photo, the vision
    guard judges it with the question at the same time; both must pass."""

    def __init__(
        self,
        guard: ContentGuard | None,
        conversation: list[tuple[str, str]],
        photo: PhotoCheck | None = None,
        early: EarlyCheck | None = None,
    ) -> None:
        self.question = conversation[-1][1] if conversation else ""
        self.running: list[tuple[str, asyncio.Task[Verdict]]] = []
        if guard is not None:
            self.running.append(("input", _input_verdict(guard, conversation, early)))
        if photo is not None:
            judged = photo.judge.check([("user", photo.question)], agent=False)
            self.running.append(("photo", asyncio.create_task(judged)))
        self.blocked_categories: tuple[str, ...] | None = None

    async def refusal(self) -> tuple[str, ...] | None:
        """The categories the question was refused for, or None once it passed (raises
        SafetyUnavailable when a guard could not answer, the policy is to refuse and no guard refused)."""
        if self.running:
            running, self.running = self.running, []
            try:
                verdicts = [(stage, await check) for stage, check in running]
            finally:
                for _, check in running:
                    check.cancel()  # the other check, when one failed or the wait was cancelled
            self.blocked_categories = _refused_for(verdicts)
        return self.blocked_categories

    def close(self) -> None:
        """Stop the checks whose answer is no longer wanted (the turn ended first)."""
        for _, check in self.running:
            check.cancel()
        self.running = []


def _input_verdict(
    guard: ContentGuard, conversation: list[tuple[str, str]], early: EarlyCheck | None
) -> asyncio.Task[Verdict]:
    if early is not None and early.conversation == tuple(conversation):
        return early.verdict
    return _question_check(guard, conversation)


def _question_check(guard: ContentGuard, conversation: list[tuple[str, str]]) -> asyncio.Task[Verdict]:
    return asyncio.create_task(guard.check(conversation, agent=False))


def _refused_for(verdicts: list[tuple[str, Verdict]]) -> tuple[str, ...] | None:
    """Every refusing verdict's categories, in order and once each; None when all passed. A refusal
    outweighs a guard that could not answer: only without one does the failure policy raise."""
    refusals: list[tuple[str, ...]] = []
    unavailable: SafetyUnavailable | None = None
    for stage, verdict in verdicts:
        try:
            if not guard_allows(verdict, stage):
                refusals.append(verdict.categories)
        except SafetyUnavailable as error:
            unavailable = error
    if refusals:
        return tuple(dict.fromkeys(code for categories in refusals for code in categories))
    if unavailable is not None:
        raise unavailable
    return None


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
