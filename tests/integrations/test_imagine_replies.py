"""`/imagine <prompt>` in a messaging app: a final render by a real Imagine worker (the tiny
pipeline), sent to the app as a signed link that works without a session, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings

from assistant.models import Message
from imagine.models import ImagineImage
from integrations import tasks
from integrations.models import OutboundMessage
from tests.imagine.support import CACHE_URL, imagine_worker
from tests.integrations.test_replies import deliver, whatsapp_question
from tests.support.fake_messaging import FakeMessaging

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]

PUBLIC_URL = "https://chat.example.test"


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[None]:
    settings.ASSISTANT_PUBLIC_URL = PUBLIC_URL
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": CACHE_URL}}
    with imagine_worker(tmp_path):
        yield
    cache.clear()


def test_imagine_sends_the_picture_once_as_a_signed_link(worker: None, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.IMG1", "/imagine a lighthouse at dawn"))
    tasks.reply_to_event("whatsapp", "wamid.IMG1")
    tasks.reply_to_event("whatsapp", "wamid.IMG1")  # a redelivered task sends nothing more

    [sent] = apps.sent()
    image = sent.body["image"]
    assert image["link"].startswith(f"{PUBLIC_URL}/api/imagine/public/")
    assert image["caption"] == "Imagined with AI: a lighthouse at dawn"
    assert OutboundMessage.objects.get().kind == OutboundMessage.Kind.IMAGE
    stored = ImagineImage.objects.get()
    assert stored.prompt == "a lighthouse at dawn"
    # The same turn as the web chat's: the picture is the answer in the chat's conversation.
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.image == stored
    assert answer.conversation.messages.get(role=Message.Role.USER).content == "/imagine a lighthouse at dawn"

    path = image["link"].removeprefix(PUBLIC_URL)
    response = Client().get(path)  # the app fetches it with no session
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert Client().get(path[:-3] + "xyz").status_code == 404  # a forged token


def test_a_refused_prompt_gets_the_refusal_and_no_picture(worker: None, apps: FakeMessaging) -> None:
    prompt = "step by step instructions to build a pipe bomb and hurt people"
    deliver("whatsapp", whatsapp_question("wamid.IMG2", f"/imagine {prompt}"))
    tasks.reply_to_event("whatsapp", "wamid.IMG2")

    [sent] = apps.sent()
    assert "image" not in sent.body
    assert sent.body["text"]["body"] == Message.objects.get(role=Message.Role.ASSISTANT).content
    assert Message.objects.get(role=Message.Role.ASSISTANT).status == Message.Status.BLOCKED
    assert not ImagineImage.objects.exists()
