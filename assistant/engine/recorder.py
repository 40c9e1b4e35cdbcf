"""Persistence of an answer while it is written: progress as it grows, a heartbeat while it does
not, and its outcome once, with what follows an outcome (a moderation case for a blocked turn,
usage against the quota, a title for a new conversation).

A `Recorder` is one running answer's side of this; the process's `ProgressWriter`
(`assistant.engine.progress`) saves every recorder that is due in one database trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from assistant.chat.attachments import drop_refused
from assistant.conf import assistant_settings
from assistant.engine.coalescer import Coalescer
from assistant.engine.outcome import AnswerOutcome, BlockedTurn
from assistant.models import Channel, Message, ModerationCase
from core import limits
from core.db import database_sync_to_async

HEARTBEAT_SECONDS = 1.0
# Conversations whose owner picks them from a list by title: the web chat's and `/v1`'s (shown in
# their owner's list on the web page). A messaging app shows its own chat, never this title, so a
# model-written one would be a second model call (and guard check) per new chat that nobody reads.
TITLED_CHANNELS = frozenset({Channel.WEB, Channel.API})


@dataclass(frozen=True)
class AnswerProgress:
    answer_id: int
    content: str
    frame_ends: list[int]
    first_token_ms: int | None


@dataclass(frozen=True)
class AnswerPlace:
    """The conversation an answer is written in, as what follows its outcome needs it: whose quota
    it counts against, and whether the conversation gets a title."""

    conversation_id: int
    owner_id: int
    channel: str
    # The turn began the conversation: no other answer can be complete in it, so its own, once
    # complete, gets the title without a look for earlier ones.
    began_conversation: bool = False


class Recorder:
    """Keeps one answer's row in step with the frames its coalescer numbered. `place`: its
    conversation, when the caller has it (otherwise it is read once the answer is finished)."""

    def __init__(self, answer_id: int, frames: Coalescer, place: AnswerPlace | None = None) -> None:
        self.answer_id = answer_id
        self.frames = frames
        self.place = place
        self.first_token_ms: int | None = None
        self.token_counts: dict[int, int] = {}  # the prompt's messages counted for the first time
        self.saved_seq = -1  # frames saved so far (-1: never saved; the first interval saves)
        self.saved_at = time.monotonic()

    def progress_due(self, now: float) -> AnswerProgress | None:
        """What to save now, or None when nothing changed and a heartbeat is not due yet."""
        seq = self.frames.seq
        if seq == self.saved_seq and now - self.saved_at < HEARTBEAT_SECONDS:
            return None
        return AnswerProgress(
            answer_id=self.answer_id,
            content=self.frames.content(seq),
            frame_ends=self.frames.frame_ends[:seq],
            first_token_ms=self.first_token_ms,
        )

    def progress_saved(self, progress: AnswerProgress, at: float) -> None:
        self.saved_seq, self.saved_at = len(progress.frame_ends), at

    async def finish(self, outcome: AnswerOutcome) -> None:
        await database_sync_to_async(finish_answer)(
            answer_id=self.answer_id, outcome=outcome, place=self.place, token_counts=self.token_counts
        )


def _record_token_counts(counts: dict[int, int]) -> None:
    """The prompt's new messages' token counts, in one statement (usually the question and the answer
    before it)."""
    if not counts:
        return
    by_id = [When(pk=message_id, then=Value(count)) for message_id, count in counts.items()]
    Message.objects.filter(pk__in=counts).update(token_count=Case(*by_id))


# Answers saved per statement: four parameters each, within SQLite's 32,766 per statement.
_PROGRESS_ROWS_PER_STATEMENT = 2000


def save_answers_progress(progress: Sequence[AnswerProgress]) -> None:
    """Persist growing answers in one transaction; a crash loses at most one flush interval of text.
    Answers that already ended are left alone: their final state was saved by finish_answer."""
    with transaction.atomic():
        for start in range(0, len(progress), _PROGRESS_ROWS_PER_STATEMENT):
            with connection.cursor() as cursor:
                cursor.execute(*_progress_update(progress[start : start + _PROGRESS_ROWS_PER_STATEMENT]))


def _progress_update(progress: Sequence[AnswerProgress]) -> tuple[str, list[object]]:
    """One UPDATE of every answer from a VALUES list. With a thousand answers streaming, an ORM
    statement per answer per interval was most of the writer's CPU (compiling each) and of the
    database's round trips."""
    field = Message._meta.get_field
    content, frame_ends, first_token_ms = field("content"), field("frame_ends"), field("first_token_ms")
    params: list[object] = [field("updated_at").get_db_prep_save(timezone.now(), connection)]
    for answer in progress:
        params += [
            answer.answer_id,
            content.get_db_prep_save(answer.content, connection),
            frame_ends.get_db_prep_save(answer.frame_ends, connection),
            first_token_ms.get_db_prep_save(answer.first_token_ms, connection),
        ]
    params.append(Message.Status.STREAMING.value)
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    # VALUES names its columns column1, column2, … in both PostgreSQL and SQLite; a column of NULLs
    # only is text to PostgreSQL, hence the cast.
    sql = (
        f"UPDATE {table} SET {quote(content.column)} = v.column2, {quote(frame_ends.column)} = v.column3, "
        f"{quote(first_token_ms.column)} = CAST(v.column4 AS integer), {quote('updated_at')} = %s "
        f"FROM (VALUES {', '.join(['(%s, %s, %s, %s)'] * len(progress))}) AS v "
        f"WHERE {table}.{quote('id')} = v.column1 AND {table}.{quote('status')} = %s"
    )
    return sql, params


def finish_answer(
    *,
    answer_id: int,
    outcome: AnswerOutcome,
    place: AnswerPlace | None = None,
    token_counts: dict[int, int] | None = None,
) -> None:
    """Store the answer's outcome, once (an answer already ended is left as it is), and the token
    counts of its prompt's messages counted for the first time."""
    _record_token_counts(token_counts or {})
    if outcome.blocked is None:
        updated = _store_outcome(answer_id, outcome)  # one statement: a transaction would add two round trips
    else:
        with transaction.atomic():  # the refusal and its moderation case, together
            updated = _store_outcome(answer_id, outcome)
            if updated:
                _open_blocked_case(answer_id, outcome.blocked)
    if updated:
        _after_answer(answer_id, outcome, place or _place_of(answer_id))


def _open_blocked_case(answer_id: int, blocked: BlockedTurn) -> None:
    answer = Message.objects.select_related("conversation", "reply_to").get(pk=answer_id)
    # An input block is about the user's message; an output block about the model's answer.
    kind = ModerationCase.Kind.BLOCKED_INPUT if blocked.stage == "input" else ModerationCase.Kind.BLOCKED_OUTPUT
    ModerationCase.objects.create(
        kind=kind,
        message=answer.reply_to if blocked.stage == "input" and answer.reply_to else answer,
        author=answer.conversation.owner,
        categories=blocked.categories,
        original_text=blocked.original_text,
    )
    if blocked.stage == "input" and answer.reply_to:
        drop_refused(question=answer.reply_to)  # the file goes; its reading and SHA-256 stay for the case


def _store_outcome(answer_id: int, outcome: AnswerOutcome) -> int:
    return Message.objects.filter(pk=answer_id, status=Message.Status.STREAMING).update(
        content=outcome.content,
        frame_ends=outcome.frame_ends,
        status=outcome.status,
        finish_reason=outcome.finish_reason,
        error=outcome.error[:500],
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        first_token_ms=outcome.first_token_ms,
        duration_ms=outcome.duration_ms,
        grounding=outcome.grounding.model_dump() if outcome.grounding else {},
        code_findings=[warning.model_dump() for warning in outcome.code_warnings],
        image_id=outcome.image.id if outcome.image else None,
        code_images=list(outcome.code_images),
        updated_at=timezone.now(),
    )


def _place_of(answer_id: int) -> AnswerPlace:
    found = Message.objects.filter(pk=answer_id)
    return AnswerPlace(*found.values_list("conversation_id", "conversation__owner_id", "conversation__channel").get())


def _after_answer(answer_id: int, outcome: AnswerOutcome, place: AnswerPlace) -> None:
    """Usage counts towards the quota; the first complete answer gets a listed conversation a title
    written by the model (ASSISTANT_MODEL_TITLES).
    (The conversation's `updated_at` moved when the turn was stored: the list orders by the last turn.)"""
    limits.record_tokens(place.owner_id, (outcome.prompt_tokens or 0) + (outcome.completion_tokens or 0))
    conversation_id = place.conversation_id
    if (
        outcome.status == Message.Status.COMPLETE
        and place.channel in TITLED_CHANNELS
        and assistant_settings().model_titles  # off: the first words stay, no task to queue
        and (place.began_conversation or not _another_complete_answer(conversation_id, answer_id))
    ):
        from assistant.tasks import title_conversation  # the task module builds on the engine

        # Robust: a title is a nicety; a broker outage must not fail the answer that was just saved.
        transaction.on_commit(lambda: title_conversation.delay(conversation_id, answer_id), robust=True)


def _another_complete_answer(conversation_id: int, answer_id: int) -> bool:
    answers = Message.objects.filter(
        conversation_id=conversation_id, role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE
    )
    return answers.exclude(pk=answer_id).exists()


def mark_interrupted(*, answer_id: int) -> Message:
    """An answer whose generating process died: keep the text saved so far, end it as interrupted."""
    Message.objects.filter(pk=answer_id, status=Message.Status.STREAMING).update(
        status=Message.Status.INTERRUPTED,
        finish_reason="interrupted",
        error="The server restarted while writing this answer.",
        updated_at=timezone.now(),
    )
    return Message.objects.get(pk=answer_id)
