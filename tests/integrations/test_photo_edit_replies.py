"""A photo sent in a messaging app with the caption `/imagine edit <instruction>`: read by a real
`media` worker, restyled by a real imagine worker (the tiny pipeline), both on Redis, and sent back as
a picture (a signed link). The app's media download is the contract fake's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings

from assistant.chat.attachments import MessageAttachment
from assistant.door import PHOTO_MARKER
from assistant.models import Message
from imagine.models import ImagineImage
from integrations import tasks
from integrations.models import OutboundMessage
from integrations.services import IMAGINE_UNAVAILABLE_REPLY
from tests.imagine.support import BROKER_URL, CACHE_URL, RESULTS_URL, imagine_worker
from tests.imagine.test_edit import REFUSED_INSTRUCTION
from tests.imagine.test_edit_photo import photo
from tests.integrations import payloads as p
from tests.integrations.fake_media import FakeMediaMessaging
from tests.integrations.test_imagine_replies import PUBLIC_URL
from tests.integrations.test_media_replies import PHOTO_ID, whatsapp_media
from tests.integrations.test_replies import deliver, sent_texts
from tests.support.processes import product_env, running, worker_command

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]

WORKER_START_SECONDS = 180  # the first photo waits for the media worker to start (Django, Celery, OCR imports)
CAPTION = "/imagine edit make it watercolour"


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The imagine worker, then a `media` worker on the same broker (started after the first's flush)."""
    var_dir = tmp_path_factory.mktemp("workers")
    env = product_env(var_dir, CELERY_BROKER_URL=BROKER_URL, CELERY_RESULT_BACKEND=RESULTS_URL)
    media = [*worker_command(queues=("media",)), "--include", "media.tasks"]
    with imagine_worker(var_dir), running(media, env=env, log=var_dir / "media-worker.log"):
        yield


@pytest.fixture(autouse=True)
def web_side(settings: Settings, tmp_path: Path) -> Iterator[None]:
    settings.ASSISTANT_PUBLIC_URL = PUBLIC_URL
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": CACHE_URL}}
    yield
    cache.clear()


@pytest.mark.usefixtures("workers")
def test_a_whatsapp_photo_captioned_imagine_edit_gets_its_edit_as_a_picture(apps: FakeMediaMessaging) -> None:
    apps.add_whatsapp_media(PHOTO_ID, photo(1200, 900, "JPEG"), "image/jpeg")
    deliver("whatsapp", whatsapp_media("wamid.EDIT1", "image", {**p.WHATSAPP_MEDIA["image"], "caption": CAPTION}))
    tasks.reply_to_event("whatsapp", "wamid.EDIT1")

    [sent] = apps.sent()
    image = sent.body["image"]
    assert image["caption"] == "Imagined with AI: make it watercolour, a photo you sent"
    assert OutboundMessage.objects.get().kind == OutboundMessage.Kind.IMAGE
    edit = ImagineImage.objects.get()
    question = Message.objects.get(role=Message.Role.USER)
    assert (edit.edited_from_id, edit.conversation_id) == (None, question.conversation_id)
    assert Message.objects.get(role=Message.Role.ASSISTANT).image == edit
    assert question.content == f"{PHOTO_MARKER} {CAPTION}"
    assert MessageAttachment.objects.get().message_id == question.pk  # the photo is kept with its message
    response = Client().get(image["link"].removeprefix(PUBLIC_URL))  # the app fetches it with no session
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")


@pytest.mark.usefixtures("workers")
def test_a_refused_instruction_on_a_photo_gets_imagines_refusal(apps: FakeMediaMessaging) -> None:
    apps.add_whatsapp_media(PHOTO_ID, photo(640, 480, "JPEG"), "image/jpeg")
    caption = f"/imagine edit {REFUSED_INSTRUCTION}"
    deliver("whatsapp", whatsapp_media("wamid.EDIT2", "image", {**p.WHATSAPP_MEDIA["image"], "caption": caption}))
    tasks.reply_to_event("whatsapp", "wamid.EDIT2")

    [sent] = apps.sent()
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (answer.status, sent.body["text"]["body"]) == (Message.Status.BLOCKED, answer.content)
    assert not ImagineImage.objects.exists()
    assert MessageAttachment.objects.get().refused  # the photo left the storage with its turn


@pytest.mark.usefixtures("workers")
def test_without_a_public_url_a_restyle_in_plain_words_says_imagine_is_unavailable(
    apps: FakeMediaMessaging, settings: Settings
) -> None:
    """The app could not fetch the picture from a link without a host, so none is sent."""
    settings.ASSISTANT_PUBLIC_URL = ""
    apps.add_whatsapp_media(PHOTO_ID, photo(640, 480, "JPEG"), "image/jpeg")
    caption = {**p.WHATSAPP_MEDIA["image"], "caption": "make it watercolour"}
    deliver("whatsapp", whatsapp_media("wamid.EDIT3", "image", caption))
    tasks.reply_to_event("whatsapp", "wamid.EDIT3")

    assert sent_texts(apps) == [IMAGINE_UNAVAILABLE_REPLY]
    assert OutboundMessage.objects.get().kind == OutboundMessage.Kind.TEXT
