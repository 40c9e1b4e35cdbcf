"""A new conversation's first answer, started while its turn is stored.

The first message of a new conversation is the whole conversation its answer reads, so the prompt
is known before anything is written: the door starts the answer (its recall, the model's request,
the question's check) as soon as the request has passed its limits, on this loop, while the
database thread stores the conversation, the question and the empty answer. The model reads the
prompt meanwhile: on the first token's path the storing costs nothing when the model's prefill is
the longer of the two. Nothing of the answer reaches anyone before the runner takes its events,
which it does only once the turn is stored and the turn it loaded asks for this very prompt
(`matches`); otherwise the early answer is cancelled, its model request closed, and the stored turn
is answered as any other.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Hashable
from contextlib import aclosing
from dataclasses import dataclass, replace

from assistant.engine import admission
from assistant.engine.capabilities import default_capabilities
from assistant.engine.llm import model_gateway
from assistant.engine.pipeline import HistoryMessage, PipelineEvent, PromptReady, Turn, respond
from model_service import log_context

# The question's id in the early turn: not stored yet. Never a database id (those start at 1).
UNSTORED_QUESTION_ID = 0
_END = object()


@dataclass(frozen=True)
class StartedAnswer:
    """What a runner takes over: the answer's turn id and its events, those generated so far first."""

    turn_id: str
    events: AsyncIterator[PipelineEvent]


class EarlyAnswer:
    """The pipeline's events for `turn`, generated from now on into a buffer (in a task of its own,
    for `person`, under its own turn id) until a runner takes them (`taken`), or `cancel`."""

    def __init__(self, turn: Turn, person: Hashable | None) -> None:
        self.turn = turn
        self.turn_id = str(uuid.uuid4())  # the runner logs under the same id
        self._buffer: asyncio.Queue[object] = asyncio.Queue()
        self._task = asyncio.create_task(self._generate(person), context=contextvars.Context())

    @staticmethod
    def question(text: str) -> HistoryMessage:
        return HistoryMessage(UNSTORED_QUESTION_ID, "user", text, None)

    def matches(self, stored: Turn) -> bool:
        """Whether the stored turn asks for the prompt this answer was started with: the same turn
        but for the ids the database gave the question and the conversation."""
        return _without_ids(stored) == _without_ids(self.turn)

    def taken(self, question_id: int) -> StartedAnswer:
        """For the runner of the stored turn, whose question got `question_id`."""
        return StartedAnswer(self.turn_id, self._events(question_id))

    async def _events(self, question_id: int) -> AsyncIterator[PipelineEvent]:
        """The events; the question's token count under its stored id. Leaving the iteration early (a
        stop, a shutdown) cancels the generation."""
        try:
            while (item := await self._buffer.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield _with_question_id(item, question_id)  # type: ignore[arg-type]
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._task.cancel()

    async def _generate(self, person: Hashable | None) -> None:
        log_context.turn_id.set(self.turn_id)
        admission.answering_for.set(person)
        try:
            async with aclosing(respond(self.turn, model_gateway(), default_capabilities())) as generated:
                async for event in generated:
                    self._buffer.put_nowait(event)
        except Exception as exc:  # the runner's to judge, as if it had run the pipeline itself
            self._buffer.put_nowait(exc)
        finally:
            self._buffer.put_nowait(_END)


def _without_ids(turn: Turn) -> Turn:
    history = [replace(message, id=None) for message in turn.history]
    knowledge = None if turn.knowledge is None else replace(turn.knowledge, conversation_id=None)
    return replace(turn, history=history, knowledge=knowledge, early_check=None, recalled=None)


def _with_question_id(event: PipelineEvent, question_id: int) -> PipelineEvent:
    if not isinstance(event, PromptReady) or UNSTORED_QUESTION_ID not in event.new_token_counts:
        return event
    counts = dict(event.new_token_counts)
    counts[question_id] = counts.pop(UNSTORED_QUESTION_ID)
    return replace(event, new_token_counts=counts)
