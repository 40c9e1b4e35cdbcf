"""`set_telegram_webhook` against the Bot API contract fake (a real loopback HTTP server)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from tests.integrations import payloads as p
from tests.integrations.conftest import TELEGRAM_SECRET
from tests.support.fake_messaging import Failure, FakeMessaging

URL = "https://assistant.example.com/webhooks/telegram"


def test_registers_the_url_with_the_secret_token(messaging_settings: FakeMessaging) -> None:
    call_command("set_telegram_webhook", URL, "--drop-pending-updates")
    [request] = messaging_settings.requests
    assert request.path == f"/bot{p.BOT_TOKEN}/setWebhook"
    assert request.body == {
        "url": URL,
        "secret_token": TELEGRAM_SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query", "message_reaction"],
        "drop_pending_updates": True,
    }


def test_refuses_plain_http(messaging_settings: FakeMessaging) -> None:
    with pytest.raises(CommandError, match="HTTPS"):
        call_command("set_telegram_webhook", "http://assistant.example.com/webhooks/telegram")
    assert messaging_settings.requests == []


def test_needs_the_bot_configured(messaging_settings: FakeMessaging, settings: Settings) -> None:
    settings.TELEGRAM_WEBHOOK_SECRETS = []
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRETS"):
        call_command("set_telegram_webhook", URL)


def test_reports_telegrams_refusal(messaging_settings: FakeMessaging) -> None:
    messaging_settings.fail_next(Failure(400, message="Bad Request: bad webhook: Failed to resolve host"))
    with pytest.raises(CommandError, match="Failed to resolve host"):
        call_command("set_telegram_webhook", URL)
