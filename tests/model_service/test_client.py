"""The streaming client against a contract fake of vLLM's completions API (a real HTTP server on
loopback) and against the real embedded llama.cpp server (marked live)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from model_service import log_context
from model_service.chat_formats import ChatMLFormat
from model_service.client import (
    CompletionsClient,
    GenerationParams,
    ModelEndpoint,
    ModelError,
    ModelRequestRejected,
    ModelStreamBroken,
    ModelUnavailable,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from model_service.embedded import MODEL_ALIAS, bundled_gguf
from model_service.messages import ChatMessage, prompt_segments
from model_service.tokens import GgufTokenizer, encode
from tests.support.fake_openai import FakeOpenAI, ReceivedRequest, Reply
from tests.support.pace import TokenPace
from tests.support.processes import NEVER_STOP_BIAS, free_port

PROMPT = [128000, 128006, 882, 128007, 271, 6151, 128009, 128006, 78191, 128007, 271]  # Llama 3: "hi"
PARAMS = GenerationParams(max_tokens=64, temperature=0.2)


@functools.cache
def smollm2() -> GgufTokenizer:
    return GgufTokenizer.load(bundled_gguf())


def chatml_prompt(question: str) -> list[int]:
    """The embedded model's prompt for one question, as the pipeline builds it."""
    return encode(prompt_segments(ChatMLFormat(), [ChatMessage("user", question)]), smollm2())


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., CompletionsClient]]:
    clients: list[CompletionsClient] = []

    def make(base_url: str, **endpoint: object) -> CompletionsClient:
        settings: dict[str, object] = {
            "model": "fake-model",
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "retries": 2,
            "retry_backoff": 0.01,
        }
        settings.update(endpoint)
        client = CompletionsClient(ModelEndpoint(base_url=base_url, **settings))  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def collect(
    client: CompletionsClient, prompt: list[int] = PROMPT, params: GenerationParams = PARAMS
) -> list[StreamEvent]:
    return [event async for event in client.stream(prompt, params)]


async def collect_until_error(client: CompletionsClient) -> tuple[list[StreamEvent], ModelError]:
    events: list[StreamEvent] = []

    async def consume() -> None:
        async for event in client.stream(PROMPT, PARAMS):
            events.append(event)

    with pytest.raises(ModelError) as caught:
        await consume()
    return events, caught.value


def text_of(events: list[StreamEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


# --- a healthy stream ------------------------------------------------------------------------


async def test_deltas_arrive_in_order_then_one_stream_end_with_usage(fake: FakeOpenAI, make_client) -> None:
    events = await collect(make_client(fake.base_url))

    assert events == [
        TextDelta("Hello"),
        TextDelta(","),
        TextDelta(" world"),
        TextDelta("!"),
        StreamEnd(finish_reason="stop", completion_tokens=4, prompt_tokens=len(PROMPT)),
    ]


@pytest.mark.parametrize("read", ["to its end", "to its StreamEnd"])
async def test_answers_one_after_another_travel_on_one_connection(fake: FakeOpenAI, make_client, read: str) -> None:
    """A finished stream's connection goes back to the pool: a connection per answer costs the model
    server a handshake and the web process a connect each time."""
    client = make_client(fake.base_url)
    for _ in range(3):
        if read == "to its end":
            await collect(client)
        else:
            async with contextlib.aclosing(client.stream(PROMPT, PARAMS)) as events:
                async for event in events:
                    if isinstance(event, StreamEnd):
                        break
    assert len(fake.requests) == 3
    assert len({request.client_port for request in fake.requests}) == 1


async def test_a_body_held_open_after_done_is_not_waited_for(fake: FakeOpenAI, make_client) -> None:
    fake.script(Reply(hold_after_done=5))
    started = time.monotonic()
    events = await collect(make_client(fake.base_url))
    assert text_of(events) == "Hello, world!"
    assert isinstance(events[-1], StreamEnd)
    assert time.monotonic() - started < 4  # BODY_END_SECONDS, not the 5 s the server holds on


async def test_stream_without_usage_chunk_ends_without_token_counts(fake: FakeOpenAI, make_client) -> None:
    fake.script(Reply(texts=["a", "b"], finish_reason="length", send_usage=False))

    events = await collect(make_client(fake.base_url))

    assert events == [TextDelta("a"), TextDelta("b"), StreamEnd(finish_reason="length")]


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param({"split_writes": True}, id="events-split-mid-character-across-http-chunks"),
        pytest.param({"ping_comments": True}, id="sse-comment-lines"),
        pytest.param({"line_ending": "\r\n"}, id="crlf-line-endings"),
        pytest.param({"line_ending": "\r"}, id="cr-line-endings"),
        # 3-byte chunks put some CRs at a chunk's end and their LF at the next one's start.
        pytest.param({"line_ending": "\r\n", "split_writes": True}, id="crlf-split-across-http-chunks"),
        pytest.param({"line_ending": "\r", "split_writes": True}, id="cr-split-across-http-chunks"),
    ],
)
async def test_wire_variants_decode_to_the_same_events(fake: FakeOpenAI, make_client, wire: dict) -> None:
    texts = ["Grüße", " 👋🏽", " 日本語", " done"]
    fake.script(Reply(texts=texts, **wire))

    events = await collect(make_client(fake.base_url))

    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(t) for t in texts]
    assert events[-1] == StreamEnd("stop", completion_tokens=4, prompt_tokens=len(PROMPT))


async def test_request_body_and_headers(fake: FakeOpenAI, make_client) -> None:
    client = make_client(fake.base_url, model="llama-3.1-8b-instruct", api_key="sk-test")
    params = GenerationParams(
        max_tokens=123,
        temperature=0.7,
        stop_token_ids=[128009, 128008],
        extra={"top_k": 40, "logit_bias": {"128009": -100}},
    )

    await collect(client, PROMPT, params)

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/completions")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body == {
        "model": "llama-3.1-8b-instruct",
        "prompt": PROMPT,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 123,
        "temperature": 0.7,
        "stop_token_ids": [128009, 128008],
        "top_k": 40,
        "logit_bias": {"128009": -100},
    }


async def test_no_authorization_header_without_api_key(fake: FakeOpenAI, make_client) -> None:
    await collect(make_client(fake.base_url, api_key=""))

    assert "authorization" not in fake.requests[0].headers


# --- retries before the first token ------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        *(pytest.param(Reply(status=status), id=f"http-{status}") for status in (429, 500, 502, 503, 504)),
        pytest.param(Reply(drop_before_headers=True), id="dropped-before-headers"),
        pytest.param(Reply(drop_before_first_chunk=True), id="dropped-after-headers"),
        pytest.param(Reply(drop_after=0), id="dropped-before-the-first-text"),
        pytest.param(Reply(texts=[], finish_reason=None), id="ended-without-finish-reason"),
    ],
)
async def test_retries_before_the_first_token_then_succeeds(fake: FakeOpenAI, make_client, failure: Reply) -> None:
    fake.script(failure, failure)  # retries=2: two failures, then the default reply

    events = await collect(make_client(fake.base_url, retries=2))

    assert len(fake.requests) == 3
    assert text_of(events) == "Hello, world!"
    assert events[-1] == StreamEnd("stop", completion_tokens=4, prompt_tokens=len(PROMPT))
    assert [r.body for r in fake.requests] == [fake.requests[0].body] * 3  # the same request each time


async def test_retry_delays_grow_exponentially(fake: FakeOpenAI, make_client) -> None:
    fake.fail_first(3, status=503)

    await collect(make_client(fake.base_url, retries=3, retry_backoff=0.05))

    arrivals = [r.arrived_at for r in fake.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == 3
    for gap, minimum in zip(gaps, (0.05, 0.10, 0.20), strict=True):
        assert gap >= minimum * 0.95


@pytest.mark.parametrize("retries", [0, 1, 3])
async def test_gives_model_unavailable_once_retries_are_exhausted(fake: FakeOpenAI, make_client, retries: int) -> None:
    fake.fail_first(retries + 1, status=503)

    events, error = await collect_until_error(make_client(fake.base_url, retries=retries))

    assert type(error) is ModelUnavailable
    assert events == []
    assert len(fake.requests) == retries + 1
    assert error.detail == str(error)


@pytest.mark.parametrize("status", [400, 401, 404, 413, 422])
async def test_client_errors_are_rejected_without_retry(fake: FakeOpenAI, make_client, status: int) -> None:
    fake.script(Reply(status=status))

    events, error = await collect_until_error(make_client(fake.base_url, retries=3))

    assert type(error) is ModelRequestRejected
    assert events == []
    assert len(fake.requests) == 1
    assert f"({status})" in error.detail
    assert f"fake {status}" in error.detail  # the server's own explanation is kept


async def test_connection_refused_gives_model_unavailable(make_client) -> None:
    closed_port = free_port()  # bound and released: nothing listens there

    events, error = await collect_until_error(make_client(f"http://127.0.0.1:{closed_port}/v1", retries=1))

    assert type(error) is ModelUnavailable
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert events == []


@pytest.fixture
def unresponsive_port() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


async def test_connect_timeout_gives_model_unavailable(make_client, unresponsive_port: int) -> None:
    client = make_client(f"http://127.0.0.1:{unresponsive_port}/v1", connect_timeout=0.2, retries=1)

    events, error = await collect_until_error(client)

    assert type(error) is ModelUnavailable
    assert isinstance(error.__cause__, httpx.ConnectTimeout)
    assert events == []


async def test_read_timeout_before_the_first_chunk_gives_unavailable_after_retries(
    fake: FakeOpenAI, make_client
) -> None:
    fake.default = Reply(stall_before_first=2.0)

    events, error = await collect_until_error(make_client(fake.base_url, read_timeout=0.3, retries=2))

    assert type(error) is ModelUnavailable
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert events == []
    assert len(fake.requests) == 3
    for request in fake.requests:  # the client hung up on each stalled attempt
        await asyncio.wait_for(request.disconnected.wait(), 1.0)
        assert not request.completed


async def test_first_token_deadline_covers_every_retry(fake: FakeOpenAI, make_client) -> None:
    fake.default = Reply(stall_before_first=5.0)
    client = make_client(fake.base_url, read_timeout=0.4, first_token_timeout=0.6, retries=5)

    events, error = await collect_until_error(client)

    assert type(error) is ModelUnavailable
    assert error.detail.startswith("The model service did not start answering within 0.6 seconds.")
    assert events == []
    assert len(fake.requests) < 6  # the deadline ended it, not the retries running out
    for request in fake.requests:
        await asyncio.wait_for(request.disconnected.wait(), 1.0)


# --- failures after the first token: never retried --------------------------------------------


@pytest.mark.parametrize("after", [0, 2])
async def test_error_event_raises_stream_broken(fake: FakeOpenAI, make_client, after: int) -> None:
    fake.script(Reply(error_after=after, error_message="CUDA out of memory"))

    events, error = await collect_until_error(make_client(fake.base_url))

    assert type(error) is ModelStreamBroken
    assert "CUDA out of memory" in error.detail
    assert events == [TextDelta(t) for t in ("Hello", ",", " world", "!")[:after]]
    assert len(fake.requests) == 1


async def test_dropped_connection_after_k_chunks_is_broken_and_not_retried(fake: FakeOpenAI, make_client) -> None:
    fake.script(Reply(drop_after=2))

    events, error = await collect_until_error(make_client(fake.base_url, retries=3))

    assert type(error) is ModelStreamBroken
    assert isinstance(error.__cause__, httpx.TransportError)
    assert events == [TextDelta("Hello"), TextDelta(",")]
    assert len(fake.requests) == 1


async def test_stream_ending_without_finish_reason_after_text_is_broken(fake: FakeOpenAI, make_client) -> None:
    fake.script(Reply(finish_reason=None))

    events, error = await collect_until_error(make_client(fake.base_url, retries=3))

    assert type(error) is ModelStreamBroken
    assert text_of(events) == "Hello, world!"
    assert len(fake.requests) == 1


async def test_read_timeout_between_chunks_after_text_is_broken(fake: FakeOpenAI, make_client) -> None:
    fake.script(Reply(stall_between=2.0))

    events, error = await collect_until_error(make_client(fake.base_url, read_timeout=0.3, retries=3))

    assert type(error) is ModelStreamBroken
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert events == [TextDelta("Hello")]
    assert len(fake.requests) == 1


async def test_malformed_data_event_raises_a_model_error(fake: FakeOpenAI, make_client) -> None:
    fake.script(Reply(raw_events=["{not json", "[DONE]"]))

    with pytest.raises(ModelError):
        await collect(make_client(fake.base_url, retries=0))


# --- cancellation --------------------------------------------------------------------------------


async def cancel_once(
    consume: Callable[[], Awaitable[None]], ready: asyncio.Event, fake: FakeOpenAI
) -> ReceivedRequest:
    """Run `consume` until `ready`, cancel it, and return the one request once the server saw it close."""
    task = asyncio.create_task(consume())
    await asyncio.wait_for(ready.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [request] = fake.requests
    await asyncio.wait_for(request.disconnected.wait(), 1.0)
    assert not request.completed
    return request


async def test_cancelling_the_consumer_closes_the_connection(fake: FakeOpenAI, make_client) -> None:
    fake.default = Reply(texts=["tick "] * 500, stall_between=0.02)
    client = make_client(fake.base_url)
    received: list[StreamEvent] = []
    three = asyncio.Event()

    async def consume() -> None:
        async for event in client.stream(PROMPT, PARAMS):
            received.append(event)
            if len(received) == 3:
                three.set()

    request = await cancel_once(consume, three, fake)
    assert request.texts_sent < 100
    assert len(fake.requests) == 1  # cancellation is not a failure to retry


async def test_cancelling_a_consumer_busy_between_events_closes_the_connection(fake: FakeOpenAI, make_client) -> None:
    """Cancelled while awaiting something else (say, a slow WebSocket send), not the next chunk."""
    fake.default = Reply(texts=["tick "] * 500, stall_between=0.02)
    client = make_client(fake.base_url)
    handling = asyncio.Event()

    async def consume() -> None:
        async for _event in client.stream(PROMPT, PARAMS):
            handling.set()
            await asyncio.Event().wait()  # never set: busy with the first event until cancelled

    await cancel_once(consume, handling, fake)


async def test_closing_the_iterator_closes_the_connection(fake: FakeOpenAI, make_client) -> None:
    fake.default = Reply(texts=["tick "] * 500, stall_between=0.02)
    stream = make_client(fake.base_url).stream(PROMPT, PARAMS)

    assert await anext(stream) == TextDelta("tick ")
    assert await anext(stream) == TextDelta("tick ")
    await stream.aclose()

    [request] = fake.requests
    await asyncio.wait_for(request.disconnected.wait(), 1.0)
    assert not request.completed


# --- the real embedded server (llama.cpp + SmolLM2-135M) -------------------------------------------


def _listening_pid(port: int) -> int:
    """The process listening on a loopback TCP port, from /proc (no psutil here)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:
            continue
    raise LookupError(f"no process of ours listens on port {port}")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, all threads


async def _cpu_used_over(pid: int, seconds: float) -> float:
    before = _cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return _cpu_seconds(pid) - before


@pytest.mark.live
async def test_real_stream_yields_text_and_a_finish_reason(embedded_model: str, make_client) -> None:
    client = make_client(embedded_model, model=MODEL_ALIAS, read_timeout=30)

    events = await collect(client, chatml_prompt("Say hello."), GenerationParams(max_tokens=16))

    assert text_of(events).strip()
    assert all(isinstance(event, TextDelta) for event in events[:-1])
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].finish_reason in {"stop", "length"}


@pytest.mark.live
async def test_cancelling_the_consumer_stops_llama_cpp_generating(embedded_model: str, make_client) -> None:
    """llama.cpp aborts a generation whose client went away.

    The server's CPU time is watched, with no other request in flight: about two cores busy while it
    generates, idle once it has stopped. An open
    connection that is merely not read keeps it generating, so only a closed connection passes.
    Timings assume no other llama.cpp process competes for this machine's cores.
    """
    client = make_client(embedded_model, model=MODEL_ALIAS, read_timeout=30)
    server_pid = _listening_pid(urlsplit(embedded_model).port or 80)
    pace = TokenPace()
    endless_tokens = 2000  # ~20 s of generation
    endless = GenerationParams(max_tokens=endless_tokens, extra=dict(NEVER_STOP_BIAS))
    task = asyncio.create_task(pace.read(client.stream(chatml_prompt("Tell me a long story about a dragon."), endless)))
    await asyncio.wait_for(pace.flowing.wait(), 30)
    busy = await _cpu_used_over(server_pid, 0.5)  # control: generating shows up as CPU time
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # A slot still generating would hold the next request about this long.
    tokens_left_seconds = pace.seconds_for(endless_tokens - len(pace.arrivals))
    assert busy > 0.2

    # The token being computed finishes first; the ~20 s of generation left must not run.
    deadline = time.monotonic() + 8.0
    while (idle := await _cpu_used_over(server_pid, 0.5)) > 0.1 and time.monotonic() < deadline:
        pass
    assert idle <= 0.1, "llama.cpp kept generating after the client disconnected"

    started = time.monotonic()
    second = client.stream(chatml_prompt("Say hi."), GenerationParams(max_tokens=8))
    first = await asyncio.wait_for(anext(second), tokens_left_seconds)
    waited = time.monotonic() - started
    await second.aclose()
    assert isinstance(first, TextDelta)
    assert waited < tokens_left_seconds / 4, "the next request waited as if the slot were still generating"


async def test_the_turn_id_reaches_the_model_server_as_x_request_id(fake: FakeOpenAI, make_client) -> None:
    turn = "0b6c7a2e-3f51-4c1e-9a7d-2a9f4e0c5b11"
    token = log_context.turn_id.set(turn)
    try:
        await collect(make_client(fake.base_url))
    finally:
        log_context.turn_id.reset(token)
    await collect(make_client(fake.base_url))

    assert fake.requests[0].headers["x-request-id"] == turn
    assert "x-request-id" not in fake.requests[1].headers


# --- chat requests (a photo for the vision model) ------------------------------------------------

CHAT = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "text", "text": "What is this?"},
        ],
    },
]


async def test_a_chat_stream_posts_the_messages_and_yields_the_same_events(fake: FakeOpenAI, make_client) -> None:
    fake.default = Reply(texts=["A ", "red ", "car."])
    client = make_client(fake.base_url, model="llama-3.2-11b-vision-instruct")
    params = GenerationParams(max_tokens=50, temperature=0.3, stop_token_ids=[128009], extra={"top_k": 40})

    events = [event async for event in client.stream_chat(CHAT, params)]

    assert events == [TextDelta("A "), TextDelta("red "), TextDelta("car."), StreamEnd("stop", 3, 11)]
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.body == {
        "model": "llama-3.2-11b-vision-instruct",
        "messages": CHAT,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
        "temperature": 0.3,
        "stop_token_ids": [128009],
        "top_k": 40,
    }


async def test_a_chat_stream_retries_before_its_first_token(fake: FakeOpenAI, make_client) -> None:
    fake.fail_first(2, status=503)

    events = [event async for event in make_client(fake.base_url).stream_chat(CHAT, PARAMS)]

    assert text_of(events) == "Hello, world!"
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"] * 3


async def test_cancelling_a_chat_stream_closes_the_connection(fake: FakeOpenAI, make_client) -> None:
    fake.default = Reply(texts=["tick "] * 500, stall_between=0.02)
    client = make_client(fake.base_url)
    received: list[StreamEvent] = []
    three = asyncio.Event()

    async def consume() -> None:
        async for event in client.stream_chat(CHAT, PARAMS):
            received.append(event)
            if len(received) == 3:
                three.set()

    request = await cancel_once(consume, three, fake)
    assert request.texts_sent < 100
