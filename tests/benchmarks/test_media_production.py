"""benchmarks/media.py's `--production` mode: which URLs become which settings, and what its GPU line
says was timed. The servers themselves are not started (no GPU here); the worker-side steps are checked
against the audio contract fake, so the mode is seen to reach the servers it names."""

from __future__ import annotations

import pytest
from django.test.utils import override_settings

from benchmarks import media
from media.voice import EspeakSpeaker
from tests.media.fake_audio_api import FakeAudioApi

WHISPER = "http://gpu.example:8000/v1"
SPEECH = "http://gpu.example:8880/v1"
VISION = "http://gpu.example:8001/v1"
SETTINGS = ("MEDIA_TRANSCRIPTION_BASE_URL", "MEDIA_SPEECH_BASE_URL", "MODEL_VISION_BASE_URL")


@pytest.fixture(autouse=True)
def no_urls_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting, raising=False)


def _settings(*argv: str) -> dict[str, str]:
    return media.service_settings(media.parse_args(list(argv)))


def test_production_urls_become_the_media_and_vision_settings() -> None:
    given = ["--transcription-url", WHISPER, "--speech-url", SPEECH, "--vision-url", VISION]

    assert _settings("--production", *given) == dict(zip(SETTINGS, (WHISPER, SPEECH, VISION), strict=True))
    assert _settings("--production", "--speech-url", SPEECH) == {
        "MEDIA_TRANSCRIPTION_BASE_URL": "",  # no URL: pocketsphinx, as embedded
        "MEDIA_SPEECH_BASE_URL": SPEECH,
        "MODEL_VISION_BASE_URL": "",
    }


def test_production_urls_default_to_their_settings_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_TRANSCRIPTION_BASE_URL", WHISPER)
    monkeypatch.setenv("MODEL_VISION_BASE_URL", VISION)

    assert _settings("--production", "--vision-url", "http://other:9000/v1") == {
        "MEDIA_TRANSCRIPTION_BASE_URL": WHISPER,
        "MEDIA_SPEECH_BASE_URL": "",
        "MODEL_VISION_BASE_URL": "http://other:9000/v1",  # the option wins over the environment
    }


def test_without_production_urls_left_in_the_environment_are_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_TRANSCRIPTION_BASE_URL", WHISPER)

    assert _settings() == dict.fromkeys(SETTINGS, "")
    assert _settings("--speech-url", SPEECH) == dict.fromkeys(SETTINGS, "")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--production"], "at least one of"),
        (["--production", "--vision-url", "http://gpu.example:8001"], "ending in /v1"),
        (["--production", "--speech-url", "gpu.example:8880/v1"], "ending in /v1"),
    ],
)
def test_production_without_a_usable_url_is_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit):
        media.parse_args(argv)

    assert says in capsys.readouterr().err


def test_the_gpu_line_names_the_services_timed_and_what_stayed_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "gpu_name", lambda: "NVIDIA H200")

    served = media.gpu_line(_settings("--production", "--transcription-url", WHISPER, "--vision-url", VISION))
    embedded = media.gpu_line(_settings())

    assert served == (
        f"GPU path: timed at production services: transcription at {WHISPER}, vision at {VISION}; "
        "on this machine's CPU (NVIDIA H200): speech by espeak-ng, OCR, answers by SmolLM2 on llama.cpp"
    )
    assert embedded.startswith("GPU path: not measured (this machine: NVIDIA H200); every figure is an embedded")
    assert "transcription by pocketsphinx, speech by espeak-ng, no vision model" in embedded


def test_the_worker_side_steps_reach_the_production_servers_given() -> None:
    # Only that each server is asked: the fake hears nothing, and speaks one WAV whatever the text.
    wav = EspeakSpeaker().speak("hello", language="en")
    with FakeAudioApi(transcription={"text": " hello"}, speech=wav) as fake:
        given = ["--transcription-url", f"{fake.origin}/v1", "--speech-url", f"{fake.origin}/v1"]
        with override_settings(**_settings("--production", *given)):
            transcription = media.bench_transcription(runs=1)
            speech = media.bench_speech(runs=1)

    paths = {request.path for request in fake.requests}
    assert paths == {"/v1/audio/transcriptions", "/v1/audio/speech"}
    assert f"at {fake.origin}/v1" in transcription[0]
    assert all(f"at {fake.origin}/v1" in line for line in speech)
