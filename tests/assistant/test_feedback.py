"""Thumbs up and down on answers over REST: validation, owner scope, replacing, clearing, guests,
what a reload shows, and the /metrics counter."""

import io
import json
import zipfile

import pytest
from django.core.cache import cache
from django.test import Client
from prometheus_client import REGISTRY

from assistant.chat import services
from assistant.models import MessageFeedback
from core.errors import AssistantError, ErrorCode
from tests.assistant.test_api import call
from tests.assistant.test_sharing_and_reports_api import answered_turn, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def setup(settings):
    settings.ASSISTANT_MODEL_TITLES = False
    cache.clear()


def rate(client: Client, answer_id: int, body: object):
    return call(client, "put", f"/api/messages/{answer_id}/feedback", body)


def reloaded_feedback(client: Client, conversation_id: int) -> list:
    messages = client.get(f"/api/conversations/{conversation_id}/messages").json()["messages"]
    return [message["feedback"] for message in messages]


def counted(rating: str) -> float:
    return REGISTRY.get_sample_value("assistant_feedback_total", {"rating": rating}) or 0.0


def test_a_guest_rates_an_answer_and_a_reload_shows_it() -> None:
    client, user = signed_in()
    assert user.is_guest
    start = answered_turn(user, "Capital of Australia?", "Sydney.")

    response = rate(
        client, start.answer.pk, {"rating": "down", "reason": "not_accurate", "comment": "  It is Canberra. "}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["rating"], body["reason"], body["comment"]) == ("down", "not_accurate", "It is Canberra.")
    user_message, answer = reloaded_feedback(client, start.conversation.pk)
    assert user_message is None
    assert answer == body


def test_rating_again_replaces_the_rating_reason_and_comment() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    rate(client, start.answer.pk, {"rating": "down", "reason": "unsafe", "comment": "Dangerous"})

    changed = rate(client, start.answer.pk, {"rating": "up"})

    assert changed.status_code == 200
    assert (changed.json()["reason"], changed.json()["comment"]) == (None, "")
    stored = MessageFeedback.objects.get()  # still one row per answer and person
    assert (stored.rating, stored.reason, stored.comment) == ("up", "", "")


def test_clearing_removes_the_rating_and_clearing_again_changes_nothing() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    rate(client, start.answer.pk, {"rating": "up"})

    first = call(client, "delete", f"/api/messages/{start.answer.pk}/feedback")
    again = call(client, "delete", f"/api/messages/{start.answer.pk}/feedback")

    assert first.status_code == again.status_code == 204
    assert not MessageFeedback.objects.exists()
    assert reloaded_feedback(client, start.conversation.pk) == [None, None]


def test_nobody_rates_or_clears_another_persons_answer() -> None:
    owner_client, owner = signed_in()
    start = answered_turn(owner, "Private question", "Private answer")
    rate(owner_client, start.answer.pk, {"rating": "up"})
    other, _ = signed_in()

    refused = rate(other, start.answer.pk, {"rating": "down"})
    not_cleared = call(other, "delete", f"/api/messages/{start.answer.pk}/feedback")

    assert refused.status_code == not_cleared.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert list(MessageFeedback.objects.values_list("user", "rating")) == [(owner.pk, "up")]


def test_only_finished_answers_take_a_rating() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    question = rate(client, start.user_message.pk, {"rating": "up"})
    streaming = services.start_turn(
        user=user, conversation_id=start.conversation.pk, text="Next", client_id="next"
    ).answer

    still_writing = rate(client, streaming.pk, {"rating": "up"})

    assert question.status_code == 404  # a user message is not an answer
    assert still_writing.status_code == 400
    assert still_writing.json()["error"]["code"] == "not_streaming"
    assert not MessageFeedback.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        ({}, "invalid_frame", "rating: Field required."),
        ({"rating": "meh"}, "invalid_frame", "rating: Input should be 'up' or 'down'."),
        ({"rating": "down", "reason": "boring"}, "invalid_frame", "reason: Input should be"),
        ({"rating": "up", "reason": "unsafe"}, "invalid_frame", "reason: only a thumbs down takes a reason."),
        ({"rating": "down", "stars": 5}, "invalid_frame", "stars: Extra inputs are not permitted."),
        ({"rating": "down", "comment": "x" * 1001}, "text_too_long", "at most 1000 characters"),
        ({"rating": "down", "comment": "bad\u0000byte"}, "invalid_frame", "NUL"),
        ("not json", "invalid_json", "not valid JSON"),
    ],
)
def test_a_bad_rating_is_refused_with_a_specific_error_and_stores_nothing(body, code, detail) -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")

    response = rate(client, start.answer.pk, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert detail in error["detail"]
    assert not MessageFeedback.objects.exists()


def test_a_comment_of_exactly_the_limit_is_kept_whole() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    response = rate(client, start.answer.pk, {"rating": "down", "comment": "y" * 1000})
    assert response.status_code == 200
    assert MessageFeedback.objects.get().comment == "y" * 1000


def test_the_service_refuses_nul_from_any_caller() -> None:
    user = services.create_guest()
    start = answered_turn(user, "Question", "Answer")
    with pytest.raises(AssistantError) as refused:
        services.give_feedback(user=user, message_id=start.answer.pk, rating="down", comment="a\x00b")
    assert refused.value.code == ErrorCode.INVALID_FRAME
    assert not MessageFeedback.objects.exists()


def test_other_methods_are_refused_with_the_allowed_ones() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    response = call(client, "post", f"/api/messages/{start.answer.pk}/feedback", {"rating": "up"})
    assert response.status_code == 405
    assert response["Allow"] == "PUT, DELETE"


def test_rating_needs_a_session_and_the_csrf_token() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    no_token = call(client, "put", f"/api/messages/{start.answer.pk}/feedback", {"rating": "up"}, csrf=False)
    no_session = Client().put(f"/api/messages/{start.answer.pk}/feedback", "{}", content_type="application/json")
    assert no_token.status_code == 403
    assert no_session.status_code == 401
    assert not MessageFeedback.objects.exists()


def test_metrics_count_new_ratings_changed_minds_and_clears_not_repeats() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    before = {rating: counted(rating) for rating in ("up", "down", "cleared")}

    rate(client, start.answer.pk, {"rating": "up"})
    rate(client, start.answer.pk, {"rating": "up"})  # the same rating again: a retry, not a new one
    rate(client, start.answer.pk, {"rating": "down"})
    rate(client, start.answer.pk, {"rating": "down", "reason": "not_helpful"})  # a reason added
    call(client, "delete", f"/api/messages/{start.answer.pk}/feedback")

    after = {rating: counted(rating) - before[rating] for rating in before}
    assert after == {"up": 1, "down": 1, "cleared": 1}


def test_the_data_export_carries_the_persons_ratings() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    rate(client, start.answer.pk, {"rating": "down", "reason": "other", "comment": "Too short"})

    archive = zipfile.ZipFile(io.BytesIO(client.get("/api/account/export").content))

    question, answer = json.loads(archive.read("conversations.json"))[0]["messages"]
    assert question["feedback"] is None
    assert answer["feedback"] == {"rating": "down", "reason": "other", "comment": "Too short"}
