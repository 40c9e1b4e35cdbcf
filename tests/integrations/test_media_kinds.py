"""Every kind of media message of every app, in the payload shape the app documents, through the
webhook and the reply task, answered once though the app delivers it twice. Photos and voice notes
are downloaded from the app's media API (the loopback contract fake, tests/integrations/fake_media.py),
read by a real `media` worker and answered by the model (the contract fake of the model server);
video, stickers and documents get their own sentence, in the person's language, and nothing is
downloaded for them.

The shapes, from the apps' references:
- WhatsApp Cloud API, `messages` webhook (image, audio, video, sticker, document: a media `id`, and in
  the reference of December 2025 the download `url` too):
  https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/image
- Messenger Platform, `messages` webhook (attachments `image|audio|video|file|sticker` with
  `payload.url`; a sticker has been a `sticker` attachment with `sticker_id` since 30 August 2026):
  https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/messages
- Instagram Messaging webhooks (`audio, file, image (image or sticker), share, story_mention, video,
  ig_reel or reel`: a sticker is a plain `image`, so it is read as a picture):
  https://developers.facebook.com/docs/instagram-messaging/webhooks/
- Telegram Bot API `Message` (`photo` as PhotoSize[], `voice`, `video`, `sticker`, `document`):
  https://core.telegram.org/bots/api#message
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import translation
from pytest_django.fixtures import Settings

from assistant.chat.attachments import MessageAttachment
from assistant.models import User
from integrations import services, tasks
from integrations.adapters import adapter_for
from integrations.events import EventKind
from integrations.media import unsupported_sentence
from integrations.models import InboundEvent
from media.voice import AudioFormat, synthesize
from tests.integrations import payloads as p
from tests.integrations.conftest import VOICE_QUESTION, WORKER_START_SECONDS, messaging_message
from tests.integrations.fake_media import FakeMediaMessaging
from tests.integrations.test_media_replies import whatsapp_media
from tests.integrations.test_replies import deliver, sent_texts
from tests.media.support import text_photo
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.django_db(transaction=True)]

ANSWER = "Hello, world!"  # what the model's contract fake answers
WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwMUY1QjQ5RDBGNDQ1NzM3QQA="
UPDATE_ID = 734001
NOT_READ = b"\x00\x00\x00\x18ftypmp42" + bytes(4000)  # a file the assistant must not even fetch
TELEGRAM_FILES = {"photo": "photos/file_12.jpg", "voice": "voice/file_13.oga", "video": "videos/file_14.mp4",
                  "sticker": "stickers/file_15.webp", "document": "documents/file_16.pdf"}  # fmt: skip


@dataclass(frozen=True)
class Sent:
    """One message as its app delivers it, and where the app serves its file."""

    key: str  # the stored event's: the app's message id, or Telegram's update id
    payload: dict[str, Any]
    downloads: list[str]  # the paths a reader fetches, in order: WhatsApp's media id, then the file


def sent_message(apps: FakeMediaMessaging, app: str, content: Any, data: bytes) -> Sent:
    """`content` in `app`'s own shape (WhatsApp: type and media object; Messenger and Instagram: the
    attachments without their URLs; Telegram: field and value), with its file `data` served on the
    fake where the app serves it."""
    if app == "whatsapp":
        message_type, media = content
        apps.add_whatsapp_media(media["id"], data, media["mime_type"])
        path = apps.media[media["id"]].path
        media = {**media, "url": f"{apps.origin}{path}"}
        return Sent(WAMID, whatsapp_media(WAMID, message_type, media), [f"/v26.0/{media['id']}", path.split("?")[0]])
    if app == "telegram":
        field, value = content
        file = value[-1] if isinstance(value, list) else value  # a photo's sizes come smallest first
        apps.add_telegram_file(file["file_id"], data, TELEGRAM_FILES[field])
        message = p.telegram_message(4021, None, **{field: value})
        return Sent(str(UPDATE_ID), p.telegram_update(UPDATE_ID, message=message),
                    [f"/file/bot{p.BOT_TOKEN}/{TELEGRAM_FILES[field]}"])  # fmt: skip
    mid = f"m_{app}_AQHRr2kAB1Zp0UtRgpz"
    attachments = [
        {"type": attachment["type"], "payload": {"url": apps.add_cdn_file(f"{mid}-{n}", data), **attachment["payload"]}}
        for n, attachment in enumerate(content)
    ]
    return Sent(mid, messaging_message(app, {"mid": mid, "attachments": attachments}), [f"/cdn/{mid}-0"])


def delivered_twice(app: str, sent: Sent) -> None:
    """Delivered and answered, then delivered again (the app missed the first 200) and the task run again."""
    for _ in range(2):
        deliver(app, sent.payload)
        tasks.reply_to_event(app, sent.key)


# --- photos and voice notes: downloaded, read on the `media` worker, answered ---------------------------


@pytest.fixture(scope="module")
def photo() -> bytes:
    return text_photo(["Gate B22 closes 09:40"], image_format="JPEG")


@pytest.fixture(scope="module")
def sticker() -> bytes:
    return text_photo(["THANKS"], image_format="WEBP")


@pytest.fixture(scope="module")
def voice_clip() -> bytes:
    """VOICE_QUESTION as Messenger and Instagram record voice clips: AAC in MP4."""
    return synthesize(VOICE_QUESTION, language="en", audio_format=AudioFormat.M4A).data


TELEGRAM_PHOTO = [
    {"file_id": "AgACAgQAAxkBAAIBZ2-s", "file_unique_id": "AQADs", "file_size": 1254, "width": 90, "height": 19},
    {"file_id": "AgACAgQAAxkBAAIBZ2-m", "file_unique_id": "AQADm", "file_size": 9000, "width": 320, "height": 67},
    {"file_id": "AgACAgQAAxkBAAIBZ2-x", "file_unique_id": "AQADx", "file_size": 38000, "width": 1000, "height": 210},
]
TELEGRAM_VOICE = {"duration": 3, "mime_type": "audio/ogg", "file_id": "AwACAgQAAxkBAAIBaH", "file_unique_id": "AgADvo",
                  "file_size": 9301}  # fmt: skip

# (app, content in the app's shape, the file's fixture, the event it is, a word the model must be given)
READ = [
    pytest.param("whatsapp", ("image", p.WHATSAPP_MEDIA["image"]), "photo", EventKind.PHOTO, "B22",
                 id="whatsapp-image"),
    pytest.param("whatsapp", ("audio", p.WHATSAPP_MEDIA["audio"]), "voice_note", EventKind.VOICE, "weather",
                 id="whatsapp-voice"),
    pytest.param("messenger", [{"type": "image", "payload": {}}], "photo", EventKind.PHOTO, "B22",
                 id="messenger-image"),
    pytest.param("messenger", [{"type": "audio", "payload": {}}], "voice_clip", EventKind.VOICE, "weather",
                 id="messenger-audio"),
    pytest.param("instagram", [{"type": "image", "payload": {}}], "photo", EventKind.PHOTO, "B22",
                 id="instagram-image"),
    pytest.param("instagram", [{"type": "audio", "payload": {}}], "voice_clip", EventKind.VOICE, "weather",
                 id="instagram-audio"),
    pytest.param("instagram", [{"type": "image", "payload": {}}], "sticker", EventKind.PHOTO, "THANKS",
                 id="instagram-sticker"),
    pytest.param("telegram", ("photo", TELEGRAM_PHOTO), "photo", EventKind.PHOTO, "B22", id="telegram-photo"),
    pytest.param("telegram", ("voice", TELEGRAM_VOICE), "voice_note", EventKind.VOICE, "weather",
                 id="telegram-voice"),
]  # fmt: skip


@pytest.mark.live
@pytest.mark.usefixtures("media_worker")
@pytest.mark.parametrize(("app", "content", "file", "kind", "word"), READ)
def test_a_photo_or_voice_note_is_downloaded_once_and_answered_once_about_what_it_holds(
    request: pytest.FixtureRequest,
    fake_model: FakeOpenAI,
    apps: FakeMediaMessaging,
    settings: Settings,
    app: str,
    content: Any,
    file: str,
    kind: EventKind,
    word: str,
) -> None:
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS
    sent = sent_message(apps, app, content, request.getfixturevalue(file))
    delivered_twice(app, sent)

    event = InboundEvent.objects.get()
    assert (event.kind, event.reply_error) == (kind, "")
    replies = list(event.replies.order_by("part").values_list("kind", flat=True))
    # A voice note is answered aloud too: every app plays the assistant's voice replies.
    assert replies == (["text", "voice"] if kind == EventKind.VOICE else ["text"])
    assert [text for text in sent_texts(apps) if text is not None] == [ANSWER]
    assert len(apps.uploads) == replies.count("voice")
    assert [download.path for download in apps.downloads()] == sent.downloads  # once
    [asked] = fake_model.requests
    role, question = asked.chatml_messages[-1]
    assert role == "user"
    assert word in "".join(question.split())  # the photo's printed text, or the transcript
    kept = MessageAttachment.objects.get()
    assert kept.kind == ("photo" if kind == EventKind.PHOTO else "voice")


# --- video, stickers, documents: a sentence of their own, in the person's language ----------------------


TELEGRAM_VIDEO = {"duration": 12, "width": 1280, "height": 720, "file_name": "clip.mp4", "mime_type": "video/mp4",
                  "file_id": "BAACAgQAAxkBAAIBaX", "file_unique_id": "AgADvi", "file_size": 1048576}  # fmt: skip
TELEGRAM_STICKER = {"width": 512, "height": 512, "emoji": "👍", "set_name": "HotCherry", "is_animated": False,
                    "is_video": False, "type": "regular", "file_id": "CAACAgIAAxkBAAIBaY",
                    "file_unique_id": "AgADst", "file_size": 23000}  # fmt: skip
TELEGRAM_DOCUMENT = {"file_name": "menu.pdf", "mime_type": "application/pdf", "file_id": "BQACAgQAAxkBAAIBaZ",
                     "file_unique_id": "AgADdo", "file_size": 120000}  # fmt: skip

# (app, content in the app's shape, the kind of message as the sentences name it)
NOT_READ_YET = [
    pytest.param("whatsapp", ("video", p.WHATSAPP_MEDIA["video"]), "video", id="whatsapp-video"),
    pytest.param("whatsapp", ("sticker", p.WHATSAPP_MEDIA["sticker"]), "sticker", id="whatsapp-sticker"),
    pytest.param("whatsapp", ("document", p.WHATSAPP_MEDIA["document"]), "document", id="whatsapp-document"),
    pytest.param("messenger", [{"type": "video", "payload": {}}], "video", id="messenger-video"),
    pytest.param("messenger", [{"type": "sticker", "payload": {"sticker_id": 369239263222822}}], "sticker",
                 id="messenger-sticker"),
    pytest.param("messenger", [{"type": "file", "payload": {}}], "document", id="messenger-file"),
    pytest.param("instagram", [{"type": "video", "payload": {}}], "video", id="instagram-video"),
    pytest.param("instagram", [{"type": "ig_reel", "payload": {"title": "Lisbon", "reel_video_id": 1789}}], "video",
                 id="instagram-reel"),
    pytest.param("instagram", [{"type": "file", "payload": {}}], "document", id="instagram-file"),
    pytest.param("telegram", ("video", TELEGRAM_VIDEO), "video", id="telegram-video"),
    pytest.param("telegram", ("sticker", TELEGRAM_STICKER), "sticker", id="telegram-sticker"),
    pytest.param("telegram", ("document", TELEGRAM_DOCUMENT), "document", id="telegram-document"),
]  # fmt: skip


@pytest.mark.parametrize("language", ["", "de"], ids=["first-message", "known-in-german"])
@pytest.mark.parametrize(("app", "content", "kind"), NOT_READ_YET)
def test_video_stickers_and_documents_get_their_own_sentence_once_with_nothing_downloaded(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, app: str, content: Any, kind: str, language: str
) -> None:
    sent = sent_message(apps, app, content, NOT_READ)
    if language:  # someone who has written before, with German as their language
        [event] = adapter_for(app).parse(sent.payload)
        User.objects.filter(pk=services.bind_chat(event).user_id).update(language=language)
    delivered_twice(app, sent)

    with translation.override(language or None):
        sentence, catch_all = unsupported_sentence(kind), unsupported_sentence("")
    assert sentence != catch_all
    assert (sentence != unsupported_sentence(kind)) is bool(language)  # translated, when not English
    assert sent_texts(apps) == [sentence]
    event = InboundEvent.objects.get()
    assert (event.kind, event.handled_at is not None) == (EventKind.UNSUPPORTED, True)
    assert list(event.replies.values_list("kind", "content")) == [("text", sentence)]
    assert apps.downloads() == []
    assert fake_model.requests == []
