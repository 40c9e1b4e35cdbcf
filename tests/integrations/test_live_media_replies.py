"""Photos and voice notes answered in the messaging apps, end to end but for the model: webhook →
stored event → reply task → the app's media download (the contract fake's, in the apps' wire formats)
→ a real Celery worker of queue `media` on Redis (OCR, transcription) → the turn → the app. The model
is the contract fake of the model server, so what it was told is recorded; the voice notes are
espeak-ng's speech, made here."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from assistant.door import PHOTO_MARKER
from assistant.models import Message
from core.errors import AssistantError, ErrorCode
from integrations import tasks
from integrations.events import EventKind
from integrations.media import refusal_sentence
from integrations.models import InboundEvent
from media.voice import AudioFormat, synthesize
from tests.assistant.test_vision_turns import VISION_MODEL, FakeVisionServer
from tests.integrations import payloads as p
from tests.integrations.fake_media import FakeMediaMessaging
from tests.integrations.test_media_replies import PHOTO_ID, VOICE_ID, whatsapp_media
from tests.integrations.test_replies import deliver, sent_texts, whatsapp_question
from tests.media.support import running_media_worker, text_photo
from tests.support.fake_guard import FakeGuard
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_worker")]

# The first task waits for the worker to start (Django, Celery, OCR imports; slow on a busy machine).
WORKER_START_SECONDS = 180
QUESTION = "what is the weather like in paris today"  # espeak-ng's en-us+f2 voice; "weather" is heard right


@pytest.fixture(scope="module")
def media_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with running_media_worker(tmp_path_factory.mktemp("media-worker")):
        yield


@pytest.fixture(autouse=True)
def patient(settings: Settings) -> None:
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS


@pytest.fixture(scope="module")
def voice_note() -> bytes:
    return synthesize(QUESTION, language="en", audio_format=AudioFormat.OGG_OPUS).data


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


def test_a_messenger_voice_clip_is_answered_in_text_only(
    fake_model: FakeOpenAI, apps: FakeMediaMessaging, voice_note: bytes
) -> None:
    attachment = {"type": "audio", "payload": {"url": apps.add_cdn_file("audioclip-1767000000.ogg", voice_note)}}
    item = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_VC", "attachments": [attachment]})
    deliver("messenger", p.messaging_delivery("page", item))
    tasks.reply_to_event("messenger", "m_VC")

    assert sent_texts(apps) == ["Hello, world!"]
    assert apps.uploads == []  # Messenger replies stay text
    assert "weather" in user_message().content.split()


def test_a_follow_up_in_the_same_chat_reads_the_photo_again(fake_model: FakeOpenAI, apps: FakeMediaMessaging) -> None:
    apps.add_whatsapp_media(PHOTO_ID, text_photo(["Gate B22 closes 09:40"], image_format="JPEG"), "image/jpeg")
    deliver("whatsapp", whatsapp_media("wamid.FU1", "image", p.WHATSAPP_MEDIA["image"]))
    tasks.reply_to_event("whatsapp", "wamid.FU1")
    deliver("whatsapp", whatsapp_question("wamid.FU2", "When does it close?"))
    tasks.reply_to_event("whatsapp", "wamid.FU2")

    assert sent_texts(apps) == ["Hello, world!", "Hello, world!"]
    photo_turn, answer, question = fake_model.requests[1].chatml_messages[-3:]
    assert photo_turn[0] == "user"
    assert photo_turn[1].startswith(PHOTO_MARKER)
    assert "B22" in photo_turn[1][photo_turn[1].index("<photo>") :]  # the reading, kept with its message
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
