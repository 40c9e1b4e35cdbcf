"""Share links, reports and user settings over REST, with real sessions and CSRF."""

import pytest
from django.core.cache import cache
from django.test import Client

from assistant.chat import services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome
from assistant.models import Message, ModerationCase, User
from tests.assistant.test_api import call

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def setup(settings):
    settings.ASSISTANT_MODEL_TITLES = False
    cache.clear()


def signed_in() -> tuple[Client, User]:
    client = Client(enforce_csrf_checks=True)
    assert client.get("/").status_code == 200
    return client, User.objects.get(pk=client.session["_auth_user_id"])


def answered_turn(user: User, text: str, answer: str, conversation_id: int | None = None) -> services.TurnStart:
    start = services.start_turn(user=user, conversation_id=conversation_id, text=text, client_id=text)
    outcome = AnswerOutcome(content=answer, frame_ends=[len(answer)], status="complete", finish_reason="stop")
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)
    return start


def test_a_share_link_shows_the_conversation_up_to_the_moment_it_was_shared() -> None:
    client, user = signed_in()
    first = answered_turn(user, "Plan a trip to Lisbon", "Day one: Alfama.")
    shared = call(client, "post", f"/api/conversations/{first.conversation.pk}/share")
    assert shared.status_code == 200
    url = shared.json()["share_url"]
    answered_turn(user, "My passport number is X123", "Noted.", first.conversation.pk)

    page = Client().get(url)  # anyone with the link, no session
    html = page.content.decode()
    assert page.status_code == 200
    assert "Plan a trip to Lisbon" in html
    assert "Day one: Alfama." in html
    assert "X123" not in html  # said after sharing
    assert user.username not in html
    assert page["Referrer-Policy"] == "no-referrer"


def test_unsharing_turns_the_link_off() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Hello", "Hi!")
    url = call(client, "post", f"/api/conversations/{start.conversation.pk}/share").json()["share_url"]
    assert call(client, "delete", f"/api/conversations/{start.conversation.pk}/share").status_code == 204
    assert Client().get(url).status_code == 404


def test_nobody_shares_or_reports_another_users_conversation() -> None:
    _, owner = signed_in()
    start = answered_turn(owner, "Private question", "Private answer")
    other_client, _ = signed_in()
    assert call(other_client, "post", f"/api/conversations/{start.conversation.pk}/share").status_code == 404
    assert call(other_client, "post", f"/api/messages/{start.answer.pk}/report", {}).status_code == 404
    assert not ModerationCase.objects.exists()


def test_a_guessed_share_token_finds_nothing() -> None:
    assert Client().get("/share/not-a-real-token").status_code == 404


def test_reporting_an_answer_puts_it_in_the_queue_once() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "A wrong answer")
    first = call(client, "post", f"/api/messages/{start.answer.pk}/report", {"reason": "It is wrong"})
    again = call(client, "post", f"/api/messages/{start.answer.pk}/report", {"reason": "Still wrong"})
    assert first.status_code == again.status_code == 201
    assert first.json()["report_id"] == again.json()["report_id"]
    case = ModerationCase.objects.get()
    assert (case.kind, case.original_text, case.reason) == ("report", "A wrong answer", "It is wrong")


def test_reporting_a_user_message_is_not_found() -> None:
    client, user = signed_in()
    start = answered_turn(user, "Question", "Answer")
    response = call(client, "post", f"/api/messages/{start.user_message.pk}/report", {})
    assert response.status_code == 404


def test_search_mode_setting_round_trip_and_validation() -> None:
    client, user = signed_in()
    assert client.get("/api/settings").json()["search_mode"] == "auto"
    assert call(client, "patch", "/api/settings", {"search_mode": "off"}).json()["search_mode"] == "off"
    user.refresh_from_db()
    assert user.search_mode == "off"
    refused = call(client, "patch", "/api/settings", {"search_mode": "sometimes"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_frame"


def test_rate_limited_rest_answers_429_with_retry_after(settings) -> None:
    # A day's window: a fixed window that turned over between the requests would reset the count.
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "login_per_ip": "2/86400"}
    client = Client()
    for _ in range(2):
        assert client.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 200
    refused = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 86400


def test_blocked_answers_are_served_as_their_refusal() -> None:
    client, user = signed_in()
    start = services.start_turn(user=user, conversation_id=None, text="q", client_id="q")
    recorder.finish_answer(
        answer_id=start.answer.pk,
        outcome=AnswerOutcome(content="I can't help.", frame_ends=[13], status="blocked", finish_reason="blocked"),
    )
    messages = client.get(f"/api/conversations/{start.conversation.pk}/messages").json()["messages"]
    assert messages[-1]["status"] == Message.Status.BLOCKED
    assert messages[-1]["content"] == "I can't help."
