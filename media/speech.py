"""Hearing voice notes: 16 kHz mono PCM (intake's `decode_voice`) → a `Transcript` with its language.

- Embedded: pocketsphinx's US English model, shipped inside the `pocketsphinx` wheel. It knows English
  only, so the language is "en" *assumed* (`language_detected=False`), never presented as detected; on
  espeak-ng speech its word error rate is stated in docs/subsystems/media.md.
- Production (MEDIA_TRANSCRIPTION_BASE_URL set): OpenAI's `/v1/audio/transcriptions`, as vLLM serves
  Whisper. From vLLM 0.17 a request without `language` has Whisper detect it (one constrained decoding
  step over the language tokens of the first 30 s) and `verbose_json` answers the language heard: the
  transcript's language is then *detected* (`language_detected=True`), so the answer and its voice
  follow what was spoken, whatever the account's setting. OpenAI's own server names the language in
  English words ("french"), vLLM by its ISO 639-1 code; both are read. An older vLLM (0.11: `json` or
  `text` only, and English without `language`) is served with MEDIA_TRANSCRIPTION_DETECT_LANGUAGE=false:
  the person's language is sent when known, and the transcript's language is that one, or English,
  *assumed* (`language_detected=False`), never presented as detected.
"""

from __future__ import annotations

import functools
import io
import re
import wave
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import httpx
from django.conf.locale import LANG_INFO
from pocketsphinx import Decoder

from core.errors import AssistantError, ErrorCode
from media.conf import media_settings
from media.intake import SPEECH_SAMPLE_RATE, VoicePcm
from media.remote import post_to_model_server

EMBEDDED_LANGUAGE = "en"  # the only language pocketsphinx's bundled model knows
WHISPER_DEFAULT_LANGUAGE = "en"  # what an older vLLM transcribes as when no language is sent


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str  # ISO 639-1
    language_detected: bool  # False: the recogniser knows one language and `language` is that one
    confidence: float | None  # the recogniser's own score for the words, 0 to 1; None: it gave none
    seconds: float  # of audio heard
    engine: str  # "pocketsphinx" or the served model's name

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transcript:
        return cls(**data)


class Transcriber(Protocol):
    def transcribe(self, voice: VoicePcm, *, language: str | None = None) -> Transcript:
        """`language`: the user's language when known (a hint the production server may use)."""
        ...


class PocketsphinxTranscriber:
    """pocketsphinx in process: about 0.2 s to load, faster than real time on one core."""

    def __init__(self) -> None:
        self._decoder = Decoder(samprate=SPEECH_SAMPLE_RATE, loglevel="FATAL")

    def transcribe(self, voice: VoicePcm, *, language: str | None = None) -> Transcript:
        self._decoder.start_utt()
        self._decoder.process_raw(voice.pcm, full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        return Transcript(
            text=hypothesis.hypstr if hypothesis else "",
            language=EMBEDDED_LANGUAGE,
            language_detected=False,
            confidence=None,  # its posterior needs a lattice pass that doubles the time; not worth it here
            seconds=voice.seconds,
            engine="pocketsphinx",
        )


class WhisperTranscriber:
    """A client of an OpenAI-compatible `/v1/audio/transcriptions` (vLLM serving Whisper)."""

    def transcribe(self, voice: VoicePcm, *, language: str | None = None) -> Transcript:
        configured = media_settings()
        detect = configured.transcription_detect_language
        form = {
            "model": configured.transcription_model,
            "response_format": "verbose_json" if detect else "json",
            "temperature": "0",
        }
        if language and not detect:
            form["language"] = language
        body = post_to_model_server(
            f"{configured.transcription_base_url.rstrip('/')}/audio/transcriptions",
            api_key=configured.transcription_api_key,
            timeout=configured.transcription_timeout,
            what="speech recognition",
            data=form,
            files={"file": ("voice.wav", _wav(voice.pcm), "audio/wav")},
        )
        return _transcript_from(body, voice, model=configured.transcription_model, hint=language)


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SPEECH_SAMPLE_RATE)
        writer.writeframes(pcm)
    return out.getvalue()


def _transcript_from(response: httpx.Response, voice: VoicePcm, *, model: str, hint: str | None) -> Transcript:
    try:
        body = response.json()
        text = str(body["text"]).strip()
    except (ValueError, KeyError, TypeError) as error:
        raise AssistantError(
            ErrorCode.MODEL_ERROR, "The speech recogniser sent an answer we could not read."
        ) from error
    heard = _language_code(body.get("language"))
    return Transcript(
        text=text,
        language=heard or hint or WHISPER_DEFAULT_LANGUAGE,
        language_detected=heard is not None,
        confidence=None,
        seconds=voice.seconds,
        engine=model,
    )


def _language_code(named: object) -> str | None:
    """The ISO 639-1 code of the language a server says it heard: vLLM sends the code ("fr"), OpenAI
    the English name ("french"); None for none, or a name no locale table knows."""
    if not isinstance(named, str) or not named.strip():
        return None
    wanted = named.strip().lower()
    if len(wanted) == 2 and wanted.isalpha():
        return wanted
    return _CODES_BY_NAME.get(wanted)


# English language names to codes, from Django's locale table ("french" → "fr"); two-letter codes only.
_CODES_BY_NAME = {info["name"].lower(): code for code, info in LANG_INFO.items() if "name" in info and len(code) == 2}


@functools.cache
def embedded_transcriber() -> PocketsphinxTranscriber:
    return PocketsphinxTranscriber()


def transcriber() -> Transcriber:
    """The configured recogniser: the production server when its URL is set, pocketsphinx otherwise."""
    return WhisperTranscriber() if media_settings().transcription_base_url else embedded_transcriber()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of the reference, over lower-cased words
    without punctuation."""
    expected, heard = _words(reference), _words(hypothesis)
    previous = list(range(len(heard) + 1))
    for row, word in enumerate(expected, start=1):
        current = [row]
        for column, candidate in enumerate(heard, start=1):
            current.append(min(previous[column] + 1, current[-1] + 1, previous[column - 1] + (word != candidate)))
        previous = current
    return previous[-1] / max(len(expected), 1)


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())
