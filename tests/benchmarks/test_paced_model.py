"""Contract tests of benchmarks/paced_model.py, the stand-in for a GPU model server under load: the
product's own client (model_service/client.py) must read a whole answer from it exactly as from
vLLM, or the concurrency and relay benchmarks would measure a broken stream. The server runs as the
benchmarks run it: its own process on a loopback port, real HTTP."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.paced_model import CHUNK_TEXT
from model_service.client import CompletionsClient, GenerationParams, ModelEndpoint, StreamEnd, TextDelta
from tests.support.processes import free_port, running

pytestmark = pytest.mark.live

ANSWER_TOKENS = 5


@pytest.fixture(scope="module")
def paced_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    args = ["--port", str(port), "--tokens", str(ANSWER_TOKENS), "--rate", "100"]
    log = tmp_path_factory.mktemp("paced") / "paced.log"
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "benchmarks.paced_model", *args]
    with running(command, env=dict(os.environ), log=log, ready_url=f"{base_url}/models"):
        yield base_url


async def answer(base_url: str, max_tokens: int) -> list[TextDelta | StreamEnd]:
    client = CompletionsClient(ModelEndpoint(base_url=base_url, model="paced", retries=0))
    try:
        return [event async for event in client.stream([128000, 9906, 11], GenerationParams(max_tokens=max_tokens))]
    finally:
        await client.aclose()


async def test_client_streams_a_whole_answer_cut_by_max_tokens(paced_url: str) -> None:
    events = await answer(paced_url, max_tokens=3)
    assert events == [TextDelta(CHUNK_TEXT)] * 3 + [StreamEnd("length", completion_tokens=3, prompt_tokens=3)]


async def test_client_streams_the_servers_whole_answer_under_a_larger_limit(paced_url: str) -> None:
    events = await answer(paced_url, max_tokens=50)
    expected_end = StreamEnd("stop", completion_tokens=ANSWER_TOKENS, prompt_tokens=3)
    assert events == [TextDelta(CHUNK_TEXT)] * ANSWER_TOKENS + [expected_end]


async def test_answers_on_one_keep_alive_connection_follow_each_other(paced_url: str) -> None:
    client = CompletionsClient(ModelEndpoint(base_url=paced_url, model="paced", retries=0))
    try:
        for _ in range(3):
            events = [event async for event in client.stream([1, 2], GenerationParams(max_tokens=2))]
            assert events[-1] == StreamEnd("length", completion_tokens=2, prompt_tokens=2)
    finally:
        await client.aclose()


def test_a_prefill_holds_back_the_first_token_and_the_answer_stays_whole(tmp_path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    args = ["--port", str(port), "--tokens", "2", "--rate", "100", "--prefill-ms", "300"]
    command = [sys.executable, "-m", "benchmarks.paced_model", *args]
    with running(command, env=dict(os.environ), log=tmp_path / "paced.log", ready_url=f"{base_url}/models"):
        body = {"model": "paced", "prompt": [1, 2], "stream": True}
        asked = time.monotonic()
        with httpx.stream("POST", f"{base_url}/completions", json=body, timeout=10) as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            waited = time.monotonic() - asked
            rest = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert waited >= 0.3  # the prefill's lower bound, not a speed target
    texts = [json.loads(payload)["choices"][0]["text"] for payload in [first.removeprefix("data: "), *rest[:-1]]]
    assert texts[:2] == [CHUNK_TEXT] * 2
    assert rest[-1] == "[DONE]"


def test_chat_completions_stream_a_role_chunk_then_the_answer(paced_url: str) -> None:
    body = {"model": "paced", "messages": [{"role": "user", "content": "hi there"}], "stream": True}
    with httpx.stream("POST", f"{paced_url}/chat/completions", json=body, timeout=10) as response:
        payloads = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [chunk["choices"][0]["delta"].get("content") for chunk in chunks[1:-1]] == [CHUNK_TEXT] * ANSWER_TOKENS
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/completions", {"model": "paced", "prompt": "text", "stream": True}, 400, "list of token ids"),
        ("/completions", {"model": "paced", "prompt": [1], "stream": False}, 400, "only streams"),
        ("/completions", {"model": "paced", "prompt": [1], "stream": True, "max_tokens": 0}, 400, "max_tokens"),
        ("/chat/completions", {"model": "paced", "messages": [], "stream": True}, 400, "messages"),
        ("/embeddings", {"model": "paced"}, 404, "no route"),
    ],
)
def test_bad_requests_get_a_specific_error(paced_url: str, path: str, body: object, status: int, message: str) -> None:
    response = httpx.post(f"{paced_url}{path}", json=body, timeout=10)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_a_body_that_is_not_json_is_refused(paced_url: str) -> None:
    response = httpx.post(f"{paced_url}/completions", content=b"{nope", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the body is not JSON"
