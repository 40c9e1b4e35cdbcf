"""Guests per address: cookie-less page loads start a limited number of guests, and a new cookie
starts no new daily quota (the guests of one address share one besides their own)."""

import pytest
from django.core.cache import cache
from django.test import Client

from assistant.chat import services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome
from assistant.models import User
from core import limits
from core.errors import AssistantError, ErrorCode

pytestmark = pytest.mark.django_db

HOME = "198.51.100.7"
ELSEWHERE = "203.0.113.40"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.ASSISTANT_MODEL_TITLES = False
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def guest_rate(settings):
    def set_rate(rate: str) -> None:
        settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "guest_per_ip": rate}

    return set_rate


def open_chat(address: str = HOME) -> tuple[Client, User | None]:
    """A first visit from `address`, without a cookie; the guest it started, if any."""
    client = Client(REMOTE_ADDR=address)
    page = client.get("/")
    guest = User.objects.get(pk=client.session["_auth_user_id"]) if page.status_code == 200 else None
    return client, guest


def answer_costing(user: User, tokens: int) -> None:
    """One answer of `tokens` tokens, recorded the way every answer is."""
    start = services.start_turn(user=user, conversation_id=None, text="Hi", client_id=f"c{tokens}{user.pk}")
    outcome = AnswerOutcome(
        content="Hello.",
        frame_ends=[6],
        status="complete",
        finish_reason="stop",
        prompt_tokens=tokens,
        completion_tokens=0,
    )
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)


def test_cookieless_page_loads_past_the_limit_start_no_guest(guest_rate) -> None:
    guest_rate("3/3600")
    for _ in range(3):
        assert open_chat()[1] is not None
    refused = Client(REMOTE_ADDR=HOME).get("/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    html = refused.content.decode()
    assert "Many guest sessions were started from your network" in html
    assert 'href="/accounts/login/"' in html
    assert User.objects.filter(is_guest=True).count() == 3


def test_another_address_and_a_returning_guest_are_not_refused(guest_rate) -> None:
    guest_rate("1/3600")
    client, _ = open_chat()
    assert Client(REMOTE_ADDR=HOME).get("/").status_code == 429
    assert client.get("/").status_code == 200  # the guest's own cookie needs no new account
    assert open_chat(ELSEWHERE)[1] is not None
    assert User.objects.filter(is_guest=True).count() == 2


def test_the_default_lets_a_household_start_several_guests(guest_rate) -> None:
    guest_rate("20/3600")  # the shipped default (config/settings.py)
    for _ in range(10):
        assert open_chat()[1] is not None


def test_a_new_cookie_does_not_renew_the_guests_quota(settings) -> None:
    settings.ASSISTANT_GUEST_DAILY_TOKENS = 1000
    settings.ASSISTANT_GUEST_DAILY_TOKENS_PER_IP = 1500
    _, first = open_chat()
    answer_costing(first, 1000)
    with pytest.raises(AssistantError, match="You have used today's 1,000 tokens"):
        limits.check_quota(first)

    _, second = open_chat()  # the same person with the cookie cleared
    answer_costing(second, 500)
    with pytest.raises(AssistantError) as refused:
        services.start_turn(user=second, conversation_id=None, text="More", client_id="more")
    assert refused.value.code == ErrorCode.QUOTA_EXCEEDED
    assert "Guests at your address have used today's 1,500 tokens" in refused.value.detail
    assert 0 < refused.value.retry_after <= 24 * 3600 + 1

    _, elsewhere = open_chat(ELSEWHERE)
    limits.check_quota(elsewhere)  # another address has its own


def test_the_stricter_quota_wins(settings) -> None:
    settings.ASSISTANT_GUEST_DAILY_TOKENS = 100
    settings.ASSISTANT_GUEST_DAILY_TOKENS_PER_IP = 10_000
    _, guest = open_chat()
    answer_costing(guest, 100)
    with pytest.raises(AssistantError, match="You have used today's 100 tokens"):
        limits.check_quota(guest)


def test_signing_up_leaves_the_address_quota(settings) -> None:
    settings.ASSISTANT_GUEST_DAILY_TOKENS_PER_IP = 100
    client, guest = open_chat()
    signed_up = client.post(
        "/accounts/signup/",
        {"username": "reader", "password1": "a long enough password", "password2": "a long enough password"},
    )
    assert signed_up.status_code == 302
    guest.refresh_from_db()
    assert not guest.is_guest
    answer_costing(guest, 500)  # counted against the account only
    limits.check_quota(guest)
    _, neighbour = open_chat()
    limits.check_quota(neighbour)
