"""The media package's settings: one `MediaSettings`, read from Django settings by `media_settings()`.

Each field is the Django setting `MEDIA_<FIELD>` and its default is stated here only. The caps follow
what the messaging apps themselves send: WhatsApp's images are at most 5 MB and its audio 16 MB,
Telegram's bots download at most 20 MB; a phone camera's photo is 12 to 50 megapixels.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import BaseModel, ConfigDict, Field

MIB = 2**20


class MediaSettings(BaseModel):
    model_config = ConfigDict(alias_generator=lambda field: f"MEDIA_{field.upper()}", from_attributes=True, frozen=True)

    photo_max_bytes: int = 20 * MIB  # an upload or download of a photo stops reading past this
    voice_max_bytes: int = 20 * MIB  # the same for voice notes and other audio
    photo_max_pixels: int = 50_000_000  # width × height, checked from the header before decoding
    # The photo kept and sent on is scaled to this longer side (OCR reads the full resolution first):
    # Llama 3.2 Vision sees a 4:3 or 16:9 photo as at most 2×2 tiles of 560×560 pixels.
    photo_max_side: int = Field(1120, ge=1)
    voice_max_seconds: float = 600.0  # a voice note longer than this is refused, not cut
    ffmpeg: str = ""  # path of the ffmpeg binary; "": the one imageio-ffmpeg ships
    espeak: str = "espeak-ng"  # the embedded text-to-speech (Debian's espeak-ng)
    process_timeout: float = 120.0  # seconds one ffmpeg or espeak-ng run may take
    ocr_min_confidence: float = 0.5  # OCR lines below this confidence are left out of the description
    # Production transcription: an OpenAI-compatible `/v1/audio/transcriptions` (vLLM serving Whisper).
    transcription_base_url: str = ""  # base URL (…/v1); "": pocketsphinx in process (English only)
    transcription_model: str = "openai/whisper-large-v3-turbo"
    transcription_api_key: str = Field("", repr=False)
    transcription_timeout: float = 60.0
    # The server names the language it heard (vLLM ≥ 0.17 detects it for Whisper and answers it in
    # `verbose_json`); false for an older server, which is then told the person's language instead.
    transcription_detect_language: bool = True
    # Production text-to-speech: an OpenAI-compatible `/v1/audio/speech`.
    speech_base_url: str = ""  # base URL (…/v1); "": espeak-ng in process
    speech_model: str = "tts-1"
    speech_voice: str = "alloy"  # the voice name sent to that server
    speech_api_key: str = Field("", repr=False)
    speech_timeout: float = 60.0
    speech_max_chars: int = 4096  # of one reply read aloud (OpenAI's `/v1/audio/speech` takes at most 4096)
    wait_seconds: float = 120.0  # how long a caller waits for the `media` worker's result
    voice_reply_to_voice: bool = True  # a voice note is answered aloud too, in the apps that play voice notes

    @property
    def hears_english_only(self) -> bool:
        """The embedded recogniser, pocketsphinx with its US English model: the chat page says so where a
        voice message is recorded and shown (Whisper, MEDIA_TRANSCRIPTION_BASE_URL, hears many languages)."""
        return not self.transcription_base_url


@functools.cache
def media_settings() -> MediaSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return MediaSettings.model_validate(settings)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    media_settings.cache_clear()
