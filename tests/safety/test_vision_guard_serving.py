"""Serving Llama Guard 3 Vision: the checked `vllm serve` preset, the compose service that runs it,
and the settings that point the product at it."""

from __future__ import annotations

import jinja2.sandbox
import yaml

from model_service.vllm import PRESETS
from safety.conf import SafetySettings, safety_settings
from safety.vision_guard import LLAMA_GUARD_VISION_CHAT_TEMPLATE
from tests.support.processes import ROOT

PRESET = "llama-guard-3-11b-vision"


def value_of(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} appears {argv.count(flag)} times in {argv}"
    return argv[argv.index(flag) + 1]


def compose_services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_the_preset_serves_the_vision_guard_with_its_chat_template() -> None:
    argv = PRESETS[PRESET].argv()

    assert argv[:3] == ["vllm", "serve", "meta-llama/Llama-Guard-3-11B-Vision"]
    assert value_of(argv, "--served-model-name") == SafetySettings().vision_guard_model == PRESET
    assert value_of(argv, "--max-model-len") == "8192"
    assert value_of(argv, "--limit-mm-per-prompt") == '{"image":1}'  # Meta: one image
    assert value_of(argv, "--chat-template") == LLAMA_GUARD_VISION_CHAT_TEMPLATE
    assert value_of(argv, "--chat-template-content-format") == "openai"  # parts stay in order for the template
    assert value_of(argv, "--max-num-seqs") == "16"
    assert "--enforce-eager" in argv
    assert "--enable-auto-tool-choice" not in argv
    jinja2.sandbox.ImmutableSandboxedEnvironment().from_string(LLAMA_GUARD_VISION_CHAT_TEMPLATE)  # it compiles


def test_its_weights_need_a_gpu_of_their_own_beside_the_cache() -> None:
    config = PRESETS[PRESET]

    assert config.problems() == []
    assert round(config.weight_gb_per_gpu()) == 21


def test_the_compose_service_runs_the_preset_in_the_vision_profile_on_its_own_gpu() -> None:
    services = compose_services()
    service = services["vision-guard"]

    assert service["entrypoint"] + service["command"] == PRESETS[PRESET].argv()
    assert service["profiles"] == ["vision"]
    assert service["image"] == services["vision"]["image"]  # vLLM 0.10.1.1: the last with mllama
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    gpus_taken = {
        gpu
        for name, other in services.items()
        if name != "vision-guard" and "deploy" in other
        for reserved in other["deploy"]["resources"]["reservations"]["devices"]
        for gpu in reserved["device_ids"]
    }
    assert device["device_ids"] == ["2"]
    assert not gpus_taken & set(device["device_ids"])
    assert "healthcheck" in service
    assert service["restart"] == "unless-stopped"


def test_the_vision_guard_settings_are_read_and_its_key_stays_out_of_the_repr(settings) -> None:
    settings.SAFETY_VISION_GUARD_BASE_URL = URL = "http://vision-guard:8000/v1"
    settings.SAFETY_VISION_GUARD_API_KEY = SECRET = "s3cr3t-value"
    loaded = safety_settings()

    assert (loaded.vision_guard_base_url, loaded.vision_guard_api_key) == (URL, SECRET)
    assert SECRET not in repr(loaded)
