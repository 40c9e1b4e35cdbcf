"""Speaking replies: text → WAV (espeak-ng embedded, or OpenAI's `/v1/audio/speech` in production) →
ffmpeg → what the app plays: OGG/Opus for WhatsApp and Telegram voice notes, MP3 or M4A elsewhere."""

from __future__ import annotations

import base64
import enum
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from core.errors import AssistantError, ErrorCode
from media.conf import media_settings
from media.intake import SNIFF_BYTES, WAV, sniff
from media.processes import ffmpeg, probe, run_tool
from media.remote import post_to_model_server

# espeak-ng's voice for each product language. English uses the `f2` variant: pocketsphinx hears it
# best (word error rate 0.24 against 0.54 for the default voice on the same sentences), a fair proxy
# for a listener's ear with a robotic voice.
ESPEAK_VOICES = {
    "en": "en-us+f2",
    "de": "de",
    "fr": "fr-fr",
    "it": "it",
    "pt": "pt-br",
    "hi": "hi",
    "es": "es",
    "th": "th",
}


class AudioFormat(enum.StrEnum):
    OGG_OPUS = "ogg_opus"  # voice notes: WhatsApp shows the play button only for OGG/Opus up to 512 KB
    MP3 = "mp3"
    M4A = "m4a"
    AAC = "aac"  # ADTS, as OpenAI's `/v1/audio/speech` sends `aac`
    FLAC = "flac"
    WAV = "wav"


_MEDIA_TYPES = {
    AudioFormat.OGG_OPUS: "audio/ogg",
    AudioFormat.MP3: "audio/mpeg",
    AudioFormat.M4A: "audio/mp4",
    AudioFormat.AAC: "audio/aac",
    AudioFormat.FLAC: "audio/flac",
    AudioFormat.WAV: "audio/wav",
}
# Mono speech: 24 kbps Opus is WhatsApp's own voice-note quality (about 3 KB a second).
_ENCODER_ARGUMENTS = {
    AudioFormat.OGG_OPUS: ("-c:a", "libopus", "-b:a", "24k", "-ar", "48000", "-application", "voip", "-f", "ogg"),
    AudioFormat.MP3: ("-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"),
    AudioFormat.M4A: ("-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", "-f", "ipod"),
    AudioFormat.AAC: ("-c:a", "aac", "-b:a", "64k", "-f", "adts"),
    AudioFormat.FLAC: ("-c:a", "flac", "-f", "flac"),
    AudioFormat.WAV: ("-c:a", "pcm_s16le", "-f", "wav"),
}


@dataclass(frozen=True)
class Speech:
    data: bytes
    media_type: str
    audio_format: AudioFormat
    seconds: float
    engine: str  # "espeak-ng" or the served model's name

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the result backend: the audio as base64."""
        return {**asdict(self), "data": base64.b64encode(self.data).decode("ascii")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Speech:
        return cls(
            **{**data, "data": base64.b64decode(data["data"]), "audio_format": AudioFormat(data["audio_format"])}
        )


class Speaker(Protocol):
    engine: str

    def speak(self, text: str, *, language: str) -> bytes:
        """WAV audio of `text` read in `language` (ISO 639-1)."""
        ...


class EspeakSpeaker:
    engine = "espeak-ng"

    def speak(self, text: str, *, language: str) -> bytes:
        voice = ESPEAK_VOICES.get(language, ESPEAK_VOICES["en"])
        # The text goes through stdin (-b 1: UTF-8), so a reply starting with "-" is never an option.
        return run_tool([media_settings().espeak, "-v", voice, "-b", "1", "--stdout"], stdin=text.encode())


class OpenAISpeaker:
    """A client of an OpenAI-compatible `/v1/audio/speech` serving a neural voice."""

    engine = "openai-speech"

    def speak(self, text: str, *, language: str) -> bytes:
        configured = media_settings()
        response = post_to_model_server(
            f"{configured.speech_base_url.rstrip('/')}/audio/speech",
            api_key=configured.speech_api_key,
            timeout=configured.speech_timeout,
            what="text-to-speech",
            json={
                "model": configured.speech_model,
                "input": text,
                "voice": configured.speech_voice,
                "response_format": "wav",
                "stream": False,  # the whole file at once (Kokoro-FastAPI streams unless told)
            },
        )
        if not _is_wav(response.content):
            raise AssistantError(ErrorCode.MODEL_ERROR, "The text-to-speech server sent something that is not WAV.")
        return response.content


def _is_wav(data: bytes) -> bool:
    try:
        return sniff(data[:SNIFF_BYTES]) is WAV
    except AssistantError:  # not audio at all (an HTML error page, nothing)
        return False


def speaker() -> Speaker:
    """The configured voice: the production server when its URL is set, espeak-ng otherwise."""
    return OpenAISpeaker() if media_settings().speech_base_url else EspeakSpeaker()


def synthesize(text: str, *, language: str, audio_format: AudioFormat) -> Speech:
    """`text` read aloud in `language`, encoded as `audio_format`. Raises EMPTY_TEXT, TEXT_TOO_LONG,
    or the speaker's errors."""
    max_chars = media_settings().speech_max_chars
    if not text.strip():
        raise AssistantError(ErrorCode.EMPTY_TEXT, "There is nothing to read aloud.")
    if len(text) > max_chars:
        raise AssistantError(ErrorCode.TEXT_TOO_LONG, f"At most {max_chars} characters are read aloud at once.")
    voice = speaker()
    data, seconds = encode(voice.speak(text, language=language), audio_format)
    return Speech(
        data=data,
        media_type=_MEDIA_TYPES[audio_format],
        audio_format=audio_format,
        seconds=seconds,
        engine=voice.engine,
    )


def encode(wav: bytes, audio_format: AudioFormat) -> tuple[bytes, float]:
    """WAV → `audio_format` in mono, and its duration in seconds."""
    with tempfile.TemporaryDirectory(prefix="media-") as folder:
        output = Path(folder, f"speech.{audio_format}")
        ffmpeg("-f", "wav", "-i", "pipe:0", "-ac", "1", *_ENCODER_ARGUMENTS[audio_format], str(output), stdin=wav)
        return output.read_bytes(), probe(str(output)).duration_seconds or 0.0
