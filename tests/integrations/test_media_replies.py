"""Photos and voice notes the reply task refuses before any `media` worker or model is asked: each
gets its own sentence, and nothing of the turn is stored. The apps' media downloads are the contract
fake's (tests/integrations/fake_media.py); photos and audio are made here, nothing is downloaded.
What a worker reads and the model answers is in test_live_media_replies.py."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from django.core.cache import cache
from PIL import Image
from pytest_django.fixtures import Settings

from assistant.chat.attachments import MessageAttachment
from assistant.models import Message, User
from core.errors import AssistantError, ErrorCode
from integrations import services, tasks
from integrations.events import EventKind
from integrations.media import download_failed_sentence, refusal_sentence, unsupported_sentence
from integrations.models import InboundEvent
from tests.integrations import payloads as p
from tests.integrations.fake_media import FakeMediaMessaging
from tests.integrations.test_replies import deliver, sent_texts, whatsapp_question
from tests.media.support import text_photo
from tests.support.fake_messaging import Failure
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.django_db(transaction=True)]

PHOTO_ID = "1003383421387256"
VOICE_ID = "1003383421387257"


def noise_png(side: int) -> bytes:
    """A PNG that cannot be compressed: about 3 bytes a pixel."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


def whatsapp_media(message_id: str, media_type: str, content: dict[str, Any]) -> dict[str, Any]:
    return p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_message(message_id, media_type, content)))


def refusal(code: ErrorCode, kind: EventKind) -> str:
    return refusal_sentence(AssistantError(code, ""), kind)


def assert_nothing_stored(fake_model: FakeOpenAI) -> None:
    assert fake_model.requests == []
    assert not Message.objects.exists()
    assert not MessageAttachment.objects.exists()
    assert InboundEvent.objects.get().handled_at is not None


def test_a_photo_past_the_cap_is_refused_while_downloading(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings
) -> None:
    settings.MEDIA_PHOTO_MAX_BYTES = 2**20
    apps.add_whatsapp_media(PHOTO_ID, noise_png(800), "image/jpeg")
    deliver("whatsapp", whatsapp_media("wamid.BIG", "image", p.WHATSAPP_MEDIA["image"]))
    tasks.reply_to_event("whatsapp", "wamid.BIG")

    assert sent_texts(apps) == [refusal(ErrorCode.FILE_TOO_LARGE, EventKind.PHOTO)]
    assert "larger than 1 MB" in sent_texts(apps)[0]
    media_info, download = apps.downloads()
    assert media_info.path == f"/v26.0/{PHOTO_ID}"
    assert download.headers["authorization"] == "Bearer whatsapp-token"  # Meta's media URLs need the token
    assert_nothing_stored(fake_model)


def test_a_png_sent_as_a_voice_note_is_refused_at_its_first_bytes(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging
) -> None:
    apps.add_whatsapp_media(VOICE_ID, text_photo(["not a voice"]), "audio/ogg")
    deliver("whatsapp", whatsapp_media("wamid.PNG", "audio", p.WHATSAPP_MEDIA["audio"]))
    tasks.reply_to_event("whatsapp", "wamid.PNG")

    assert sent_texts(apps) == [refusal(ErrorCode.FILE_TYPE_MISMATCH, EventKind.VOICE)]
    assert_nothing_stored(fake_model)


def test_a_file_the_app_no_longer_has_gets_its_sentence(fake_model: FakeOpenAI, apps: FakeMediaMessaging) -> None:
    deliver("whatsapp", whatsapp_media("wamid.GONE", "image", p.WHATSAPP_MEDIA["image"]))
    tasks.reply_to_event("whatsapp", "wamid.GONE")

    assert sent_texts(apps) == [download_failed_sentence()]
    assert_nothing_stored(fake_model)


def test_a_download_the_app_fails_for_now_is_tried_again_later(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings
) -> None:
    # Every try of the read receipt (not worth failing for), then of the media id's URL.
    apps.fail_next(*[Failure(503, code=2)] * (2 * settings.INTEGRATIONS_SEND_ATTEMPTS))
    deliver("whatsapp", whatsapp_media("wamid.LATER", "image", p.WHATSAPP_MEDIA["image"]))
    with pytest.raises(services.ReplyLater):
        tasks.reply_to_event("whatsapp", "wamid.LATER")

    assert sent_texts(apps) == []
    assert [r.path for r in apps.downloads()] == [f"/v26.0/{PHOTO_ID}"] * settings.INTEGRATIONS_SEND_ATTEMPTS
    assert not Message.objects.exists()
    assert InboundEvent.objects.get().handled_at is None  # the retry answers it


def test_an_instagram_attachment_is_fetched_without_the_token(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings
) -> None:
    settings.MEDIA_VOICE_MAX_BYTES = 2**14
    url = apps.add_cdn_file("voice.mp4", b"\x00\x00\x00\x18ftypM4A " + bytes(30_000))
    attachment = {"type": "audio", "payload": {"url": url}}
    item = p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_V", "attachments": [attachment]})
    deliver("instagram", p.messaging_delivery("instagram", item, page=p.IG_ACCOUNT_ID))
    tasks.reply_to_event("instagram", "ig_V")

    assert sent_texts(apps) == [refusal(ErrorCode.FILE_TOO_LARGE, EventKind.VOICE)]
    assert "larger than 0.015625 MB" in sent_texts(apps)[0]
    [download] = apps.downloads()
    assert "authorization" not in download.headers
    assert_nothing_stored(fake_model)


@pytest.mark.parametrize(("media_type", "detail"), [("sticker", "sticker"), ("video", "video"),
                                                     ("document", "document"), ("location", "location")])  # fmt: skip
def test_what_cannot_be_read_yet_gets_a_sentence_of_its_own(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, media_type: str, detail: str
) -> None:
    deliver("whatsapp", whatsapp_media("wamid.U1", media_type, p.WHATSAPP_MEDIA[media_type]))
    tasks.reply_to_event("whatsapp", "wamid.U1")

    assert sent_texts(apps) == [unsupported_sentence(detail)]
    assert apps.downloads() == []
    assert fake_model.requests == []


def test_each_kind_has_its_own_sentence() -> None:
    kinds = ["sticker", "video", "document", "location", "contacts", "poll_creation"]
    assert len({unsupported_sentence(kind) for kind in kinds}) == 6
    codes = [
        ErrorCode.FILE_TOO_LARGE,
        ErrorCode.FILE_TYPE_MISMATCH,
        ErrorCode.IMAGE_TOO_MANY_PIXELS,
        ErrorCode.BROKEN_FILE,
        ErrorCode.AUDIO_TOO_LONG,
        ErrorCode.EMPTY_TEXT,
        ErrorCode.WORKER_UNAVAILABLE,
    ]
    assert len({refusal(code, EventKind.VOICE) for code in codes}) == 7


def test_the_sentence_comes_in_the_persons_language(fake_model: FakeOpenAI, apps: FakeMediaMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.T1", "Hallo"))
    tasks.reply_to_event("whatsapp", "wamid.T1")
    User.objects.filter(username__startswith="whatsapp:").update(language="de")
    deliver("whatsapp", whatsapp_media("wamid.T2", "sticker", p.WHATSAPP_MEDIA["sticker"]))
    tasks.reply_to_event("whatsapp", "wamid.T2")

    assert sent_texts(apps)[-1].startswith("Sticker kann ich noch nicht sehen.")


def test_a_photo_past_the_rate_limit_is_refused_before_it_is_downloaded(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings
) -> None:
    cache.clear()
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "messaging_per_user": "1/3600"}
    deliver("whatsapp", whatsapp_question("wamid.FIRST", "Hello"))
    tasks.reply_to_event("whatsapp", "wamid.FIRST")
    apps.add_whatsapp_media(PHOTO_ID, text_photo(["Gate B22"]), "image/png")
    deliver("whatsapp", whatsapp_media("wamid.FLOOD", "image", p.WHATSAPP_MEDIA["image"]))
    tasks.reply_to_event("whatsapp", "wamid.FLOOD")

    assert "Too many requests" in sent_texts(apps)[-1]
    assert apps.downloads() == []  # nothing was fetched, so no worker was asked to read it
    assert len(fake_model.requests) == 1  # the first question's answer only
    assert not MessageAttachment.objects.exists()
