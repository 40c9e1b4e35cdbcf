"""Settings that configure every messaging app against the loopback contract fake, adapters to parse
with, the `media` worker and a voice note for the tests that read photos and voice notes, and the
Messenger and Instagram `message` event both apps deliver."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from integrations import conf, tasks
from integrations.adapters.messenger import InstagramAdapter, MessengerAdapter
from integrations.adapters.telegram import TelegramAdapter
from integrations.adapters.whatsapp import WhatsAppAdapter
from media.voice import AudioFormat, synthesize
from tests.integrations import payloads as p
from tests.integrations.fake_media import FakeMediaMessaging
from tests.integrations.payloads import BOT_TOKEN, BOT_USERNAME, PAGE_ID, PHONE_NUMBER_ID
from tests.media.support import running_media_worker
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_messaging import FakeMessaging
from tests.support.fake_openai import FakeOpenAI

APP_SECRET = "f3c2a1b0e9d8c7b6a5f4e3d2c1b0a9f8"
OLD_APP_SECRET = "0123456789abcdef0123456789abcdef"
TELEGRAM_SECRET = "tg-secret_0123456789"
VOICE_QUESTION = "what is the weather like in paris today"  # espeak-ng's voice; "weather" is heard right
# The first task waits for the worker to start (Django, Celery, OCR imports; slow on a busy machine).
WORKER_START_SECONDS = 180


@pytest.fixture
def fake_messaging() -> Iterator[FakeMediaMessaging]:
    with FakeMediaMessaging() as fake:
        yield fake


@pytest.fixture
def messaging_settings(settings: Settings, fake_messaging: FakeMessaging) -> FakeMessaging:
    """Every app configured, sending to the fake; retries fast so tests do not sleep for long."""
    settings.META_GRAPH_API_BASE_URL = fake_messaging.base_url
    settings.META_GRAPH_API_VERSION = "v26.0"
    settings.META_APP_SECRETS = [APP_SECRET, OLD_APP_SECRET]
    for app, sender in (("WHATSAPP", PHONE_NUMBER_ID), ("MESSENGER", PAGE_ID), ("INSTAGRAM", PAGE_ID)):
        setattr(settings, f"{app}_VERIFY_TOKEN", f"{app.lower()}-verify")
        setattr(settings, f"{app}_ACCESS_TOKEN", f"{app.lower()}-token")
        setattr(settings, f"{app}_SENDER_ID", sender)
    settings.TELEGRAM_API_BASE_URL = fake_messaging.base_url
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_WEBHOOK_SECRETS = [TELEGRAM_SECRET]
    settings.TELEGRAM_BOT_USERNAME = BOT_USERNAME
    settings.INTEGRATIONS_SEND_ATTEMPTS = 3
    settings.INTEGRATIONS_SEND_BACKOFF_SECONDS = 0.01
    settings.INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS = 2.0
    return fake_messaging


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch, messaging_settings: FakeMessaging) -> list[tuple[str, str]]:
    """The replies the webhooks queue, as (app, key), instead of a broker message; the tests run
    the reply tasks they need themselves."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(tasks.reply_to_events, "delay", lambda events: calls.extend(map(tuple, events)))
    return calls


@pytest.fixture
def fake_model(settings: Settings) -> Iterator[FakeOpenAI]:
    """The model server, on its own event loop in a thread (the task runs its own loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeOpenAI().start(), loop).result()
    settings.MODEL_BASE_URL = fake.base_url
    settings.MODEL_RETRIES = 0
    settings.ASSISTANT_MODEL_TITLES = False
    yield fake
    asyncio.run_coroutine_threadsafe(fake.close(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()


@pytest.fixture
def apps(messaging_settings: FakeMessaging, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMessaging]:
    """The apps' fake, with webhooks that only store (the tests run each reply task themselves)."""
    monkeypatch.setattr(tasks.reply_to_events, "delay", lambda events: None)
    return messaging_settings


# --- adapters, unconfigured for sending, for parsing ----------------------------------------------


@pytest.fixture
def whatsapp() -> WhatsAppAdapter:
    return WhatsAppAdapter(conf.MetaApp("http://127.0.0.1:9", "v26.0", ("s",), "v", "t", PHONE_NUMBER_ID))


@pytest.fixture
def messenger() -> MessengerAdapter:
    return MessengerAdapter(conf.MetaApp("http://127.0.0.1:9", "v26.0", ("s",), "v", "t", PAGE_ID))


@pytest.fixture
def instagram() -> InstagramAdapter:
    return InstagramAdapter(conf.MetaApp("http://127.0.0.1:9", "v26.0", ("s",), "v", "t", PAGE_ID))


@pytest.fixture
def telegram() -> TelegramAdapter:
    return TelegramAdapter(conf.TelegramBot("http://127.0.0.1:9", BOT_TOKEN, ("s",), BOT_USERNAME))


@pytest.fixture
def refusing_guard(settings: Settings) -> Iterator[FakeGuard]:
    """The content guard on, refusing everything as S1: a contract fake of Llama Guard 3 on vLLM (the
    guard and the capabilities are built again on each settings change)."""
    with FakeGuard(default=GuardReply(text="unsafe\nS1")) as guard:
        settings.SAFETY_CHECKS = True
        settings.SAFETY_GUARD_BASE_URL = guard.base_url
        yield guard


# --- reading photos and voice notes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def media_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A real Celery worker of queue `media` on Redis, for the module's tests (tasks wait for it up to
    MEDIA_WAIT_SECONDS: set it to WORKER_START_SECONDS)."""
    with running_media_worker(tmp_path_factory.mktemp("media-worker")):
        yield


@pytest.fixture(scope="module")
def voice_note() -> bytes:
    """VOICE_QUESTION spoken by espeak-ng, as WhatsApp and Telegram record voice notes (OGG/Opus)."""
    return synthesize(VOICE_QUESTION, language="en", audio_format=AudioFormat.OGG_OPUS).data


# --- payloads ---------------------------------------------------------------------------------------

# The `object` of each app's webhook, the person who writes and the account written to.
_MESSAGING_APPS = {"messenger": ("page", p.PSID, p.PAGE_ID), "instagram": ("instagram", p.IGSID, p.IG_ACCOUNT_ID)}


def messaging_message(app: str, message: dict[str, Any]) -> dict[str, Any]:
    """A delivery of one `message` event from a person, as Messenger ("object": "page", to the Page)
    or Instagram ("object": "instagram", to the professional account) sends it."""
    app_object, person, account = _MESSAGING_APPS[app]
    return p.messaging_delivery(app_object, p.messaging_item(person, account, message=message), page=account)
