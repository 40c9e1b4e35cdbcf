"""Photos and voice notes answered in the messaging apps, end to end but for the model: webhook →
stored event → reply task → the app's media download (the contract fake's, in the apps' wire formats)
→ a real Celery worker of queue `media` on Redis (OCR, transcription) → the turn → the app. The model
is the contract fake of the model server, so what it was told is recorded; the voice notes are
espeak-ng's speech, made here."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from assistant.door import PHOTO_MARKER
from assistant.models import Message
from core.errors import AssistantError, ErrorCode
from integrations import tasks
from integrations.events import EventKind
from integrations.media import refusal_sentence
from integrations.models import InboundEvent
from media.processes import ffmpeg, probe
from tests.assistant.test_vision_turns import VISION_MODEL, FakeVisionServer
from tests.integrations import payloads as p
from tests.integrations.conftest import WORKER_START_SECONDS, messaging_message
from tests.integrations.fake_media import FakeMediaMessaging, Upload
from tests.integrations.test_media_replies import PHOTO_ID, VOICE_ID, whatsapp_media
from tests.integrations.test_replies import deliver, sent_texts, whatsapp_question
from tests.media.support import text_photo
from tests.support.fake_guard import FakeGuard
from tests.support.fake_messaging import Failure
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_worker")]


@pytest.fixture(autouse=True)
def patient(settings: Settings) -> None:
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS


def user_message() -> Message:
    return Message.objects.get(role=Message.Role.USER)


def test_a_whatsapp_photo_is_answered_about_its_printed_text(fake_model: FakeOpenAI, apps: FakeMediaMessaging) -> None:
    apps.add_whatsapp_media(PHOTO_ID, text_photo(["Train to Lyon 14:35", "Platform 7"], image_format="JPEG"),
                            "image/jpeg")  # fmt: skip
    fake_model.script(Reply(texts=["Your train leaves from platform 7."]))
    content = {**p.WHATSAPP_MEDIA["image"], "caption": "Which platform?"}
    deliver("whatsapp", whatsapp_media("wamid.PH1", "image", content))
    tasks.reply_to_event("whatsapp", "wamid.PH1")

    assert sent_texts(apps) == ["Your train leaves from platform 7."]
    prompt = fake_model.requests[0].prompt_text or ""
    photo_block = prompt[prompt.index("<photo>") : prompt.index("</photo>")]
    assert "Platform 7" in photo_block
    assert "Lyon" in photo_block
    assert user_message().content == f"{PHOTO_MARKER} Which platform?"


def test_a_photo_captioned_make_it_watercolour_gets_imagines_reason_when_imagine_cannot_render(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings
) -> None:
    """A restyle asked in plain words is Imagine's as `/imagine edit` is: its failure says what happened
    (here, no imagine worker on the queue), not the apology for an answer the model could not write."""
    settings.ASSISTANT_PUBLIC_URL = "https://chat.example.test"
    settings.IMAGINE_FINAL_TIMEOUT_SECONDS = 1
    apps.add_whatsapp_media(PHOTO_ID, text_photo(["Harbour"], image_format="JPEG"), "image/jpeg")
    content = {**p.WHATSAPP_MEDIA["image"], "caption": "make it watercolour"}
    deliver("whatsapp", whatsapp_media("wamid.PH2", "image", content))
    tasks.reply_to_event("whatsapp", "wamid.PH2")

    assert sent_texts(apps) == ["The image service is not answering right now. Please try again soon."]
    assert fake_model.requests == []  # a restyle, not a question for the model
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (answer.status, answer.image_id) == (Message.Status.ERROR, None)


def test_a_whatsapp_voice_note_is_transcribed_and_answered_once_in_text_and_aloud(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, voice_note: bytes
) -> None:
    apps.add_whatsapp_media(VOICE_ID, voice_note, "audio/ogg; codecs=opus")
    delivery = whatsapp_media("wamid.VN1", "audio", p.WHATSAPP_MEDIA["audio"])
    deliver("whatsapp", delivery)
    tasks.reply_to_event("whatsapp", "wamid.VN1")
    deliver("whatsapp", delivery)  # the app redelivers the webhook, and the task runs again
    tasks.reply_to_event("whatsapp", "wamid.VN1")

    text, voice = (request.body for request in apps.sent())
    assert text["text"]["body"] == "Hello, world!"
    [upload] = apps.uploads  # the answer read aloud, uploaded, then sent as an audio message
    assert upload.fields == {"messaging_product": "whatsapp", "type": "audio/ogg"}
    assert upload.files["file"][2].startswith(b"OggS")
    assert voice["audio"] == {"id": "900000000000001"}
    assert len(fake_model.requests) == 1
    assert len(apps.downloads()) == 2  # the media id's URL, then the file: once
    transcript = user_message().content
    assert "weather" in transcript.split()
    assert fake_model.requests[0].chatml_messages[-1] == ("user", transcript)
    event = InboundEvent.objects.get()
    assert event.kind == EventKind.VOICE
    assert list(event.replies.values_list("kind", "content")) == [("text", "Hello, world!"), ("voice", "Hello, world!")]


def test_a_telegram_photo_and_voice_note_are_answered(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, voice_note: bytes
) -> None:
    apps.add_telegram_file("AgACAgQ-photo", text_photo(["Gate B22 closes 09:40"]), "photos/file_0.jpg")
    apps.add_telegram_file("AwACAgQ-voice", voice_note, "voice/file_1.oga")
    photo = [{"file_id": "AgACAgQ-photo", "file_unique_id": "AQAD", "width": 1000, "height": 210, "file_size": 9000}]
    voice = {"file_id": "AwACAgQ-voice", "file_unique_id": "AgAD", "duration": 3, "mime_type": "audio/ogg"}
    deliver("telegram", p.telegram_update(901, message=p.telegram_message(41, None, photo=photo)))
    deliver("telegram", p.telegram_update(902, message=p.telegram_message(42, None, voice=voice)))
    tasks.reply_to_event("telegram", "901")
    tasks.reply_to_event("telegram", "902")

    assert sent_texts(apps) == ["Hello, world!", "Hello, world!"]
    photo_prompt = fake_model.requests[0].prompt_text or ""
    assert "Gate B22" in photo_prompt[photo_prompt.index("<photo>") :]
    questions = list(Message.objects.filter(role=Message.Role.USER).order_by("id").values_list("content", flat=True))
    assert questions[0] == PHOTO_MARKER
    assert "weather" in questions[1].split()
    assert [r.path for r in apps.downloads()] == [f"/file/bot{p.BOT_TOKEN}/photos/file_0.jpg",
                                                  f"/file/bot{p.BOT_TOKEN}/voice/file_1.oga"]  # fmt: skip
    [voice_reply] = apps.uploads  # the voice note is answered aloud too; the photo is not
    assert voice_reply.path == f"/bot{p.BOT_TOKEN}/sendVoice"
    assert voice_reply.fields == {"chat_id": "1111111"}
    assert voice_reply.files["voice"][2].startswith(b"OggS")


def test_a_harmful_transcript_is_refused_by_the_guard_like_typed_text(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, voice_note: bytes, settings: Settings, refusing_guard: FakeGuard
) -> None:
    apps.add_whatsapp_media(VOICE_ID, voice_note, "audio/ogg")
    settings.MEDIA_VOICE_REPLY_TO_VOICE = False
    deliver("whatsapp", whatsapp_media("wamid.VG1", "audio", p.WHATSAPP_MEDIA["audio"]))
    tasks.reply_to_event("whatsapp", "wamid.VG1")

    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.BLOCKED
    assert sent_texts(apps) == [answer.content]  # the refusal, as for typed text
    assert "weather" in refusing_guard.requests[0].prompt_text
    assert apps.uploads == []  # voice replies switched off


def test_a_worker_that_answers_too_late_gets_the_try_later_sentence(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings
) -> None:
    settings.MEDIA_WAIT_SECONDS = 0.01  # far less than reading a photo takes
    apps.add_whatsapp_media(PHOTO_ID, text_photo(["Gate B22"]), "image/png")
    deliver("whatsapp", whatsapp_media("wamid.SLOW", "image", p.WHATSAPP_MEDIA["image"]))
    tasks.reply_to_event("whatsapp", "wamid.SLOW")

    assert sent_texts(apps) == [refusal_sentence(AssistantError(ErrorCode.WORKER_UNAVAILABLE, ""), EventKind.PHOTO)]
    assert not Message.objects.exists()


def meta_voice_clip(apps: FakeMediaMessaging, voice_note: bytes, app: str, mid: str) -> None:
    """A voice clip sent to the Page (Messenger) or the Instagram account, delivered and answered."""
    attachment = {"type": "audio", "payload": {"url": apps.add_cdn_file(f"audioclip-{mid}.ogg", voice_note)}}
    deliver(app, messaging_message(app, {"mid": mid, "attachments": [attachment]}))
    tasks.reply_to_event(app, mid)


def decoded(data: bytes, demuxer: str, folder: Path) -> tuple[str | None, float]:
    """The audio codec ffmpeg finds, and the seconds of sound once the whole file is decoded with the
    container it must be: bytes in another container, or that do not decode, fail here."""
    path = folder / f"reply.{demuxer}"
    path.write_bytes(data)
    pcm = ffmpeg("-f", demuxer, "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1")
    return probe(str(path)).audio_codec, len(pcm) / 32000  # 16-bit mono at 16 kHz


def answered_once_in_text_and_aloud(apps: FakeMediaMessaging, fake_model: FakeOpenAI, recipient: str) -> Upload:
    """The one upload of the answer read aloud, after checking the text went first and the audio was
    sent by the id the upload answered, each once."""
    text, voice = (request.body for request in apps.sent())
    assert text["message"] == {"text": "Hello, world!"}
    [upload] = apps.uploads
    assert upload.path == "/v26.0/me/message_attachments"
    assert json.loads(upload.fields["message"]) == {"attachment": {"type": "audio", "payload": {"is_reusable": True}}}
    assert voice["recipient"] == {"id": recipient}
    assert voice["message"] == {"attachment": {"type": "audio", "payload": {"attachment_id": "180000000000001"}}}
    assert "weather" in user_message().content.split()
    assert len(fake_model.requests) == 1
    replies = InboundEvent.objects.get().replies.values_list("kind", "content")
    assert list(replies) == [("text", "Hello, world!"), ("voice", "Hello, world!")]
    return upload


def test_a_messenger_voice_clip_is_answered_once_in_text_and_as_mp3(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, voice_note: bytes, tmp_path: Path
) -> None:
    meta_voice_clip(apps, voice_note, "messenger", "m_VC")
    tasks.reply_to_event("messenger", "m_VC")  # run again: nothing is sent twice

    upload = answered_once_in_text_and_aloud(apps, fake_model, p.PSID)
    assert upload.fields.keys() == {"message"}
    name, content_type, data = upload.files["filedata"]
    assert (name, content_type) == ("reply.mp3", "audio/mpeg")
    assert data.startswith(b"ID3")  # ffmpeg's MP3 opens with an ID3v2 tag
    codec, seconds = decoded(data, "mp3", tmp_path)
    assert codec == "mp3"
    assert seconds > 0.5  # "Hello, world!" read aloud


def test_an_instagram_voice_clip_is_answered_once_in_text_and_as_m4a(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, voice_note: bytes, tmp_path: Path
) -> None:
    meta_voice_clip(apps, voice_note, "instagram", "ig_VC")
    tasks.reply_to_event("instagram", "ig_VC")

    upload = answered_once_in_text_and_aloud(apps, fake_model, p.IGSID)
    assert upload.fields["platform"] == "instagram"
    name, content_type, data = upload.files["filedata"]
    assert (name, content_type) == ("reply.m4a", "audio/mp4")
    assert data[4:12] == b"ftypM4A "  # an MPEG-4 file whose brand says audio only
    codec, seconds = decoded(data, "mp4", tmp_path)
    assert codec == "aac"
    assert seconds > 0.5


def test_a_refused_voice_upload_leaves_the_answer_in_text(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, voice_note: bytes
) -> None:
    """As for every app: the text went first, the refusal is recorded, and nothing is tried again."""
    apps.fail_content(None, Failure(400, code=100, message="(#100) Upload attachment failure."))
    meta_voice_clip(apps, voice_note, "messenger", "m_VF")
    tasks.reply_to_event("messenger", "m_VF")

    assert sent_texts(apps) == ["Hello, world!"]
    assert len(apps.uploads) == 1
    event = InboundEvent.objects.get()
    assert event.reply_error == "100: (#100) Upload attachment failure."
    assert event.handled_at is not None
    assert list(event.replies.values_list("kind", flat=True)) == ["text"]


def test_a_follow_up_in_the_same_chat_reads_the_photo_again(fake_model: FakeOpenAI, apps: FakeMediaMessaging) -> None:
    apps.add_whatsapp_media(PHOTO_ID, text_photo(["Gate B22 closes 09:40"], image_format="JPEG"), "image/jpeg")
    deliver("whatsapp", whatsapp_media("wamid.FU1", "image", p.WHATSAPP_MEDIA["image"]))
    tasks.reply_to_event("whatsapp", "wamid.FU1")
    deliver("whatsapp", whatsapp_question("wamid.FU2", "When does it close?"))
    tasks.reply_to_event("whatsapp", "wamid.FU2")

    assert sent_texts(apps) == ["Hello, world!", "Hello, world!"]
    photo_turn, answer, question = fake_model.requests[1].chatml_messages[-3:]
    assert photo_turn[0] == "user"
    reading, caption = photo_turn[1].split("</photo>")
    assert "B22" in reading[reading.index("<photo>") :]  # the reading, kept with its message
    assert caption.startswith(f"\n\n{PHOTO_MARKER}")  # then the message's words, last
    assert (answer, question) == (("assistant", "Hello, world!"), ("user", "When does it close?"))
    photo_message = Message.objects.filter(role=Message.Role.USER).order_by("id")[0]
    assert photo_message.photo_reading.count("B22") == 1


def test_with_a_vision_model_the_cleaned_photo_itself_is_sent(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, settings: Settings
) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    vision = asyncio.run_coroutine_threadsafe(FakeVisionServer().start(), loop).result()
    settings.MODEL_VISION_BASE_URL, settings.MODEL_VISION_NAME = vision.base_url, VISION_MODEL
    try:
        apps.add_whatsapp_media(PHOTO_ID, text_photo(["Gate B22"], image_format="JPEG"), "image/jpeg")
        deliver("whatsapp", whatsapp_media("wamid.VS1", "image", p.WHATSAPP_MEDIA["image"]))
        tasks.reply_to_event("whatsapp", "wamid.VS1")
    finally:
        asyncio.run_coroutine_threadsafe(vision.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    assert sent_texts(apps) == ["Hello, world!"]
    assert fake_model.requests == []
    [[seen]] = vision.images
    assert (seen.format, seen.size) == ("JPEG", (1000, 210))  # the photo, re-encoded by the worker
    assert not seen.getexif()
    text = vision.requests[0].body["messages"][-1]["content"][1]["text"]
    assert "Gate B22" in text[text.index("<photo>") :]
