"""Speaking replies: espeak-ng in every product language, encoded to what each app plays (checked by
decoding the output again), and the production client against a contract fake of OpenAI's
`/v1/audio/speech`."""

from __future__ import annotations

import io
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest

from core.errors import AssistantError, ErrorCode
from media.intake import MP3, MP4_AUDIO, OGG, Kind, accept, decode_voice
from media.processes import probe
from media.voice import ESPEAK_VOICES, AudioFormat, OpenAISpeaker, Speech, speaker, synthesize
from tests.media.fake_audio_api import FakeAudioApi

REPLY = "Your train to Lyon leaves at fourteen thirty five from platform seven."


def codec_of(data: bytes) -> str | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "speech")
        path.write_bytes(data)
        return probe(str(path)).audio_codec


@pytest.mark.parametrize(
    ("audio_format", "media_type", "codec"),
    [(AudioFormat.OGG_OPUS, OGG, "opus"), (AudioFormat.MP3, MP3, "mp3"), (AudioFormat.M4A, MP4_AUDIO, "aac")],
)
def test_a_reply_is_encoded_to_what_the_app_plays_and_decodes_again(
    audio_format: AudioFormat, media_type: object, codec: str
) -> None:
    speech = synthesize(REPLY, language="en", audio_format=audio_format)

    assert accept(speech.data, Kind.AUDIO) is media_type
    assert codec_of(speech.data) == codec
    decoded = decode_voice(speech.data, accept(speech.data, Kind.AUDIO))
    assert decoded.seconds == pytest.approx(speech.seconds, abs=0.15)
    assert 3 < speech.seconds < 10
    assert numpy.frombuffer(decoded.pcm, "<i2").std() > 500, "the speech was encoded as silence"


def test_a_voice_note_reply_fits_whatsapps_play_button() -> None:
    speech = synthesize(REPLY * 3, language="en", audio_format=AudioFormat.OGG_OPUS)

    assert speech.media_type == "audio/ogg"
    assert len(speech.data) < 512 * 1024
    assert len(speech.data) / speech.seconds < 4000  # about 24 kbps


@pytest.mark.parametrize("language", sorted(ESPEAK_VOICES))
def test_every_product_language_has_a_voice(language: str) -> None:
    sentences = {"th": "สวัสดีครับ", "hi": "नमस्ते, आप कैसे हैं?", "de": "Guten Morgen, wie geht es dir?"}

    speech = synthesize(
        sentences.get(language, "Bonjour, ciao, hola."), language=language, audio_format=AudioFormat.MP3
    )

    assert speech.seconds > 0.5
    assert speech.engine == "espeak-ng"


def test_a_reply_starting_with_a_dash_is_read_not_taken_as_an_option() -> None:
    speech = synthesize("--version of the plan", language="en", audio_format=AudioFormat.MP3)

    assert speech.seconds > 0.5


@pytest.mark.parametrize(("text", "code"), [("  \n", ErrorCode.EMPTY_TEXT), ("a" * 4097, ErrorCode.TEXT_TOO_LONG)])
def test_empty_or_overlong_replies_are_refused(text: str, code: ErrorCode) -> None:
    with pytest.raises(AssistantError) as raised:
        synthesize(text, language="en", audio_format=AudioFormat.OGG_OPUS)
    assert raised.value.code is code


def test_speech_survives_the_result_backend_as_json() -> None:
    speech = Speech(
        data=b"OggS\0\1", media_type="audio/ogg", audio_format=AudioFormat.OGG_OPUS, seconds=1.5, engine="x"
    )

    assert Speech.from_json(speech.to_json()) == speech


# --- production: a contract test against a fake OpenAI `/v1/audio/speech` -----------------------------


def _tone_wav(seconds: float = 1.0) -> bytes:
    samples = (numpy.sin(numpy.arange(int(24_000 * seconds)) * 0.1) * 8000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(24_000)  # what OpenAI's voices are served at
        writer.writeframes(samples.tobytes())
    return out.getvalue()


@pytest.fixture
def speech_server(settings) -> Iterator[FakeAudioApi]:
    with FakeAudioApi(speech=_tone_wav()) as fake:
        settings.MEDIA_SPEECH_BASE_URL = f"{fake.origin}/v1"
        settings.MEDIA_SPEECH_API_KEY = "tts-key"
        yield fake


def test_the_speech_client_asks_for_wav_and_encodes_it_for_the_app(speech_server: FakeAudioApi) -> None:
    assert isinstance(speaker(), OpenAISpeaker)

    speech = synthesize("Bonjour !", language="fr", audio_format=AudioFormat.OGG_OPUS)

    request = speech_server.requests[0]
    assert request.headers["authorization"] == "Bearer tts-key"
    expected = {"model": "tts-1", "input": "Bonjour !", "voice": "alloy", "response_format": "wav", "stream": False}
    assert request.fields == expected
    assert codec_of(speech.data) == "opus"
    assert speech.seconds == pytest.approx(1.0, abs=0.05)
    assert speech.engine == "openai-speech"


@pytest.mark.parametrize("body", [b"ID3" + b"\0" * 100, b"<html>Bad gateway</html>", b""], ids=["mp3", "html", "empty"])
def test_a_speech_server_answering_something_else_than_wav_is_a_model_error(
    speech_server: FakeAudioApi, body: bytes
) -> None:
    speech_server.speech = body

    with pytest.raises(AssistantError) as raised:
        synthesize("Hello", language="en", audio_format=AudioFormat.MP3)
    assert raised.value.code is ErrorCode.MODEL_ERROR


def test_a_missing_espeak_is_a_service_error_not_a_crash(settings) -> None:
    settings.MEDIA_ESPEAK = "/nonexistent/espeak-ng"

    with pytest.raises(AssistantError) as raised:
        synthesize("Hello", language="en", audio_format=AudioFormat.MP3)
    assert raised.value.code is ErrorCode.SERVICE_UNAVAILABLE


def test_a_tool_running_past_its_time_limit_is_stopped(settings) -> None:
    settings.MEDIA_PROCESS_TIMEOUT = 0.01

    with pytest.raises(AssistantError) as raised:
        synthesize(REPLY * 20, language="en", audio_format=AudioFormat.M4A)
    assert raised.value.code is ErrorCode.SERVICE_UNAVAILABLE
    assert "longer than 0.01 s" in raised.value.detail
