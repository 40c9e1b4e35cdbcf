"""Photos and audio on the OpenAI-compatible API: `image_url` content parts in `/v1/chat/completions`
(data URLs, and links fetched through a loopback web server: a contract test of the SSRF-safe
fetcher's path), `/v1/audio/transcriptions` and `/v1/audio/speech`. Django's real ASGI handler runs
the views; a real Celery worker of queue `media` on Redis reads the photos and the audio; the model is
the contract fake of the model server, so what it was told is recorded. Photos are drawn here, voices
are espeak-ng's, made here; every refusal is checked with its code and parameter, and with nothing
stored or sent to the model."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from pytest_django.fixtures import Settings

from assistant.chat import api_keys
from assistant.conf import model_settings
from assistant.door import PHOTO_MARKER
from assistant.models import User
from media.processes import ffmpeg, probe
from safety.guard import content_guard
from tests.assistant.test_openai_api import asgi_client, headers, post, stored_api_conversations
from tests.media.support import generated_audio, running_media_worker, text_photo
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.fake_web import FakeWeb

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_START_SECONDS = 90  # the first task waits for the worker to start (Django, Celery, OCR imports)
QUESTION = "what is the weather like in paris today"  # espeak-ng's en-us+f2 voice; "weather" is heard right
GATE = ["Gate B22 closes 09:40"]
worker = pytest.mark.usefixtures("media_worker")


@pytest.fixture(scope="module")
def media_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with running_media_worker(tmp_path_factory.mktemp("media-worker")):
        yield


@pytest.fixture(autouse=True)
def patient(settings: Settings) -> None:
    """A worker that is still starting is waited for; this module's many requests from one address and
    one owner are not rate limited (the test of the limit sets its own); the guard is off but where a
    test turns it on."""
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS
    unlimited = {"api_per_user": "10000/60", "api_per_ip": "10000/60"}
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, **unlimited}
    settings.SAFETY_CHECKS = False


@pytest.fixture
async def secret() -> str:
    user = await sync_to_async(User.objects.create_user)("ada", password="correct horse")
    return (await sync_to_async(api_keys.create_key)(user=user, name="laptop")).secret


@pytest.fixture
def web() -> Iterator[FakeWeb]:
    with FakeWeb() as server:
        yield server


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}


def with_photo(url: str, question: str = "Which gate?") -> dict[str, Any]:
    content = [{"type": "text", "text": question}, image_part(url)]
    return {"model": model_settings().name, "messages": [{"role": "user", "content": content}]}


def photo_block(prompt: str) -> str:
    return prompt[prompt.index("<photo>") : prompt.index("</photo>")]


def squashed(text: str) -> str:
    """OCR may lose the space between two close words (docs/subsystems/media.md)."""
    return "".join(text.split())


async def assert_refused(
    response: httpx.Response, model: FakeOpenAI, *, status: int, code: str | None, param: str | None, fragment: str
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert fragment in error["message"]
    assert await stored_api_conversations() == []
    assert model.requests == []


# --- image_url parts ------------------------------------------------------------------------------


@pytest.mark.live
@worker
async def test_a_photo_in_a_data_url_is_read_and_its_words_reach_the_prompt(model: FakeOpenAI, secret: str) -> None:
    model.script(Reply(texts=["Gate B22."]), Reply(texts=["Gate B22."]))
    response = await post(secret, with_photo(data_url(text_photo(GATE))))
    text_only = await post(
        secret, {"model": model_settings().name, "messages": [{"role": "user", "content": "Which gate?"}]}
    )

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Gate B22."
    assert "GateB22closes09:40" in squashed(photo_block(model.requests[0].prompt_text or ""))
    [(_, [question, _answer]), _] = await stored_api_conversations()
    assert question.content == f"{PHOTO_MARKER} Which gate?"  # the reading is the prompt's, never stored
    # The reading is part of the prompt, so the usage counts it.
    assert response.json()["usage"]["prompt_tokens"] > text_only.json()["usage"]["prompt_tokens"] + 10


@pytest.mark.live
@worker
async def test_a_photo_link_is_fetched_and_judged_by_its_content(
    model: FakeOpenAI, secret: str, web: FakeWeb, settings: Settings
) -> None:
    settings.SEARCH_FETCH_ALLOWED_HOSTS = [web.host]  # loopback is refused otherwise (the next test)
    url = web.add("/board.jpg", text_photo(GATE, image_format="JPEG"), "image/jpeg")
    response = await post(secret, with_photo(url))

    assert response.status_code == 200, response.text
    assert "GateB22closes09:40" in squashed(photo_block(model.requests[0].prompt_text or ""))
    [seen] = web.seen("/board.jpg")
    assert "image/jpeg" in seen.headers["accept"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/board.png", "127.0.0.1 points to a loopback address"),
        ("https://169.254.169.254/latest/meta-data", "a cloud metadata address"),
        ("http://10.0.0.7/board.png", "a private address"),
        ("https://example.org:8443/board.png", "port 8443 is not a normal web port"),
    ],
)
async def test_a_photo_link_the_ssrf_checks_refuse_is_never_fetched(
    model: FakeOpenAI, secret: str, url: str, reason: str
) -> None:
    response = await post(secret, with_photo(url))

    await assert_refused(response, model, status=400, code="image_download_failed", param="messages", fragment=reason)


async def test_an_allowed_test_server_is_still_refused_off_its_allow_list(
    model: FakeOpenAI, secret: str, web: FakeWeb
) -> None:
    url = web.add("/board.png", text_photo(GATE), "image/png")  # SEARCH_FETCH_ALLOWED_HOSTS is empty here
    response = await post(secret, with_photo(url))

    await assert_refused(response, model, status=400, code="image_download_failed", param="messages", fragment="port")
    assert web.seen("/board.png") == []


@pytest.mark.parametrize(
    ("served", "content_type", "served_status", "status", "code", "fragment"),
    [
        (b"<h1>Not found</h1>", "text/html", 404, 400, "image_download_failed", "answered with HTTP 404"),
        (b"%PDF-1.7\n" + bytes(100), "application/pdf", 200, 415, "unsupported_file_type", "not a photo"),
        (b"OggS" + bytes(100), "image/png", 200, 415, "file_type_mismatch", "A photo was expected"),
        (text_photo(["x"]), "audio/ogg", 200, 415, "file_type_mismatch", "its content is image/png"),
    ],
)
async def test_a_photo_link_that_is_no_photo_is_refused(
    model: FakeOpenAI,
    secret: str,
    web: FakeWeb,
    settings: Settings,
    served: bytes,
    content_type: str,
    served_status: int,
    status: int,
    code: str,
    fragment: str,
) -> None:
    settings.SEARCH_FETCH_ALLOWED_HOSTS = [web.host]
    url = web.add("/file", served, content_type, status=served_status)
    response = await post(secret, with_photo(url))

    await assert_refused(response, model, status=status, code=code, param="messages", fragment=fragment)


async def test_a_photo_link_past_the_byte_cap_stops_being_read(
    model: FakeOpenAI, secret: str, web: FakeWeb, settings: Settings
) -> None:
    settings.SEARCH_FETCH_ALLOWED_HOSTS = [web.host]
    settings.MEDIA_PHOTO_MAX_BYTES = 10_000
    url = web.add("/big.png", text_photo(GATE * 8), "image/png")
    response = await post(secret, with_photo(url))

    await assert_refused(response, model, status=413, code="file_too_large", param="messages", fragment="larger than")


def png_of_size(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.live
@worker
@pytest.mark.parametrize(
    ("photo", "status", "code"),
    [
        (text_photo(GATE, image_format="JPEG")[:1500], 422, "broken_file"),
        (png_of_size(20_000, 20_000), 413, "image_too_many_pixels"),
    ],
)
async def test_a_photo_the_worker_cannot_read_is_refused(
    model: FakeOpenAI, secret: str, photo: bytes, status: int, code: str
) -> None:
    response = await post(secret, with_photo(data_url(photo)))

    await assert_refused(response, model, status=status, code=code, param="messages", fragment="photo")


def two_images() -> dict[str, Any]:
    body = with_photo(data_url(b"x"))
    body["messages"][0]["content"].append(image_part(data_url(b"y")))
    return body


def image_before_the_last_message() -> dict[str, Any]:
    first = with_photo(data_url(b"x"))["messages"][0]
    return {
        "model": model_settings().name,
        "messages": [first, {"role": "assistant", "content": "Gate B22."}, {"role": "user", "content": "Sure?"}],
    }


def image_from_the_assistant() -> dict[str, Any]:
    body = with_photo(data_url(b"x"))
    body["messages"].insert(0, {"role": "assistant", "content": [image_part(data_url(b"x"))]})
    return body


@pytest.mark.parametrize(
    ("body", "status", "code", "param", "fragment"),
    [
        (with_photo("data:image/png;base64,iVBOR*w0K"), 400, "invalid_image_url", "messages", "not valid base64"),
        (with_photo("data:image/png,%89PNG"), 400, "invalid_image_url", "messages", "must be base64"),
        (with_photo("ftp://example.org/a.png"), 400, None, "messages", "data: URL (data:image/png;base64"),
        (with_photo(data_url(b"%PDF-1.7\n" + bytes(80))), 415, "unsupported_file_type", "messages", "not a photo"),
        (with_photo(data_url(b"PK\x03\x04" + bytes(80))), 415, "unsupported_file_type", "messages", "ZIP archive"),
        (with_photo(data_url(b"OggS" + bytes(80), "audio/ogg")), 415, "file_type_mismatch", "messages", "photo"),
        (with_photo(data_url(text_photo(["x"]), "audio/ogg")), 415, "file_type_mismatch", "messages", "audio/ogg"),
        (two_images(), 400, "too_many_images", "messages", "At most one image"),
        (image_before_the_last_message(), 400, "too_many_images", "messages", "Only the last message"),
        (image_from_the_assistant(), 400, None, "messages", "only user messages carry image_url parts"),
    ],
)
async def test_a_bad_image_part_is_refused_with_its_reason(
    model: FakeOpenAI, secret: str, body: dict[str, Any], status: int, code: str | None, param: str, fragment: str
) -> None:
    response = await post(secret, body)

    await assert_refused(response, model, status=status, code=code, param=param, fragment=fragment)


async def test_a_data_url_past_the_byte_cap_is_refused(model: FakeOpenAI, secret: str, settings: Settings) -> None:
    settings.MEDIA_PHOTO_MAX_BYTES = 1_000
    response = await post(secret, with_photo(data_url(text_photo(GATE))))

    await assert_refused(response, model, status=413, code="file_too_large", param="messages", fragment="larger than")


# --- /v1/audio/transcriptions ---------------------------------------------------------------------


def espeak_wav(text: str) -> bytes:
    return subprocess.run(["espeak-ng", "-v", "en-us+f2", "--stdout", text], capture_output=True, check=True).stdout


async def transcribe(secret: str | None, file: tuple[str, bytes, str] | None, **fields: str) -> httpx.Response:
    async with asgi_client() as client:
        return await client.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1", **fields},
            files={"file": file} if file else {"other": ("x.txt", b"x", "text/plain")},
            headers=headers(secret) if secret else {},
        )


@pytest.mark.live
@worker
async def test_a_voice_is_transcribed_in_each_response_format(secret: str) -> None:
    wav = espeak_wav(QUESTION)

    as_json = await transcribe(secret, ("question.wav", wav, "audio/wav"))
    verbose = await transcribe(secret, ("question.wav", wav, "audio/wav"), response_format="verbose_json", prompt="x")
    as_text = await transcribe(secret, ("question.wav", wav, "audio/wav"), response_format="text", language="en")

    assert as_json.status_code == 200, as_json.text
    assert set(as_json.json()) == {"text"}
    assert "weather" in as_json.json()["text"].split()
    body = verbose.json()
    assert body["text"] == as_json.json()["text"]
    assert body["language"] == "en"
    assert 1.5 < body["duration"] < 6
    assert as_text.headers["content-type"].startswith("text/plain")
    assert as_text.text == as_json.json()["text"]


@pytest.mark.live
@worker
async def test_what_the_speech_route_says_the_transcription_route_hears(secret: str) -> None:
    async with asgi_client() as client:
        spoken = await client.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "input": QUESTION, "voice": "alloy", "response_format": "opus"},
            headers=headers(secret),
        )
    heard = await transcribe(secret, ("speech.ogg", spoken.content, spoken.headers["content-type"]))

    assert heard.status_code == 200, heard.text
    assert "weather" in heard.json()["text"].split()


def eleven_minutes(tmp_path: Path) -> bytes:
    """Past MEDIA_VOICE_MAX_SECONDS (10 minutes), yet small: silence at 6 kbps."""
    return generated_audio(tmp_path, "anullsrc=r=16000:cl=mono", 660, "-c:a", "libopus", "-b:a", "6k", name="long.ogg")


def no_sound(tmp_path: Path) -> bytes:
    return b"OggS" + bytes(200)


@pytest.mark.live
@worker
@pytest.mark.parametrize(
    ("make", "status", "code"), [(eleven_minutes, 413, "audio_too_long"), (no_sound, 422, "broken_file")]
)
async def test_audio_the_worker_cannot_hear_is_refused(
    secret: str, tmp_path: Path, make: Callable[[Path], bytes], status: int, code: str
) -> None:
    response = await transcribe(secret, ("note.ogg", make(tmp_path), "audio/ogg"))

    assert response.status_code == status, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, "file")


@pytest.mark.parametrize(
    ("file", "fields", "status", "code", "param", "fragment"),
    [
        (None, {}, 400, None, "file", "Missing required parameter: 'file'"),
        (("photo.ogg", text_photo(["x"]), "audio/ogg"), {}, 415, "file_type_mismatch", "file", "audio was expected"),
        (("voice.png", b"OggS" + bytes(80), "image/png"), {}, 415, "file_type_mismatch", "file", "voice.png"),
        (("a.zip", b"PK\x03\x04" + bytes(80), "application/zip"), {}, 415, "unsupported_file_type", "file", "ZIP"),
        (("a.ogg", b"OggS" + bytes(80), "audio/ogg"), {"response_format": "srt"}, 400, None, "response_format", "json"),
        (("a.ogg", b"OggS" + bytes(80), "audio/ogg"), {"language": "English"}, 400, None, "language", "language"),
        (("a.ogg", b"OggS" + bytes(80), "audio/ogg"), {"colour": "blue"}, 400, None, "colour", "Unrecognized"),
    ],
)
async def test_a_bad_transcription_request_is_refused_with_its_reason(
    secret: str,
    file: tuple[str, bytes, str] | None,
    fields: dict[str, str],
    status: int,
    code: str | None,
    param: str,
    fragment: str,
) -> None:
    response = await transcribe(secret, file, **fields)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert fragment in error["message"]


async def test_an_upload_past_the_byte_cap_is_refused(secret: str, settings: Settings) -> None:
    settings.MEDIA_VOICE_MAX_BYTES = 1_000
    response = await transcribe(secret, ("long.wav", espeak_wav(QUESTION), "audio/wav"))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


async def test_a_transcription_needs_a_key_a_post_and_a_form(secret: str) -> None:
    async with asgi_client() as client:
        keyless = await transcribe(None, ("a.wav", b"RIFF", "audio/wav"))
        got = await client.get("/v1/audio/transcriptions", headers=headers(secret))
        as_json = await client.post("/v1/audio/transcriptions", json={"model": "x"}, headers=headers(secret))

    assert (keyless.status_code, keyless.json()["error"]["code"]) == (401, "missing_api_key")
    assert (got.status_code, got.json()["error"]["code"]) == (405, "method_not_allowed")
    assert (as_json.status_code, as_json.json()["error"]["param"]) == (400, "file")


# --- /v1/audio/speech -----------------------------------------------------------------------------


async def speak(secret: str, **overrides: Any) -> httpx.Response:
    body = {"model": "tts-1", "input": "Your train leaves from platform seven.", "voice": "alloy", **overrides}
    async with asgi_client() as client:
        return await client.post("/v1/audio/speech", content=json.dumps(body), headers=headers(secret))


@pytest.mark.live
@worker
@pytest.mark.parametrize(
    ("response_format", "media_type", "codec"),
    [
        ("mp3", "audio/mpeg", "mp3"),
        ("opus", "audio/ogg", "opus"),
        ("aac", "audio/aac", "aac"),
        ("flac", "audio/flac", "flac"),
        ("wav", "audio/wav", "pcm_s16le"),
    ],
)
async def test_speech_comes_back_as_decodable_audio_of_the_asked_format(
    secret: str, tmp_path: Path, response_format: str, media_type: str, codec: str
) -> None:
    response = await speak(secret, response_format=response_format)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    path = tmp_path / f"speech.{response_format}"
    path.write_bytes(response.content)
    facts = probe(str(path))
    assert facts.audio_codec == codec
    pcm = ffmpeg("-i", str(path), "-ac", "1", "-ar", "16000", "-f", "s16le", "-")  # decoded whole, or ToolFailed
    assert len(pcm) / 32_000 > 1.5  # seconds of speech


@pytest.mark.parametrize(
    ("overrides", "code", "param", "fragment"),
    [
        ({"input": "   "}, "empty_text", "input", "nothing to read aloud"),
        ({"input": "a" * 4097}, "text_too_long", "input", "at most 4096"),
        ({"input": "a\u0000b"}, None, None, "NUL"),
        ({"response_format": "pcm"}, None, "response_format", "'mp3'"),
        ({"speed": 1.5}, None, "speed", "only speed 1.0 is supported"),
        ({"voice": ""}, None, "voice", "'voice'"),
        ({"instructions": "whisper"}, None, "instructions", "Unrecognized request argument"),
        ({"model": None}, None, "model", "'model'"),
    ],
)
async def test_a_bad_speech_request_is_refused_with_its_reason(
    secret: str, overrides: dict[str, Any], code: str | None, param: str | None, fragment: str
) -> None:
    response = await speak(secret, **overrides)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert fragment in error["message"]


async def test_text_the_guard_refuses_is_not_read_aloud(secret: str, settings: Settings) -> None:
    async with FakeGuard(default=GuardReply(text="unsafe\nS1")) as guard:
        settings.SAFETY_CHECKS = True
        settings.SAFETY_GUARD_BASE_URL = guard.base_url
        content_guard.cache_clear()
        try:
            response = await speak(secret, input="Something the guard refuses.")
        finally:
            content_guard.cache_clear()

    assert response.status_code == 422
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("blocked", "input")
    assert "Something the guard refuses." in guard.requests[0].prompt_text


async def test_audio_requests_count_against_the_api_rate_limit(secret: str, settings: Settings) -> None:
    cache.clear()
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "api_per_user": "1/3600"}
    settings.MEDIA_WAIT_SECONDS = 1  # no worker needs to answer: the limit is counted before the work is queued

    invalid = await speak(secret, input="   ")
    admitted = await speak(secret, input="Hello")
    limited = await transcribe(secret, ("a.wav", espeak_wav("hello"), "audio/wav"))

    assert invalid.status_code == 400  # an invalid request is not counted
    assert admitted.status_code != 429
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(limited.headers["Retry-After"]) > 0


async def test_photos_count_against_the_api_rate_limit_before_they_are_read(
    model: FakeOpenAI, secret: str, settings: Settings
) -> None:
    cache.clear()
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "api_per_user": "1/3600"}
    question = {"model": model_settings().name, "messages": [{"role": "user", "content": "Which gate?"}]}
    admitted = await post(secret, question)
    # Not a photo at all: read first, it would be refused as such; counted first, it is never read.
    limited = await post(secret, with_photo(data_url(b"GIF89a? no, plain text", "image/gif")))

    assert admitted.status_code == 200, admitted.text
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert len(model.requests) == 1
