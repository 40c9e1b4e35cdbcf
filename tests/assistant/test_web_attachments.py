"""Photos and voice messages from the web chat (assistant/web/attachments.py): uploads read by a real
`media` worker (Celery on Redis), kept as files in the storage, and refused by their bytes, sent once
with a chat message over the real consumer, the photo's reading in the prompt the model gets (the model
is the OpenAI contract fake), and answers read aloud and kept. Photos are drawn and voice is spoken
(espeak-ng) here."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from pytest_django.fixtures import Settings

from assistant.chat import services
from assistant.chat.attachments import MessageAttachment
from assistant.door import PHOTO_MARKER, TurnRequest, answer_in_full
from assistant.models import Channel, Message, User
from assistant.web.attachments import AnswerSpeech, speakable
from integrations import services as messaging
from media.processes import ffmpeg
from media.voice import AudioFormat, synthesize
from tests.assistant.test_door import Socket
from tests.integrations.test_media_replies import noise_png
from tests.media.support import running_media_worker, text_photo
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

WORKER_START_SECONDS = 90  # the first task waits for the worker to start (Django, Celery, OCR imports)
QUESTION = "what is the weather like in paris today"
GPS_TAG = 0x8825  # EXIF's GPSInfo pointer


@pytest.fixture(scope="module")
def media_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with running_media_worker(tmp_path_factory.mktemp("media-worker")):
        yield


@pytest.fixture(autouse=True)
def patient(media_worker: None, settings: Settings, tmp_path: Path) -> None:
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}


@pytest.fixture
def person() -> User:
    return services.create_guest()


def browser_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(client: Client, data: bytes, name: str, content_type: str = "application/octet-stream") -> Any:
    return client.post("/api/attachments", {"file": SimpleUploadedFile(name, data, content_type=content_type)})


def photo_with_gps() -> bytes:
    """A JPEG of printed text carrying an EXIF GPS position, as a phone camera writes it."""
    image = Image.open(io.BytesIO(text_photo(["Gate B22 closes 09:40"])))
    exif = Image.Exif()
    exif[GPS_TAG] = {1: "N", 2: (48.0, 51.0, 24.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def spoken(text: str) -> bytes:
    return synthesize(text, language="en", audio_format=AudioFormat.OGG_OPUS).data


# --- uploads -------------------------------------------------------------------------------------------


def test_a_photo_is_read_and_kept_without_its_metadata(person: User) -> None:
    client = browser_of(person)
    original = photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(GPS_TAG) is not None

    response = upload(client, original, "IMG_0001.jpg", "image/jpeg")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["transcript"], body["duration"]) == ("photo", None, None)
    assert "GateB22" in "".join(body["reading"].split())  # the OCR read the printed line
    served = client.get(body["url"])
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    kept = MessageAttachment.objects.get().read_file()
    assert b"".join(served.streaming_content) == kept
    assert dict(Image.open(io.BytesIO(kept)).getexif()) == {}


def test_a_voice_message_is_transcribed(person: User) -> None:
    client = browser_of(person)
    response = upload(client, spoken(QUESTION), "voice", "audio/webm")  # the content decides: OGG

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "voice"
    assert "weather" in body["transcript"].split()
    assert body["language"] == "en"
    assert 1.5 < body["duration"] < 6
    served = client.get(body["url"])
    assert served["Content-Type"] == "audio/ogg"
    assert b"".join(served.streaming_content).startswith(b"OggS")


@pytest.mark.parametrize(
    ("data", "name", "code", "status"),
    [
        (b"%PDF-1.7\n" + b"0" * 200, "notes.pdf", "unsupported_file_type", 415),
        (b"", "empty.png", "unsupported_file_type", 415),
        (text_photo(["not a voice"]), "voice.ogg", "file_type_mismatch", 415),
    ],
)
def test_what_is_not_a_photo_or_a_recording_is_refused_and_not_kept(
    person: User, data: bytes, name: str, code: str, status: int
) -> None:
    response = upload(browser_of(person), data, name)

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert not MessageAttachment.objects.exists()


def test_a_photo_past_its_cap_is_refused_while_it_is_read(person: User, settings: Settings) -> None:
    settings.MEDIA_PHOTO_MAX_BYTES = 2**20  # the voice cap stays 20 MiB: the body passes the first check
    response = upload(browser_of(person), noise_png(800), "big.png", "image/png")

    assert (response.status_code, response.json()["error"]["code"]) == (413, "file_too_large")
    assert "larger than 1 MB" in response.json()["error"]["detail"]
    assert not MessageAttachment.objects.exists()


def test_a_body_past_every_cap_is_refused_before_it_is_read(person: User, settings: Settings) -> None:
    settings.MEDIA_PHOTO_MAX_BYTES = settings.MEDIA_VOICE_MAX_BYTES = 2**20
    response = upload(browser_of(person), noise_png(800), "big.png", "image/png")

    assert (response.status_code, response.json()["error"]["code"]) == (413, "file_too_large")


def test_an_upload_is_shown_to_its_owner_only(person: User) -> None:
    stored = upload(browser_of(person), text_photo(["mine"]), "mine.png", "image/png").json()
    stranger = browser_of(services.create_guest())

    response = stranger.get(stored["url"])

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


# --- sent with a chat message ------------------------------------------------------------------------


def _message(attachment_id: int, client_id: str, text: str = "", conversation_id: int | None = None) -> dict:
    frame = {"type": "message", "text": text, "client_id": client_id, "attachment_id": attachment_id}
    return frame | ({"conversation_id": conversation_id} if conversation_id else {})


async def _uploaded(user: User, data: bytes, name: str) -> int:
    response = await sync_to_async(upload)(await sync_to_async(browser_of)(user), data, name)
    assert response.status_code == 201, response.content
    return response.json()["id"]


async def test_a_photo_sent_with_a_message_reaches_the_prompt_and_the_thread(model: FakeOpenAI) -> None:
    person = await sync_to_async(services.create_guest)()
    photo_id = await _uploaded(person, text_photo(["Platform 7 Coach 12"]), "ticket.png")

    async with Socket(person) as socket:
        await socket.send(_message(photo_id, "p1", text="Which coach?"))
        frames = await socket.until_done()

    ack = frames[0]
    assert (ack["type"], frames[-1]["finish_reason"]) == ("ack", "stop")
    prompt = model.requests[0].prompt_text or ""
    assert "<photo>" in prompt
    assert "Coach12" in "".join(prompt.split())
    stored = await Message.objects.aget(pk=ack["user_message_id"])
    assert stored.content == f"{PHOTO_MARKER} Which coach?"
    client = await sync_to_async(browser_of)(person)
    listed = await sync_to_async(client.get)(f"/api/conversations/{ack['conversation_id']}/messages")
    question, answer = listed.json()["messages"]
    assert (question["attachment"]["id"], question["attachment"]["kind"]) == (photo_id, "photo")
    assert answer["attachment"] is None


async def test_a_voice_message_is_sent_as_its_transcript(model: FakeOpenAI) -> None:
    person = await sync_to_async(services.create_guest)()
    voice_id = await _uploaded(person, await sync_to_async(spoken)(QUESTION), "voice.ogg")

    async with Socket(person) as socket:
        await socket.send(_message(voice_id, "v1", text="typed too"))  # a voice message carries no typing
        refused = await socket.next()
        await socket.send(_message(voice_id, "v2"))
        frames = await socket.until_done()

    assert (refused["type"], refused["code"]) == ("error", "invalid_frame")
    stored = await Message.objects.aget(pk=frames[0]["user_message_id"])
    assert "weather" in stored.content.split()
    assert "weather" in (model.requests[0].prompt_text or "")


async def test_an_attachment_is_sent_once_and_only_by_its_owner(model: FakeOpenAI) -> None:
    person = await sync_to_async(services.create_guest)()
    stranger = await sync_to_async(services.create_guest)()
    photo_id = await _uploaded(person, text_photo(["Seat 48"]), "seat.png")

    async with Socket(stranger) as socket:
        await socket.send(_message(photo_id, "s1"))
        stolen = await socket.next()
    async with Socket(person) as socket:
        await socket.send(_message(photo_id, "a1"))
        first = await socket.until_done()
        conversation_id = first[0]["conversation_id"]
        await socket.send(_message(photo_id, "a1"))  # the page missed the ack and sends it again
        retried = await socket.until_done()
        await socket.send(_message(photo_id, "a2", text="again?", conversation_id=conversation_id))
        reused = await socket.next()

    assert (stolen["type"], stolen["code"]) == ("error", "not_found")
    assert retried[0] == first[0]
    assert (reused["type"], reused["code"], reused["client_id"]) == ("error", "attachment_used", "a2")
    assert len(model.requests) == 1
    assert await Message.objects.filter(role=Message.Role.USER).acount() == 1


async def test_a_refused_turn_frees_its_attachment(model: FakeOpenAI, settings: Settings) -> None:
    person = await sync_to_async(services.create_guest)()
    photo_id = await _uploaded(person, text_photo(["Seat 48"]), "seat.png")
    settings.ASSISTANT_MAX_MESSAGE_CHARS = 12  # "[photo] ok" fits, the long caption does not

    async with Socket(person) as socket:
        await socket.send(_message(photo_id, "t1", text="a caption far too long"))
        refused = await socket.next()
        await socket.send(_message(photo_id, "t2", text="ok"))
        frames = await socket.until_done()

    assert (refused["type"], refused["code"]) == ("error", "text_too_long")
    assert frames[-1]["finish_reason"] == "stop"
    kept = await MessageAttachment.objects.aget(pk=photo_id)
    assert kept.message_id == frames[0]["user_message_id"]


# --- answers read aloud ------------------------------------------------------------------------------


def test_an_answer_is_made_speakable() -> None:
    text = "**Paris** is sunny [1].\n\n```python\nprint('x')\n```\nSee [the forecast](https://example.com)."

    assert speakable(text, 4096) == "Paris is sunny .\n\n \nSee the forecast."
    assert speakable("One. Two. Three.", 12) == "One. Two."


async def test_an_answer_is_read_aloud_once_and_kept(settings: Settings) -> None:
    async with FakeOpenAI(default=Reply(texts=("It is sunny ", "in Paris today."))) as fake:
        settings.MODEL_BASE_URL = fake.base_url
        settings.ASSISTANT_MODEL_TITLES = False
        settings.SAFETY_CHECKS = False
        person = await sync_to_async(services.create_guest)()
        request = TurnRequest(channel=Channel.WEB, user=person, text="Weather?", client_id="w1")
        await answer_in_full(request)
    answer = await Message.objects.aget(role=Message.Role.ASSISTANT)
    client = await sync_to_async(browser_of)(person)

    first = await sync_to_async(client.get)(f"/api/messages/{answer.pk}/speech")
    second = await sync_to_async(client.get)(f"/api/messages/{answer.pk}/speech")
    question = await sync_to_async(client.get)(f"/api/messages/{answer.reply_to_id}/speech")

    assert (first.status_code, first["Content-Type"]) == (200, "audio/mpeg")
    assert second.content == first.content
    assert await AnswerSpeech.objects.acount() == 1
    assert await sync_to_async(_seconds_of_mp3)(first.content) > 1.0
    assert question.status_code == 404


def _seconds_of_mp3(data: bytes) -> float:
    """Decodes the whole file with ffmpeg: an MP3 that does not decode fails here."""
    pcm = ffmpeg("-f", "mp3", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1", stdin=data)
    return len(pcm) / 32000  # 16-bit mono at 16 kHz


def test_the_voice_replies_switch_is_kept_on_the_account(person: User) -> None:
    client = browser_of(person)
    response = client.patch("/api/settings", json.dumps({"voice_replies": True}), content_type="application/json")

    assert response.json()["voice_replies"] is True
    person.refresh_from_db()
    assert person.voice_replies is True


def test_with_voice_replies_on_every_messaging_reply_is_read_aloud(person: User) -> None:
    """In every app (each plays voice notes: test_live_media_replies.py); a typed question gets a voice
    note too, in the person's language."""
    replies = [messaging.ReplyText("It is sunny in Paris.")]
    assert messaging._read_aloud(replies, None, person) == []

    person.voice_replies, person.language = True, "fr"

    assert messaging._read_aloud(replies, None, person) == [messaging.ReplyVoice("It is sunny in Paris.", "fr")]
