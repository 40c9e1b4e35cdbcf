"""The media toolkit's use cases, each runnable here (what the `media` worker does) or on that worker
from async code (`…_on_worker`, what the web process and the channels call: the web process never
decodes audio or images itself)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.celery_results import TaskFailed, await_result
from core.errors import AssistantError, ErrorCode
from media.conf import media_settings
from media.intake import JPEG, PNG, Kind, MediaType, accept, clean_photo, decode_voice
from media.ocr import PhotoReading, read_photo
from media.speech import Transcript, transcriber
from media.voice import AudioFormat, Speech

RESULT_POLL_SECONDS = 0.05
_CLEAN_PHOTO_TYPES = {JPEG.mime: JPEG, PNG.mime: PNG}  # what `clean_photo` writes


@dataclass(frozen=True)
class PreparedPhoto:
    data: bytes  # the photo to store: re-encoded, without metadata
    media_type: MediaType
    reading: PhotoReading  # what the model is told about it

    def to_json(self) -> dict[str, Any]:
        return {"data": _b64(self.data), "media_type": self.media_type.mime, "reading": self.reading.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreparedPhoto:
        return cls(
            data=base64.b64decode(data["data"]),
            media_type=_CLEAN_PHOTO_TYPES[data["media_type"]],
            reading=PhotoReading.from_json(data["reading"]),
        )


def prepare_photo(data: bytes, *, declared: str = "") -> PreparedPhoto:
    """Check, clean and read a photo (intake, then OCR). Raises intake's errors."""
    photo = clean_photo(data, accept(data, Kind.PHOTO, declared=declared))
    return PreparedPhoto(data=photo.data, media_type=photo.media_type, reading=read_photo(photo.image))


def hear_voice(data: bytes, *, declared: str = "", language: str | None = None) -> Transcript:
    """Check, decode and transcribe a voice note. Raises intake's and the recogniser's errors."""
    voice = decode_voice(data, accept(data, Kind.AUDIO, declared=declared))
    return transcriber().transcribe(voice, language=language)


# --- from async code, on the `media` worker ------------------------------------------------------------


async def prepare_photo_on_worker(data: bytes, *, declared: str = "") -> PreparedPhoto:
    from media.tasks import prepare_photo_task

    return PreparedPhoto.from_json(await _on_worker(prepare_photo_task, _b64(data), declared))


async def hear_voice_on_worker(data: bytes, *, declared: str = "", language: str | None = None) -> Transcript:
    from media.tasks import hear_voice_task

    return Transcript.from_json(await _on_worker(hear_voice_task, _b64(data), declared, language))


async def speak_on_worker(text: str, *, language: str, audio_format: AudioFormat) -> Speech:
    from media.tasks import speak_task

    return Speech.from_json(await _on_worker(speak_task, text, language, str(audio_format)))


async def _on_worker(task: Task, *arguments: Any) -> dict[str, Any]:
    """The task's result; its refusal raised here as the same AssistantError. Raises WORKER_UNAVAILABLE
    when the broker is down, no `media` worker answers within MEDIA_WAIT_SECONDS or the task failed."""
    wait_seconds = media_settings().wait_seconds
    try:
        pending = await asyncio.to_thread(task.delay, *arguments)
        outcome = await await_result(pending, wait_seconds=wait_seconds, poll_seconds=RESULT_POLL_SECONDS)
    except (BrokerUnavailable, TimeoutError, TaskFailed) as error:
        raise AssistantError(
            ErrorCode.WORKER_UNAVAILABLE, "Photos and voice notes cannot be processed right now; please try again."
        ) from error
    if "error" in outcome:
        raise AssistantError(ErrorCode(outcome["error"]["code"]), outcome["error"]["detail"])
    return outcome["result"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
