"""`POST /v1/audio/transcriptions` and `POST /v1/audio/speech`, in OpenAI's shapes, on the `media`
worker (`hear_voice_on_worker`, `speak_on_worker`): this process reads the upload with intake's caps
and never decodes audio itself.

Like `/v1/chat/completions`: an API key, the `api` rate limit of its owner and address (counted once
the request is valid, before any work is queued), OpenAI's error object. Nothing is stored: the audio
and the text live for the request only, and no tokens are counted against the daily quota. The text
read aloud passes the input safety check first (as an Imagine prompt does), under the same rules.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from assistant.models import ApiKey
from assistant.openai_compat.protocol import (
    ApiError,
    SpeechRequest,
    Transcription,
    TranscriptionForm,
    parse_json,
    validated,
    wire,
)
from assistant.openai_compat.serving import authenticate, check_method, client_ip, error_response, unavailable
from core import limits
from core.db import database_sync_to_async
from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode
from core.metrics import count_verdict
from media.conf import media_settings
from media.intake import Kind, read_capped
from media.service import hear_voice_on_worker, speak_on_worker
from media.voice import AudioFormat
from safety.conf import safety_settings
from safety.guard import content_guard

SPEECH_STAGE = "api_speech"  # the safety counters' `stage` label for text read aloud through `/v1`
DEFAULT_SPEECH_LANGUAGE = "en"  # for an owner who chose no language: OpenAI's request names none
_AUDIO_FORMATS = {
    "mp3": AudioFormat.MP3,
    "opus": AudioFormat.OGG_OPUS,  # OpenAI's `opus` is Opus in an Ogg file
    "aac": AudioFormat.AAC,
    "flac": AudioFormat.FLAC,
    "wav": AudioFormat.WAV,
}


@csrf_exempt  # authenticated by a bearer key, never by a cookie
async def transcriptions(request: HttpRequest) -> HttpResponse:
    try:
        check_method(request, "POST")
        key = await authenticate(request)
        form, name = await _transcription_form(request)
        await _admit(key, request)
        heard = await hear_voice_on_worker(form.file, declared=name, language=form.language)
    except ApiError as error:
        return error_response(error)
    except AssistantError as error:  # the worker's refusal of the audio (the file's fault), or no worker
        return error_response(ApiError.of(error, param="file" if error.code.http_status < 500 else None))
    text = heard.text.strip()
    if form.response_format == "text":
        return HttpResponse(text, content_type="text/plain; charset=utf-8")
    if form.response_format == "verbose_json":
        return JsonResponse(wire(Transcription(text=text, language=heard.language, duration=round(heard.seconds, 2))))
    return JsonResponse(wire(Transcription(text=text)))


@csrf_exempt
async def speech(request: HttpRequest) -> HttpResponse:
    try:
        check_method(request, "POST")
        key = await authenticate(request)
        body = parse_json(request.body, SpeechRequest)
        _check_input(body.input)
        await _admit(key, request)
        await _check_content(body.input)
        language = key.owner.language or DEFAULT_SPEECH_LANGUAGE
        spoken = await speak_on_worker(body.input, language=language, audio_format=_AUDIO_FORMATS[body.response_format])
    except ApiError as error:
        return error_response(error)
    except AssistantError as error:  # the speaker's failure, or no worker
        return error_response(ApiError.of(error))
    return HttpResponse(spoken.data, content_type=spoken.media_type)


async def _transcription_form(request: HttpRequest) -> tuple[TranscriptionForm, str]:
    """The validated form and the upload's file name (compared with the content on the worker too)."""
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "Send the audio as multipart/form-data, in a field named 'file'.", param="file")
    try:
        fields, files = await asyncio.to_thread(_form_fields, request)
    except MultiPartParserError as error:
        raise ApiError(400, f"The multipart body could not be read: {error}.", param="file") from None
    upload = files.pop("file", None)
    if upload is None:
        raise ApiError(400, "Missing required parameter: 'file'.", param="file")
    data: dict[str, Any] = {**fields, **dict.fromkeys(files, b"")}  # any other file is an unknown argument
    try:
        data["file"], _ = await asyncio.to_thread(read_capped, upload.chunks(), Kind.AUDIO, declared=upload.name)
    except AssistantError as error:
        raise ApiError.of(error, param="file") from None
    return validated(data, TranscriptionForm), upload.name or ""


def _form_fields(request: HttpRequest) -> tuple[dict[str, str], dict[str, Any]]:
    """The text fields (a field sent as text never counts as the file) and the uploads; parsing reads the
    spooled body from disk, so it runs off the event loop."""
    fields = {name: value for name, value in request.POST.dict().items() if name != "file"}
    return fields, request.FILES.dict()


def _check_input(text: str) -> None:
    limit = media_settings().speech_max_chars
    if not text.strip():
        raise ApiError(400, "The input is empty: there is nothing to read aloud.", code="empty_text", param="input")
    if len(text) > limit:
        detail = f"The input has {len(text)} characters; at most {limit} are read aloud."
        raise ApiError(400, detail, code="text_too_long", param="input")


async def _admit(key: ApiKey, request: HttpRequest) -> None:
    """One request of the key's owner and address against the `api` rate limit."""
    try:
        await database_sync_to_async(limits.hit_both)("api", user_id=key.owner_id, ip=client_ip(request))
    except AssistantError as error:
        raise ApiError.of(error) from None
    except DEPENDENCY_ERRORS as exc:
        raise unavailable(exc) from None


async def _check_content(text: str) -> None:
    """The input safety check, as a typed message gets it; with SAFETY_CHECKS off, none. A guard that
    cannot answer follows SAFETY_FAIL_CLOSED."""
    if not safety_settings().checks:
        return
    verdict = await content_guard().check([("user", text)], agent=False)
    count_verdict(verdict, SPEECH_STAGE)
    if verdict.safe:
        return
    if verdict.unavailable:
        raise ApiError.of(
            AssistantError(ErrorCode.SAFETY_UNAVAILABLE, "Our safety check is unavailable right now; please try again.")
        )
    raise ApiError(422, "This text cannot be read aloud: it failed the safety check.", code="blocked", param="input")
