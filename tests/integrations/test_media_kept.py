"""A messaging app's photo or voice note is kept with the person's message, as a web upload is
(assistant/chat/attachments.py): the photo as the `media` worker cleaned it (no EXIF, no location), the
recording as sent, each once however often the reply task runs, owned by the messaging user, shown by
REST and the export like a web one, and never kept when the input check refuses it. The apps' media
downloads are the contract fake's; the worker is a real Celery worker of queue `media` on Redis."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image
from pytest_django.fixtures import Settings

from assistant.chat.attachments import MessageAttachment
from assistant.models import Message, ModerationCase, User
from integrations import tasks
from tests.assistant.test_web_attachments import GPS_TAG, photo_with_gps
from tests.integrations import payloads as p
from tests.integrations.conftest import WORKER_START_SECONDS
from tests.integrations.fake_media import FakeMediaMessaging
from tests.integrations.test_media_replies import PHOTO_ID, VOICE_ID, whatsapp_media
from tests.integrations.test_replies import deliver, sent_texts
from tests.support.fake_guard import FakeGuard
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_worker")]


@pytest.fixture(autouse=True)
def media_root(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return tmp_path


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_whatsapp_photo_is_kept_cleaned_with_its_message_for_its_sender_only(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, media_root: Path
) -> None:
    original = photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(GPS_TAG) is not None
    apps.add_whatsapp_media(PHOTO_ID, original, "image/jpeg")
    delivery = whatsapp_media("wamid.KEEP", "image", p.WHATSAPP_MEDIA["image"])
    deliver("whatsapp", delivery)
    tasks.reply_to_event("whatsapp", "wamid.KEEP")
    deliver("whatsapp", delivery)  # the app redelivers the webhook, and the task runs again
    tasks.reply_to_event("whatsapp", "wamid.KEEP")

    assert sent_texts(apps) == ["Hello, world!"]
    kept = MessageAttachment.objects.select_related("owner", "message").get()
    question = Message.objects.get(role=Message.Role.USER)
    assert (kept.kind, kept.message_id, kept.owner_id) == ("photo", question.pk, question.conversation.owner_id)
    assert kept.owner.username.startswith("whatsapp:")
    [file] = media_root.rglob("*.jpeg")
    assert file.parent.name == str(kept.owner_id)
    stored = Image.open(file)
    assert dict(stored.getexif()) == {}  # no EXIF, so no GPS position either
    assert "exif" not in stored.info
    assert "GateB22" in "".join(kept.reading.split())

    owner, stranger = signed_in(kept.owner), signed_in(User.objects.create_user("someone"))
    served = owner.get(f"/api/attachments/{kept.pk}/file")
    assert (served.status_code, b"".join(served.streaming_content)) == (200, file.read_bytes())
    assert stranger.get(f"/api/attachments/{kept.pk}/file").status_code == 404
    listed = owner.get(f"/api/conversations/{question.conversation_id}/messages").json()["messages"]
    assert listed[0]["attachment"]["url"] == f"/api/attachments/{kept.pk}/file"
    archive = zipfile.ZipFile(io.BytesIO(owner.get("/api/account/export").content))
    [entry] = json.loads(archive.read("attachments/attachments.json"))
    assert (entry["channel"], entry["message_id"]) == ("whatsapp", question.pk)
    assert archive.read(entry["file"]) == file.read_bytes()


def test_a_voice_note_is_kept_as_sent_with_its_transcript(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings, voice_note: bytes, media_root: Path
) -> None:
    settings.MEDIA_VOICE_REPLY_TO_VOICE = False
    apps.add_whatsapp_media(VOICE_ID, voice_note, "audio/ogg; codecs=opus")
    deliver("whatsapp", whatsapp_media("wamid.VKEEP", "audio", p.WHATSAPP_MEDIA["audio"]))
    tasks.reply_to_event("whatsapp", "wamid.VKEEP")

    kept = MessageAttachment.objects.get()
    assert (kept.kind, kept.media_type, kept.message_id) == ("voice", "audio/ogg", Message.objects.get(role="user").pk)
    assert "weather" in kept.reading.split()
    assert 1.5 < (kept.duration or 0) < 6
    assert (media_root / kept.file.name).read_bytes() == voice_note


def test_a_photo_the_input_check_refuses_is_not_kept(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, refusing_guard: FakeGuard, media_root: Path
) -> None:
    apps.add_whatsapp_media(PHOTO_ID, photo_with_gps(), "image/jpeg")
    deliver("whatsapp", whatsapp_media("wamid.BAD", "image", p.WHATSAPP_MEDIA["image"]))
    tasks.reply_to_event("whatsapp", "wamid.BAD")

    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert sent_texts(apps) == [answer.content]  # the refusal
    case = ModerationCase.objects.get()
    assert (case.kind, case.message_id) == (ModerationCase.Kind.BLOCKED_INPUT, answer.reply_to_id)
    refused = MessageAttachment.objects.get()
    assert (refused.refused, refused.file.name, refused.message_id) == (True, "", answer.reply_to_id)
    assert len(refused.sha256) == 64
    assert not [path for path in media_root.rglob("*") if path.is_file()]
