"""The checked `vllm serve` command line: presets, the checks, and the `--print` CLI."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import replace

import jinja2.sandbox
import pytest
import yaml

from media.conf import MediaSettings
from model_service.chat_formats import LLAMA32_VISION_CHAT_TEMPLATE
from model_service.vllm import (
    LLAMA_31,
    LLAMA_32_VISION_11B,
    LLAMA_GUARD_3,
    PRESETS,
    WHISPER_LARGE_V3_TURBO,
    VllmServeConfig,
    config_from_args,
)
from tests.support.processes import ROOT

TOOL_CALL_FLAGS = ["--enable-auto-tool-choice", "--tool-call-parser", "llama3_json"]


def value_of(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} appears {argv.count(flag)} times in {argv}"
    return argv[argv.index(flag) + 1]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "VLLM_PRESET"} | env
    return subprocess.run(
        [sys.executable, "-m", "model_service.vllm", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_a_complete_command(name: str) -> None:
    config = PRESETS[name]

    assert config.problems() == []
    argv = config.argv()

    assert argv[:3] == ["vllm", "serve", config.facts.hf_name]
    assert value_of(argv, "--tensor-parallel-size") == str(config.tensor_parallel_size)
    assert value_of(argv, "--max-model-len") == str(config.max_model_len)
    assert value_of(argv, "--served-model-name") == config.served_name
    assert value_of(argv, "--port") == str(config.port)
    assert value_of(argv, "--gpu-memory-utilization") == str(config.gpu_memory_utilization)
    if config.tool_calling:
        start = argv.index(TOOL_CALL_FLAGS[0])
        assert argv[start : start + 3] == TOOL_CALL_FLAGS
    else:
        assert not set(TOOL_CALL_FLAGS) & set(argv)


@pytest.mark.parametrize(
    ("name", "quantized"),
    [
        ("llama3.1-8b", False),
        ("llama3.1-8b-fp8", True),
        ("llama3.1-70b", False),
        ("llama3.1-70b-fp8", True),
        ("llama3.1-405b-fp8", False),  # already an FP8 checkpoint: no on-the-fly quantization
    ],
)
def test_fp8_adds_quantization_except_for_an_fp8_checkpoint(name: str, quantized: bool) -> None:
    argv = PRESETS[name].argv()

    if quantized:
        assert value_of(argv, "--quantization") == "fp8"
    else:
        assert "--quantization" not in argv


def test_presets_cover_the_three_llama_31_sizes_both_guards_vision_and_whisper() -> None:
    facts = {config.facts for config in PRESETS.values()}
    assert facts == {*LLAMA_31.values(), *LLAMA_GUARD_3.values(), LLAMA_32_VISION_11B, WHISPER_LARGE_V3_TURBO}
    assert PRESETS["llama3.1-405b-fp8"].facts.hf_name.endswith("-FP8")


def test_tool_calling_can_be_turned_off() -> None:
    argv = replace(PRESETS["llama3.1-8b"], tool_calling=False).argv()

    assert not set(TOOL_CALL_FLAGS) & set(argv)


@pytest.mark.parametrize("tp", [3, 5, 6, 7, 0, -1])
def test_tensor_parallel_size_must_divide_the_heads(tp: int) -> None:
    config = replace(PRESETS["llama3.1-8b"], tensor_parallel_size=tp)

    problems = config.problems()

    assert any(f"tensor_parallel_size {tp} must divide the 32 attention heads" in p for p in problems)
    with pytest.raises(ValueError, match="must divide the 32 attention heads"):
        config.argv()


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_tensor_parallel_sizes_that_divide_the_heads_pass(tp: int) -> None:
    assert replace(PRESETS["llama3.1-8b"], tensor_parallel_size=tp).problems() == []


@pytest.mark.parametrize(("length", "ok"), [(131072, True), (131073, False), (0, False), (-5, False), (1, True)])
def test_max_model_len_must_be_within_the_models_context(length: int, ok: bool) -> None:
    problems = replace(PRESETS["llama3.1-8b"], max_model_len=length).problems()

    assert (problems == []) is ok
    if not ok:
        assert problems == [f"max_model_len {length} must be in 1..131072."]


def test_70b_bf16_does_not_fit_one_80gb_gpu() -> None:
    config = VllmServeConfig(LLAMA_31["70b"], "llama-3.1-70b-instruct", tensor_parallel_size=1, gpu_memory_gb=80)

    [problem] = config.problems()

    assert problem.startswith("weights need 141 GB per GPU but only 72 GB are usable")
    with pytest.raises(ValueError, match="raise tensor_parallel_size or enable fp8"):
        config.argv()
    # Either remedy the message names fixes it:
    assert replace(config, tensor_parallel_size=4).problems() == []
    assert replace(config, fp8=True, tensor_parallel_size=2).problems() == []


@pytest.mark.parametrize(
    ("gpu_memory_gb", "fits"),
    [(80.0, True), (24.0, True), (20.0, True), (19.0, False), (16.0, False)],
)
def test_8b_bf16_memory_check(gpu_memory_gb: float, fits: bool) -> None:
    # 16.06 GB of weights; 90 % of the memory is usable and weights may take 90 % of that: 19.83 GB.
    config = replace(PRESETS["llama3.1-8b"], gpu_memory_gb=gpu_memory_gb)

    assert (config.problems() == []) is fits


def test_all_problems_are_reported_together() -> None:
    config = VllmServeConfig(LLAMA_31["70b"], "x", tensor_parallel_size=3, max_model_len=200_000, gpu_memory_gb=24)

    problems = config.problems()

    assert len(problems) == 3
    with pytest.raises(ValueError, match="must divide") as caught:
        config.argv()
    assert all(p in str(caught.value) for p in problems)


def test_overrides_replace_preset_fields() -> None:
    config, print_only = config_from_args(
        shlex.split("--preset llama3.1-70b --tensor-parallel-size 8 --max-model-len 65536 --fp8 --port 9001")
    )

    assert print_only is False
    assert config == replace(PRESETS["llama3.1-70b"], tensor_parallel_size=8, max_model_len=65536, fp8=True, port=9001)


def test_the_preset_defaults_to_vllm_preset_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_PRESET", "llama3.1-8b-fp8")

    config, _ = config_from_args(["--print"])

    assert config == PRESETS["llama3.1-8b-fp8"]


def test_print_shows_a_shell_command_with_the_same_argv() -> None:
    result = run_cli("--preset", "llama3.1-70b-fp8", "--print")

    assert result.returncode == 0, result.stderr
    assert shlex.split(result.stdout) == PRESETS["llama3.1-70b-fp8"].argv()


def test_print_applies_overrides() -> None:
    result = run_cli("--print", "--max-model-len", "8192", "--no-fp8", VLLM_PRESET="llama3.1-8b-fp8")

    assert result.returncode == 0, result.stderr
    assert shlex.split(result.stdout) == replace(PRESETS["llama3.1-8b-fp8"], max_model_len=8192, fp8=False).argv()


def test_a_bad_override_exits_non_zero_with_the_reason_on_stderr() -> None:
    result = run_cli("--preset", "llama3.1-8b", "--tensor-parallel-size", "3", "--print")

    assert result.returncode != 0
    assert result.stdout == ""  # no command to run by mistake
    assert "tensor_parallel_size 3 must divide the 32 attention heads" in result.stderr


def test_an_unknown_preset_is_a_usage_error() -> None:
    result = run_cli("--preset", "llama3.1-1b", "--print")

    assert result.returncode == 2
    assert "invalid choice: 'llama3.1-1b'" in result.stderr


def test_guard_presets_serve_llama_guard_3_without_tools() -> None:
    for name, hf_name in (
        ("llama-guard-3-1b", "meta-llama/Llama-Guard-3-1B"),
        ("llama-guard-3-8b", "meta-llama/Llama-Guard-3-8B"),
    ):
        argv = PRESETS[name].argv()
        assert argv[2] == hf_name
        assert value_of(argv, "--max-model-len") == "8192"
        assert "--enable-auto-tool-choice" not in argv


def test_memory_share_override_is_checked() -> None:
    config, _ = config_from_args(["--preset", "llama3.1-8b", "--gpu-memory-utilization", "0.75"])
    assert value_of(config.argv(), "--gpu-memory-utilization") == "0.75"

    too_small, _ = config_from_args(["--preset", "llama3.1-8b", "--gpu-memory-utilization", "0.15"])
    assert any("weights need 16 GB" in problem for problem in too_small.problems())
    out_of_range, _ = config_from_args(["--preset", "llama-guard-3-1b", "--gpu-memory-utilization", "1.5"])
    assert any("gpu_memory_utilization" in problem for problem in out_of_range.problems())


def test_the_vision_preset_serves_llama_32_11b_vision_as_vllm_recommends() -> None:
    argv = PRESETS["llama3.2-11b-vision"].argv()

    assert argv[2] == "meta-llama/Llama-3.2-11B-Vision-Instruct"
    assert value_of(argv, "--served-model-name") == "llama-3.2-11b-vision-instruct"
    assert value_of(argv, "--max-model-len") == "8192"
    assert value_of(argv, "--max-num-seqs") == "16"  # vllm-project/vllm#8826
    assert "--enforce-eager" in argv
    assert value_of(argv, "--limit-mm-per-prompt") == '{"image":1}'
    assert value_of(argv, "--chat-template") == LLAMA32_VISION_CHAT_TEMPLATE
    assert value_of(argv, "--chat-template-content-format") == "openai"
    assert "--enable-auto-tool-choice" not in argv  # no tool calls with images (Meta)
    jinja2.sandbox.ImmutableSandboxedEnvironment().from_string(LLAMA32_VISION_CHAT_TEMPLATE)  # it compiles


def test_text_presets_get_no_vision_flags() -> None:
    argv = PRESETS["llama3.1-8b"].argv()

    assert not {"--limit-mm-per-prompt", "--chat-template", "--max-num-seqs", "--enforce-eager"} & set(argv)


@pytest.mark.parametrize(("field", "value"), [("max_num_seqs", 0), ("images_per_prompt", -1)])
def test_vision_limits_are_checked(field: str, value: int) -> None:
    config = replace(PRESETS["llama3.2-11b-vision"], **{field: value})

    assert any(field in problem for problem in config.problems())
    with pytest.raises(ValueError, match=field):
        config.argv()


def test_the_compose_vision_service_runs_the_preset() -> None:
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["vision"]

    assert service["entrypoint"] + service["command"] == PRESETS["llama3.2-11b-vision"].argv()
    assert service["profiles"] == ["vision"]


def test_the_whisper_preset_serves_what_the_media_worker_asks_for() -> None:
    argv = PRESETS["whisper-large-v3-turbo"].argv()

    assert argv[2] == "openai/whisper-large-v3-turbo"
    # The media worker's default model name is the served one, so MEDIA_TRANSCRIPTION_MODEL can stay unset.
    assert value_of(argv, "--served-model-name") == MediaSettings.model_fields["transcription_model"].default
    assert value_of(argv, "--max-model-len") == "448"  # Whisper's decoder window
    assert not {"--enable-auto-tool-choice", "--limit-mm-per-prompt", "--chat-template"} & set(argv)


def test_a_window_longer_than_whispers_decoder_is_refused() -> None:
    config = replace(PRESETS["whisper-large-v3-turbo"], max_model_len=1024)

    assert "max_model_len 1024 must be in 1..448." in config.problems()
