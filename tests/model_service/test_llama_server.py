"""llama-server, the embedded engine, against every contract the product relies on: the real
binary that `make install` builds, serving the bundled SmolLM2 on loopback.

`embedded_model` (tests/conftest.py) is the engine as `make run` starts it, with its slots sized for
this machine; `one_slot_engine` has a single slot, so anything that holds the slot too long shows.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from llama_cpp.llama_grammar import json_schema_to_gbnf

from model_service.chat_formats import ChatMLFormat
from model_service.client import CompletionsClient, GenerationParams, ModelEndpoint, StreamEnd, TextDelta
from model_service.embedded import MODEL_ALIAS, bundled_gguf
from model_service.messages import ChatMessage, prompt_segments
from model_service.tokens import GgufTokenizer, encode
from tests.support.pace import TokenPace
from tests.support.processes import NEVER_STOP_BIAS, free_port, running

pytestmark = pytest.mark.live

READINESS_READ_TIMEOUT = 1.0  # assistant/web/views.py reads the model's /models with this timeout


@functools.cache
def smollm2() -> GgufTokenizer:
    return GgufTokenizer.load(bundled_gguf())


def question(text: str) -> list[int]:
    return encode(prompt_segments(ChatMLFormat(), [ChatMessage("user", text)]), smollm2())


def server_root(base_url: str) -> str:
    return base_url.removesuffix("/v1")


def start_engine(tmp_path_factory: pytest.TempPathFactory, *flags: str) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("engine") / "engine.log"
    args = [sys.executable, "-m", "model_service.embedded", "--port", str(port), "--threads", "2", *flags]
    with running(args, env=dict(os.environ), ready_url=f"http://127.0.0.1:{port}/v1/models", log=log):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def one_slot_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_engine(tmp_path_factory, "--slots", "1")


async def sse_payloads(base_url: str, body: dict[str, object]) -> list[str]:
    """Every `data:` payload of a streamed completion, as sent."""
    async with httpx.AsyncClient(timeout=60) as http, http.stream("POST", f"{base_url}/completions", json=body) as sse:
        sse.raise_for_status()
        return [line.removeprefix("data: ") async for line in sse.aiter_lines() if line.startswith("data: ")]


async def complete(base_url: str, **body: object) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(f"{base_url}/completions", json={"model": MODEL_ALIAS, **body})
    response.raise_for_status()
    return response.json()


async def test_stream_is_text_completion_chunks_with_usage_then_done(embedded_model: str) -> None:
    prompt = question("Tell me about bread.")
    body = {
        "model": MODEL_ALIAS,
        "prompt": prompt,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 8,
        **NEVER_STOP_BIAS,
    }

    payloads = await sse_payloads(embedded_model, body)

    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"text_completion"}
    finishes = [choice["finish_reason"] for chunk in chunks for choice in chunk["choices"] if choice["finish_reason"]]
    assert finishes == ["length"]  # one finish reason, on the last chunk with a choice
    usages = [chunk["usage"] for chunk in chunks if chunk.get("usage")]
    assert usages[-1]["completion_tokens"] == 8
    assert usages[-1]["prompt_tokens"] == len(prompt)  # the ids as sent: no BOS or template added
    assert "".join(choice["text"] for chunk in chunks for choice in chunk["choices"]).strip()


async def test_the_client_reads_the_stream_to_one_end(embedded_model: str) -> None:
    client = CompletionsClient(ModelEndpoint(embedded_model, MODEL_ALIAS, read_timeout=60))
    params = GenerationParams(max_tokens=12, extra=dict(NEVER_STOP_BIAS))
    try:
        events = [event async for event in client.stream(question("Say hello."), params)]
    finally:
        await client.aclose()

    assert all(isinstance(event, TextDelta) for event in events[:-1])
    assert events[-1] == StreamEnd("length", completion_tokens=12, prompt_tokens=len(question("Say hello.")))


async def test_a_stop_string_ends_the_answer_before_it(embedded_model: str) -> None:
    prompt = question("Count from one to ten in words.")
    free = await complete(embedded_model, prompt=prompt, max_tokens=16, temperature=0, **NEVER_STOP_BIAS)
    text = free["choices"][0]["text"]  # type: ignore[index]
    stop = text.split()[2]  # a word in the middle of the greedy answer

    stopped = await complete(embedded_model, prompt=prompt, max_tokens=16, temperature=0, stop=[stop])

    choice = stopped["choices"][0]  # type: ignore[index]
    assert choice["finish_reason"] == "stop"
    assert choice["text"] == text[: text.index(stop)]


async def test_logit_bias_keys_are_token_ids(embedded_model: str) -> None:
    [token] = smollm2().encode_text(" bread")

    answer = await complete(
        embedded_model, prompt=question("Hi"), max_tokens=5, temperature=0, logit_bias={str(token): 100}
    )

    assert answer["choices"][0]["text"] == " bread" * 5  # type: ignore[index]


SUNNY_SCHEMA = {"type": "object", "properties": {"sunny": {"type": "boolean"}}, "required": ["sunny"]}


@pytest.mark.parametrize(
    "guided",
    [
        # MODEL_GUIDED_DECODING=llama-cpp-python, the default for ChatML: GBNF by llama-cpp-python's converter
        {"grammar": json_schema_to_gbnf(json.dumps(SUNNY_SCHEMA))},
        # MODEL_GUIDED_DECODING=llamacpp: the server converts the schema itself
        {"json_schema": SUNNY_SCHEMA},
    ],
    ids=["grammar", "json_schema"],
)
async def test_guided_decoding_fields_are_enforced(embedded_model: str, guided: dict[str, object]) -> None:
    answer = await complete(
        embedded_model, prompt=question("Is it sunny? Reply in JSON."), max_tokens=32, temperature=0, **guided
    )

    reply = json.loads(answer["choices"][0]["text"])  # type: ignore[index]
    assert isinstance(reply["sunny"], bool)


async def test_simultaneous_streams_are_decoded_together(embedded_model: str) -> None:
    """Four answers at once all complete, and every one has started before any has ended: the
    engine decodes them side by side rather than one after another."""
    async with httpx.AsyncClient(timeout=10) as http:
        slots = (await http.get(f"{server_root(embedded_model)}/props")).json()["total_slots"]
    assert slots >= 4, "make run sizes at least four slots for any machine"
    client = CompletionsClient(ModelEndpoint(embedded_model, MODEL_ALIAS, read_timeout=60))
    params = GenerationParams(max_tokens=48, extra=dict(NEVER_STOP_BIAS))

    async def answer(topic: str) -> tuple[float, float, StreamEnd]:
        first = 0.0
        async for event in client.stream(question(f"Tell me about {topic}."), params):
            if isinstance(event, StreamEnd):
                return first, time.monotonic(), event
            first = first or time.monotonic()
        raise AssertionError("no StreamEnd")

    try:
        answers = await asyncio.gather(*(answer(topic) for topic in ("bread", "glass", "salt", "maps")))
    finally:
        await client.aclose()

    assert [end.completion_tokens for _, _, end in answers] == [48] * 4
    assert max(first for first, _, _ in answers) < min(ended for _, ended, _ in answers)


async def test_cancelling_a_stream_frees_the_only_slot_at_once(one_slot_engine: str) -> None:
    """A closed tab must not hold the slot: the request after it starts without waiting for the
    ~2,000 tokens (tens of seconds here) the cancelled answer had left."""
    client = CompletionsClient(ModelEndpoint(one_slot_engine, MODEL_ALIAS, read_timeout=60))
    pace = TokenPace()
    endless_tokens = 2000
    long = GenerationParams(max_tokens=endless_tokens, extra=dict(NEVER_STOP_BIAS))
    try:
        task = asyncio.create_task(pace.read(client.stream(question("Tell me a long story about a dragon."), long)))
        await asyncio.wait_for(pace.flowing.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # A slot still generating would hold the next request about this long.
        tokens_left_seconds = pace.seconds_for(endless_tokens - len(pace.arrivals))
        started = time.monotonic()
        following = client.stream(question("Say hi."), GenerationParams(max_tokens=4))
        first = await asyncio.wait_for(anext(following), tokens_left_seconds)
        waited = time.monotonic() - started
        await following.aclose()
    finally:
        await client.aclose()

    assert isinstance(first, TextDelta)
    assert waited < tokens_left_seconds / 4, "the next request waited as if the slot were still generating"


async def test_models_answers_while_every_slot_is_busy(one_slot_engine: str) -> None:
    """The readiness probe reads /v1/models: a busy engine must answer it, not look down."""
    client = CompletionsClient(ModelEndpoint(one_slot_engine, MODEL_ALIAS, read_timeout=60))
    busy = client.stream(question("Tell me a story."), GenerationParams(max_tokens=2000, extra=dict(NEVER_STOP_BIAS)))
    try:
        assert isinstance(await asyncio.wait_for(anext(busy), 30), TextDelta)
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=READINESS_READ_TIMEOUT)) as http:
            models = await http.get(f"{one_slot_engine}/models")
            slots = (await http.get(f"{server_root(one_slot_engine)}/slots")).json()
    finally:
        await busy.aclose()
        await client.aclose()

    assert [model["id"] for model in models.json()["data"]] == [MODEL_ALIAS]
    assert [slot["is_processing"] for slot in slots] == [True]  # it was answering while busy


@pytest.fixture(scope="module")
def baseline_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_engine(tmp_path_factory, "--engine", "llama-cpp-python")


async def test_the_baseline_engine_still_completes_token_ids(baseline_engine: str) -> None:
    """llama-cpp-python's server stays runnable as benchmarks/engine.py's baseline."""
    prompt = question("Say hi.")

    answer = await complete(baseline_engine, prompt=prompt, max_tokens=2, **NEVER_STOP_BIAS)

    assert answer["usage"] == {"prompt_tokens": len(prompt), "completion_tokens": 2, "total_tokens": len(prompt) + 2}
