"""Hearing voice notes: espeak-ng's speech, sent as a WhatsApp-style OGG/Opus voice note, transcribed by
the embedded pocketsphinx well enough to answer; and the production client against a contract fake of
the OpenAI transcription endpoint (vLLM serving Whisper)."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest

from core.errors import AssistantError, ErrorCode
from media.intake import Kind, accept, decode_voice
from media.service import hear_voice
from media.speech import WhisperTranscriber, transcriber, word_error_rate
from media.voice import AudioFormat, synthesize
from tests.media.fake_audio_api import FakeAudioApi
from tests.support.processes import free_port

# Questions a voice note asks. Measured on this machine (2026-12-02): mean word error rate 0.28–0.33
# through 24 kbps Opus; the bound leaves room for ffmpeg and espeak-ng builds that differ slightly.
SENTENCES = [
    "please remind me to buy milk and bread tomorrow morning",
    "what is the weather like in paris today",
    "how many minutes are there in three hours",
    "can you tell me a short story about a cat",
    "set an alarm for seven thirty in the morning",
    "what time does the train to london leave",
]
MAX_MEAN_WORD_ERROR_RATE = 0.45


def test_an_espeak_voice_note_is_transcribed_well_enough_to_answer() -> None:
    rates = []
    for sentence in SENTENCES:
        note = synthesize(sentence, language="en", audio_format=AudioFormat.OGG_OPUS)
        transcript = hear_voice(note.data, declared="audio/ogg; codecs=opus")
        rates.append(word_error_rate(sentence, transcript.text))

    mean = sum(rates) / len(rates)
    assert mean <= MAX_MEAN_WORD_ERROR_RATE, f"word error rates {rates}"


def test_the_embedded_recogniser_says_english_is_assumed_not_detected() -> None:
    note = synthesize("what is the weather like in paris today", language="en", audio_format=AudioFormat.OGG_OPUS)

    transcript = hear_voice(note.data, language="de")

    assert transcript.language == "en"
    assert transcript.language_detected is False
    assert transcript.engine == "pocketsphinx"
    assert transcript.seconds == pytest.approx(note.seconds, abs=0.1)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "rate"),
    [
        ("buy milk and bread", "buy milk and bread", 0.0),
        ("buy milk and bread", "Buy milk, and bread!", 0.0),
        ("buy milk and bread", "by milk bread", 0.5),  # one substitution, one deletion
        ("buy milk", "buy the milk now", 1.0),  # two insertions
        ("buy milk", "", 1.0),
    ],
)
def test_word_error_rate_counts_substitutions_deletions_and_insertions(
    reference: str, hypothesis: str, rate: float
) -> None:
    assert word_error_rate(reference, hypothesis) == rate


# --- production: a contract test against a fake OpenAI transcription endpoint -------------------------


@pytest.fixture
def whisper(settings) -> Iterator[FakeAudioApi]:
    with FakeAudioApi(
        transcription={"text": " Quel temps fait-il à Paris ?", "usage": {"type": "duration", "seconds": 1}},
        heard_language="fr",
    ) as fake:
        settings.MEDIA_TRANSCRIPTION_BASE_URL = f"{fake.origin}/v1"
        settings.MEDIA_TRANSCRIPTION_API_KEY = "whisper-key"
        yield fake


def _one_second_voice() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x10\x00\xf0\xff" * 4000)
    return out.getvalue()


def test_the_whisper_client_sends_16_khz_wav_and_reads_the_language_heard(whisper: FakeAudioApi) -> None:
    assert isinstance(transcriber(), WhisperTranscriber)

    transcript = hear_voice(_one_second_voice(), declared="voice.wav", language="de")

    request = whisper.requests[0]
    assert request.headers["authorization"] == "Bearer whisper-key"
    # No `language`: the server detects it, whatever the account's language ("de") says.
    assert request.fields == {
        "model": "openai/whisper-large-v3-turbo",
        "response_format": "verbose_json",
        "temperature": "0",
    }
    filename, content_type, audio = request.files["file"]
    assert (filename, content_type) == ("voice.wav", "audio/wav")
    with wave.open(io.BytesIO(audio)) as sent:
        assert (sent.getnchannels(), sent.getframerate(), sent.getnframes()) == (1, 16_000, 16_000)
    assert transcript.text == "Quel temps fait-il à Paris ?"
    assert (transcript.language, transcript.language_detected, transcript.confidence) == ("fr", True, None)


@pytest.mark.parametrize(
    ("named", "language", "detected"),
    [
        ("french", "fr", True),  # OpenAI's server names it in English words
        ("FR", "fr", True),
        ("klingon", "de", False),  # a name no locale knows: the person's language, assumed
        ("", "de", False),
    ],
)
def test_the_language_heard_is_read_as_a_code_or_an_english_name(
    whisper: FakeAudioApi, named: str, language: str, detected: bool
) -> None:
    whisper.heard_language = named

    transcript = hear_voice(_one_second_voice(), language="de")

    assert (transcript.language, transcript.language_detected) == (language, detected)


def test_an_older_server_is_told_the_persons_language_which_is_assumed(whisper: FakeAudioApi, settings) -> None:
    settings.MEDIA_TRANSCRIPTION_DETECT_LANGUAGE = False  # vLLM 0.11: `json` only, English without a language

    hinted = hear_voice(_one_second_voice(), language="fr")
    unhinted = hear_voice(_one_second_voice())

    assert [r.fields["response_format"] for r in whisper.requests] == ["json", "json"]
    assert (whisper.requests[0].fields["language"], "language" in whisper.requests[1].fields) == ("fr", False)
    assert (hinted.language, hinted.language_detected) == ("fr", False)
    assert (unhinted.language, unhinted.language_detected) == ("en", False)


def test_a_failing_whisper_server_is_a_model_error(whisper: FakeAudioApi) -> None:
    whisper.status = 503

    with pytest.raises(AssistantError) as raised:
        hear_voice(_one_second_voice())
    assert raised.value.code is ErrorCode.MODEL_ERROR


def test_an_unreachable_whisper_server_is_unavailable(settings) -> None:
    settings.MEDIA_TRANSCRIPTION_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    voice = decode_voice(_one_second_voice(), accept(_one_second_voice(), Kind.AUDIO))

    with pytest.raises(AssistantError) as raised:
        transcriber().transcribe(voice)
    assert raised.value.code is ErrorCode.MODEL_UNAVAILABLE
