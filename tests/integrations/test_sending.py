"""Contract tests of the adapters' send side against `FakeMessaging`, a real loopback HTTP server
speaking the Graph API (WhatsApp Cloud API, Messenger/Instagram Send API) and the Telegram Bot API:
the right URL, headers and JSON body; retries on rate limits and server errors honouring the app's
wait; no retry on permanent errors."""

from __future__ import annotations

import pytest

from assistant.models import Channel
from integrations import conf
from integrations.adapters import adapter_for
from integrations.adapters.telegram import TelegramAdapter
from integrations.delivery import SendError
from integrations.events import Event, EventKind
from tests.integrations import payloads as p
from tests.support.fake_messaging import Failure, FakeMessaging


def event(app: Channel, reply_to: str, *, message_id: str = "in-1", chat_id: str = "", **extra: str) -> Event:
    return Event(
        app=app,
        kind=EventKind.TEXT,
        key=message_id,
        chat_id=chat_id or reply_to,
        sender_id=reply_to,
        reply_to=reply_to,
        message_id=message_id,
        text="question",
        **extra,
    )


def test_whatsapp_text_goes_to_the_phone_number_with_the_bearer_token(messaging_settings: FakeMessaging) -> None:
    adapter = adapter_for(Channel.WHATSAPP)
    message_id = adapter.send_text(event(Channel.WHATSAPP, p.CUSTOMER_PHONE), "Hello!")
    [request] = messaging_settings.requests
    assert (request.method, request.path) == ("POST", f"/v26.0/{p.PHONE_NUMBER_ID}/messages")
    assert request.headers["authorization"] == "Bearer whatsapp-token"
    assert request.headers["content-type"] == "application/json"
    assert request.query == {}  # the token never travels in the URL
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": p.CUSTOMER_PHONE,
        "type": "text",
        "text": {"body": "Hello!", "preview_url": False},
    }
    assert message_id.startswith("wamid.fake")


def test_whatsapp_to_a_username_user_uses_the_bsuid_recipient_and_quotes(messaging_settings: FakeMessaging) -> None:
    adapter = adapter_for(Channel.WHATSAPP)
    adapter.send_text(event(Channel.WHATSAPP, p.CUSTOMER_BSUID, message_id="wamid.Q"), "Hi", quote=True)
    body = messaging_settings.requests[0].body
    assert body["recipient"] == p.CUSTOMER_BSUID
    assert "to" not in body
    assert body["context"] == {"message_id": "wamid.Q"}


def test_whatsapp_image_and_read_receipt_with_typing(messaging_settings: FakeMessaging) -> None:
    incoming = event(Channel.WHATSAPP, p.CUSTOMER_PHONE, message_id="wamid.IN")
    adapter = adapter_for(Channel.WHATSAPP)
    adapter.acknowledge(incoming)
    adapter.send_image(incoming, "https://images.example/fox.png", "A fox")
    receipt, image = (r.body for r in messaging_settings.requests)
    assert receipt == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
        "typing_indicator": {"type": "text"},
    }
    assert image["type"] == "image"
    assert image["image"] == {"link": "https://images.example/fox.png", "caption": "A fox"}


@pytest.mark.parametrize(
    ("app", "token"), [(Channel.MESSENGER, "messenger-token"), (Channel.INSTAGRAM, "instagram-token")]
)
def test_messenger_and_instagram_send_api(messaging_settings: FakeMessaging, app: Channel, token: str) -> None:
    incoming = event(app, p.PSID)
    adapter = adapter_for(app)
    adapter.acknowledge(incoming)
    message_id = adapter.send_text(incoming, "Hello!")
    adapter.send_image(incoming, "https://images.example/fox.png", "A fox")
    bodies = [r.body for r in messaging_settings.requests]
    assert {r.path for r in messaging_settings.requests} == {f"/v26.0/{p.PAGE_ID}/messages"}
    assert {r.headers["authorization"] for r in messaging_settings.requests} == {f"Bearer {token}"}
    recipient = {"id": p.PSID}
    assert bodies == [
        {"recipient": recipient, "sender_action": "mark_seen"},
        {"recipient": recipient, "sender_action": "typing_on"},
        {"recipient": recipient, "messaging_type": "RESPONSE", "message": {"text": "Hello!"}},
        {
            "recipient": recipient,
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "image", "payload": {"url": "https://images.example/fox.png"}}},
        },
        {"recipient": recipient, "messaging_type": "RESPONSE", "message": {"text": "A fox"}},
    ]
    assert message_id.startswith("m_fake")


def test_telegram_bot_api_methods(messaging_settings: FakeMessaging) -> None:
    incoming = event(Channel.TELEGRAM, "-1001234567890", message_id="2000", callback_query_id="cb-1")
    adapter = adapter_for(Channel.TELEGRAM)
    adapter.acknowledge(incoming)
    message_id = adapter.send_text(incoming, "Hello!", quote=True)
    adapter.send_image(incoming, "https://images.example/fox.png", "A fox")
    calls = [(r.path, r.body) for r in messaging_settings.requests]
    prefix = f"/bot{p.BOT_TOKEN}"
    assert calls == [
        (f"{prefix}/answerCallbackQuery", {"callback_query_id": "cb-1"}),
        (f"{prefix}/sendChatAction", {"chat_id": -1001234567890, "action": "typing"}),
        (
            f"{prefix}/sendMessage",
            {
                "chat_id": -1001234567890,
                "text": "Hello!",
                "reply_parameters": {"message_id": 2000, "allow_sending_without_reply": True},
            },
        ),
        (
            f"{prefix}/sendPhoto",
            {"chat_id": -1001234567890, "photo": "https://images.example/fox.png", "caption": "A fox"},
        ),
    ]
    assert message_id == "3"


def test_replies_share_the_process_http_client_per_token(messaging_settings: FakeMessaging) -> None:
    """Building an HTTP client costs a TLS context; one per app token is kept for every reply."""
    incoming = event(Channel.WHATSAPP, p.CUSTOMER_PHONE)
    first, second = adapter_for(Channel.WHATSAPP), adapter_for(Channel.WHATSAPP)
    first.send_text(incoming, "One")
    second.send_text(incoming, "Two")
    assert first.client.http is second.client.http
    assert adapter_for(Channel.MESSENGER).client.http is not first.client.http  # another token
    assert [r.body["text"]["body"] for r in messaging_settings.requests] == ["One", "Two"]


def test_graph_rate_limit_is_retried_after_the_retry_after_wait(messaging_settings: FakeMessaging) -> None:
    messaging_settings.fail_next(Failure(429, code=130429, retry_after=1), Failure(503, code=2))
    waits: list[float] = []
    adapter = adapter_for(Channel.WHATSAPP)
    adapter.client.sleep = waits.append
    adapter.send_text(event(Channel.WHATSAPP, p.CUSTOMER_PHONE), "Hello!")
    assert len(messaging_settings.requests) == 3
    assert waits == [1.0, 0.02]  # Retry-After, then our own backoff (0.01 doubled)
    assert len({str(r.body) for r in messaging_settings.requests}) == 1  # the same request each time


def test_graph_rate_limit_code_in_a_400_is_retried(messaging_settings: FakeMessaging) -> None:
    messaging_settings.fail_next(Failure(400, code=613, message="Calls to this api have exceeded the rate limit."))
    adapter = adapter_for(Channel.MESSENGER)
    adapter.client.sleep = lambda seconds: None
    adapter.send_text(event(Channel.MESSENGER, p.PSID), "Hello!")
    assert len(messaging_settings.requests) == 2


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (Failure(400, code=131047, message="Re-engagement message"), "131047"),  # outside the 24-hour window
        (Failure(401, code=190, message="Error validating access token"), "190"),
        (Failure(400, code=100, message="(#100) Invalid parameter"), "100"),
    ],
)
def test_permanent_graph_errors_are_not_retried(messaging_settings: FakeMessaging, failure: Failure, code: str) -> None:
    messaging_settings.fail_next(failure)
    adapter = adapter_for(Channel.WHATSAPP)
    with pytest.raises(SendError) as raised:
        adapter.send_text(event(Channel.WHATSAPP, p.CUSTOMER_PHONE), "Hello!")
    assert len(messaging_settings.requests) == 1
    assert (raised.value.failure.code, raised.value.transient) == (code, False)


def test_retries_give_up_after_the_configured_attempts(messaging_settings: FakeMessaging) -> None:
    messaging_settings.fail_next(*[Failure(500)] * 5)
    adapter = adapter_for(Channel.MESSENGER)
    adapter.client.sleep = lambda seconds: None
    with pytest.raises(SendError) as raised:
        adapter.send_text(event(Channel.MESSENGER, p.PSID), "Hello!")
    assert len(messaging_settings.requests) == 3  # INTEGRATIONS_SEND_ATTEMPTS
    assert raised.value.transient


def test_telegram_retry_after_comes_from_the_json_parameters(messaging_settings: FakeMessaging) -> None:
    messaging_settings.fail_next(Failure(429, retry_after=7, message="Too Many Requests: retry after 7"))
    waits: list[float] = []
    adapter = adapter_for(Channel.TELEGRAM)
    adapter.client.sleep = waits.append
    adapter.send_text(event(Channel.TELEGRAM, "1111111"), "Hello!")
    assert waits == [2.0]  # 7 s asked, capped by INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS
    assert len(messaging_settings.requests) == 2


def test_telegram_blocked_bot_is_permanent(messaging_settings: FakeMessaging) -> None:
    messaging_settings.fail_next(Failure(403, message="Forbidden: bot was blocked by the user"))
    adapter = adapter_for(Channel.TELEGRAM)
    with pytest.raises(SendError) as raised:
        adapter.send_text(event(Channel.TELEGRAM, "1111111"), "Hello!")
    assert (raised.value.failure.code, raised.value.failure.detail) == ("403", "Forbidden: bot was blocked by the user")
    assert len(messaging_settings.requests) == 1


def test_network_errors_are_retried_then_reported() -> None:
    closed_port = "http://127.0.0.1:9"  # discard port: nothing listens
    settings = conf.Delivery(timeout_seconds=1, attempts=2, backoff_seconds=0, max_backoff_seconds=0)
    adapter = TelegramAdapter(conf.TelegramBot(closed_port, p.BOT_TOKEN, ("s",), p.BOT_USERNAME))
    adapter.client.settings = settings
    with pytest.raises(SendError) as raised:
        adapter.send_text(event(Channel.TELEGRAM, "1111111"), "Hello!")
    assert (raised.value.failure.code, raised.value.transient) == ("network", True)
