"""The `media` queue end to end: a real Celery worker on Redis reads photos and hears voice notes, and
an async caller here (as the web process will be) awaits the results without decoding anything itself;
a refusal on the worker comes back as the same error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.errors import AssistantError, ErrorCode
from media.intake import PNG
from media.service import hear_voice_on_worker, prepare_photo_on_worker, speak_on_worker
from media.voice import AudioFormat
from tests.media.support import running_media_worker, text_photo

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("media_worker")]

WORKER_START_SECONDS = 90  # the first task waits for the worker to start (Django, Celery, OCR imports)


@pytest.fixture(scope="module")
def media_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with running_media_worker(tmp_path_factory.mktemp("media-worker")):
        yield


@pytest.fixture(autouse=True)
def patient(settings) -> None:
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS


async def test_the_worker_cleans_and_reads_a_photo() -> None:
    photo = await prepare_photo_on_worker(text_photo(["Gate B22 closes 09:40"]))

    assert photo.media_type is PNG
    assert photo.data.startswith(b"\x89PNG")
    assert "".join("".join(line.text.split()) for line in photo.reading.lines) == "GateB22closes09:40"


async def test_a_refusal_on_the_worker_is_raised_to_the_caller() -> None:
    with pytest.raises(AssistantError) as raised:
        await prepare_photo_on_worker(text_photo(["x"]), declared="voice.ogg")

    assert raised.value.code is ErrorCode.FILE_TYPE_MISMATCH


async def test_the_worker_speaks_a_reply_and_hears_it_back() -> None:
    speech = await speak_on_worker(
        "what is the weather like in paris today", language="en", audio_format=AudioFormat.OGG_OPUS
    )
    transcript = await hear_voice_on_worker(speech.data, declared="audio/ogg")

    assert speech.data.startswith(b"OggS")
    assert "weather" in transcript.text.split()  # the words the engine gets right on this sentence
    assert transcript.language == "en"
