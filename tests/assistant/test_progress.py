"""The progress writer saves every growing answer of a process in one database trip, leaves
finished answers alone, and keeps unsaved progress for the next interval when the database fails."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError
from django.utils import timezone

from assistant.chat import services
from assistant.engine import progress, recorder
from assistant.engine.outcome import AnswerOutcome
from assistant.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


class Answer:
    """A growing answer as the writer sees it (TurnRunner implements the same two methods)."""

    def __init__(self, answer_id: int, text: str) -> None:
        self.answer_id = answer_id
        self.text = text
        self.saved: list[float] = []

    def progress_due(self, now: float) -> recorder.AnswerProgress | None:
        if self.saved:
            return None
        return recorder.AnswerProgress(self.answer_id, self.text, [len(self.text)], first_token_ms=7)

    def progress_saved(self, progress: recorder.AnswerProgress, at: float) -> None:
        self.saved.append(at)


@sync_to_async
def streaming_answers(count: int) -> list[int]:
    user = services.create_guest()
    return [
        services.start_turn(user=user, conversation_id=None, text="Hi", client_id=f"c{n}").answer.pk
        for n in range(count)
    ]


@sync_to_async
def stored(answer_id: int) -> tuple[str, str]:
    message = Message.objects.get(pk=answer_id)
    return message.status, message.content


async def test_all_due_answers_are_saved_together_and_finished_ones_are_left_alone() -> None:
    first, second, finished = await streaming_answers(3)
    await sync_to_async(recorder.finish_answer)(
        answer_id=finished,
        outcome=AnswerOutcome(content="Final", frame_ends=[5], status="complete", finish_reason="stop"),
    )
    writer = progress.ProgressWriter(interval_seconds=60)
    answers = [Answer(first, "One"), Answer(second, "Two"), Answer(finished, "Stale")]
    for answer in answers:
        writer.add(answer)

    await writer.write_due()

    assert await stored(first) == ("streaming", "One")
    assert await stored(second) == ("streaming", "Two")
    assert await stored(finished) == ("complete", "Final")
    assert all(len(answer.saved) == 1 for answer in answers)
    writer.task.cancel()


def test_answers_are_saved_in_statements_of_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five answers at two per statement: every one saved, with its frames as JSON and a first
    token time that may still be unknown (in all of the first statement's rows)."""
    monkeypatch.setattr(recorder, "_PROGRESS_ROWS_PER_STATEMENT", 2)
    user = services.create_guest()
    starts = [services.start_turn(user=user, conversation_id=None, text="Hi", client_id=f"c{n}") for n in range(5)]
    ids = [start.answer.pk for start in starts]
    saved = [
        recorder.AnswerProgress(answer_id, "ab" * n, [n, 2 * n], first_token_ms=n if n > 1 else None)
        for n, answer_id in enumerate(ids)
    ]
    before = timezone.now()

    recorder.save_answers_progress(saved)

    stored = Message.objects.filter(pk__in=ids).order_by("pk").values_list("content", "frame_ends", "first_token_ms")
    assert list(stored) == [(p.content, p.frame_ends, p.first_token_ms) for p in saved]
    assert Message.objects.filter(pk__in=ids, updated_at__gte=before).count() == 5


async def test_progress_that_could_not_be_saved_is_saved_next_time(monkeypatch: pytest.MonkeyPatch) -> None:
    [answer_id] = await streaming_answers(1)
    answer = Answer(answer_id, "Kept")
    writer = progress.ProgressWriter(interval_seconds=60)
    writer.add(answer)
    real_save = recorder.save_answers_progress

    def database_down(batch: list[recorder.AnswerProgress]) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(recorder, "save_answers_progress", database_down)
    await writer.write_due()
    assert answer.saved == []
    assert await stored(answer_id) == ("streaming", "")

    monkeypatch.setattr(recorder, "save_answers_progress", real_save)
    await writer.write_due()
    assert len(answer.saved) == 1
    assert await stored(answer_id) == ("streaming", "Kept")
    writer.task.cancel()
