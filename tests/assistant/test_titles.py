"""Conversation titles: a few plain words written by the model from the first exchange, in the
question's language. The model is the contract fake of vLLM (tests/support/fake_openai.py); the
guard's part in titles is tested in test_door.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from assistant import tasks
from assistant.chat import services
from assistant.engine import recorder
from assistant.engine.capabilities import default_capabilities
from assistant.engine.outcome import AnswerOutcome
from assistant.models import Conversation
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Wie plane ich ein Wochenende in Lissabon?"
ANSWER = "Tag eins: die Alfama, danach Belém mit seinen Pastéis."


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("Trip plans", "Trip plans"),
        ("**Trip plans**", "Trip plans"),
        ('"Trip plans."', "Trip plans"),
        ("Title: `Wochenende in Lissabon`", "Wochenende in Lissabon"),
        ("## Trip plans\nThis conversation is about…", "Trip plans"),
        ("  l'été à Lisbonne  ", "l'été à Lisbonne"),
        ("", ""),
    ],
)
def test_a_written_title_is_shown_as_plain_words(written: str, shown: str) -> None:
    assert tasks.plain_title(written) == shown


def test_a_long_title_is_cut_to_what_a_title_holds() -> None:
    assert len(tasks.plain_title("word " * 100)) <= services.TITLE_MAX_CHARS


@pytest.fixture
def title_model() -> Iterator[FakeOpenAI]:
    with (
        FakeOpenAI(default=Reply(texts=("**Wochenende", " in Lissabon**."))) as model,
        override_settings(
            MODEL_BASE_URL=model.base_url, MODEL_RETRIES=0, ASSISTANT_MODEL_TITLES=True, SAFETY_CHECKS=False
        ),
    ):
        default_capabilities.cache_clear()
        yield model
    default_capabilities.cache_clear()


def test_the_title_is_written_from_the_question_and_its_answer_in_their_language(title_model: FakeOpenAI) -> None:
    user = services.create_guest()
    start = services.start_turn(user=user, conversation_id=None, text=QUESTION, client_id="title-1")
    outcome = AnswerOutcome(status="complete", finish_reason="stop", content=ANSWER, frame_ends=[len(ANSWER)])
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)

    tasks.title_conversation(start.answer.conversation_id, start.answer.pk)

    [request] = title_model.requests
    prompt = request.prompt_text or ""
    assert QUESTION in prompt
    assert "Belém" in prompt  # the answer's start too
    assert "in the language of the user's question" in prompt
    assert Conversation.objects.get(pk=start.answer.conversation_id).title == "Wochenende in Lissabon"


def _titles_queued(capture: Callable[..., Any], answer_id: int, place: recorder.AnswerPlace) -> int:
    """How many title tasks finishing the answer queues (caught before its transaction commits)."""
    outcome = AnswerOutcome(status="complete", finish_reason="stop", content=ANSWER, frame_ends=[len(ANSWER)])
    with transaction.atomic():
        with capture() as queued:
            recorder.finish_answer(answer_id=answer_id, outcome=outcome, place=place)
        transaction.set_rollback(True)
    return len(queued)


def test_the_answer_of_a_turn_that_began_its_conversation_is_titled_without_a_look_for_others(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    user = services.create_guest()
    start = services.start_turn(user=user, conversation_id=None, text=QUESTION, client_id="title-began")
    assert start.shown_before == []
    conversation = start.conversation
    began = recorder.AnswerPlace(conversation.pk, user.pk, conversation.channel, began_conversation=True)
    unknown = recorder.AnswerPlace(conversation.pk, user.pk, conversation.channel)
    with CaptureQueriesContext(connection) as knowing:
        assert _titles_queued(django_capture_on_commit_callbacks, start.answer.pk, began) == 1
    with CaptureQueriesContext(connection) as looking:
        assert _titles_queued(django_capture_on_commit_callbacks, start.answer.pk, unknown) == 1
    assert len(looking) == len(knowing) + 1  # the look for another complete answer


def test_no_title_task_is_queued_when_the_model_writes_no_titles(
    settings: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    settings.ASSISTANT_MODEL_TITLES = False
    user = services.create_guest()
    start = services.start_turn(user=user, conversation_id=None, text=QUESTION, client_id="title-off")
    conversation = start.conversation
    began = recorder.AnswerPlace(conversation.pk, user.pk, conversation.channel, began_conversation=True)
    assert _titles_queued(django_capture_on_commit_callbacks, start.answer.pk, began) == 0


def test_a_later_answer_is_not_titled_again(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    user = services.create_guest()
    first = services.start_turn(user=user, conversation_id=None, text=QUESTION, client_id="title-first")
    outcome = AnswerOutcome(status="complete", finish_reason="stop", content=ANSWER, frame_ends=[len(ANSWER)])
    recorder.finish_answer(answer_id=first.answer.pk, outcome=outcome)
    conversation = first.conversation
    second = services.start_turn(user=user, conversation_id=conversation.pk, text="Und Porto?", client_id="title-2nd")
    place = recorder.AnswerPlace(conversation.pk, user.pk, conversation.channel)
    assert _titles_queued(django_capture_on_commit_callbacks, second.answer.pk, place) == 0


def test_without_a_complete_answer_the_title_is_written_from_the_first_question(title_model: FakeOpenAI) -> None:
    user = services.create_guest()
    start = services.start_turn(user=user, conversation_id=None, text=QUESTION, client_id="title-2")

    tasks.title_conversation(start.answer.conversation_id)  # a task sent without an answer's id

    [request] = title_model.requests
    assert QUESTION in (request.prompt_text or "")
    assert "Answer:" not in (request.prompt_text or "")
    assert Conversation.objects.get(pk=start.answer.conversation_id).title == "Wochenende in Lissabon"
