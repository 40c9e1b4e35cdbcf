"""Celery tasks on queue `media`: every decode of a photo or a voice note, OCR, transcription and speech
happens on that queue's workers. Bytes cross the broker as base64; a refusal comes back as
{"error": {"code", "detail"}} (the caller raises it again), a result as {"result": …}."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task

from core.errors import AssistantError
from media.service import hear_voice, prepare_photo
from media.voice import AudioFormat, synthesize

logger = logging.getLogger(__name__)

MEDIA_QUEUE = "media"
# Far above any accepted input's work (a 10-minute voice note transcribes in a few minutes on one core):
# each child process has its own timeout well inside this.
TASK_TIME_LIMIT_SECONDS = 600


def _outcome(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"result": work()}
    except AssistantError as refusal:
        logger.info("media: refused: %s (%s)", refusal.code, refusal.detail)
        return {"error": {"code": str(refusal.code), "detail": refusal.detail}}


@shared_task(queue=MEDIA_QUEUE, ignore_result=False, time_limit=TASK_TIME_LIMIT_SECONDS)
def prepare_photo_task(data: str, declared: str = "") -> dict[str, Any]:
    return _outcome(lambda: prepare_photo(base64.b64decode(data), declared=declared).to_json())


@shared_task(queue=MEDIA_QUEUE, ignore_result=False, time_limit=TASK_TIME_LIMIT_SECONDS)
def hear_voice_task(data: str, declared: str = "", language: str | None = None) -> dict[str, Any]:
    return _outcome(lambda: hear_voice(base64.b64decode(data), declared=declared, language=language).to_json())


@shared_task(queue=MEDIA_QUEUE, ignore_result=False, time_limit=TASK_TIME_LIMIT_SECONDS)
def speak_task(text: str, language: str, audio_format: str) -> dict[str, Any]:
    return _outcome(lambda: synthesize(text, language=language, audio_format=AudioFormat(audio_format)).to_json())
