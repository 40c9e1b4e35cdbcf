"""A paced OpenAI-compatible completions server built for load: a GPU model server that costs this
machine almost nothing, so a benchmark measures the web process and not its stand-in.

    python -m benchmarks.paced_model --port 8101 --tokens 20 --rate 10 [--prefill-ms 0]
    python -m benchmarks.paced_model --selftest [--streams 2000] [--seconds 10] [--rate 10]

It speaks what model_service/client.py reads: `POST /v1/completions` with token ids as the prompt
and `"stream": true` answers `text_completion` chunks as Server-Sent Events in HTTP/1.1 chunks,
a finish chunk, a usage chunk when `stream_options.include_usage` asks for one, then
`data: [DONE]`; `GET /v1/models` lists the model (readiness). `POST /v1/chat/completions` streams
the same answer as `chat.completion.chunk`s after a role chunk (benchmarks/relay.py's direct path).
An answer has min(--tokens, max_tokens) chunks of " word" and ends with "length" when max_tokens
cut it, else "stop".

Why it is cheap: like a vLLM engine step, one timer tick per 1/rate seconds writes the next chunk
to every open stream, and every chunk's bytes (SSE event inside its HTTP chunk frame) are built
once per model name, so a chunk costs one `transport.write` and no task, sleep or JSON per stream.
A stream's first chunk leaves as soon as its request is read, or --prefill-ms later (a GPU server's
prefill, which a content check running beside the request can hide behind); it then joins the
shared tick once half a period has passed, so its gaps stay near the pacing.

Measured on the 2-core benchmark machine, 2026-12-02, `--selftest --streams 2000 --seconds 10
--rate 10` (the client in another process): 19,300 chunks/s for 1.02 CPU s in 10.4 s, 10 % of a core,
5.1 us a chunk. The same load on tests.support.fake_openai (`--server tests.support.fake_openai`:
uvicorn, a sleep per stream per chunk) reached only 7,750 chunks/s, at 36.6 us a chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import httptools
import psutil
import uvloop

CHUNK_TEXT = " word"
SSE_HEADERS = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
LAST_CHUNK = b"0\r\n\r\n"


def http_chunk(payload: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def sse_chunk(data: str) -> bytes:
    """One SSE event framed as one HTTP chunk."""
    return http_chunk(f"data: {data}\n\n".encode())


def error_body(status: int, message: str) -> dict[str, object]:
    """An error as vLLM's OpenAI server words it."""
    kind = {400: "BadRequestError", 404: "NotFoundError", 405: "MethodNotAllowedError"}[status]
    return {"error": {"message": message, "type": kind, "code": status}}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Completion:
    """What one request asks for, validated."""

    chat: bool
    model: str
    prompt_tokens: int
    max_tokens: int | None
    include_usage: bool

    @classmethod
    def parse(cls, body: bytes, *, chat: bool) -> Completion:
        try:
            request = json.loads(body)
        except ValueError as exc:
            raise BadRequest(400, "the body is not JSON") from exc
        if not isinstance(request, dict):
            raise BadRequest(400, "the body must be a JSON object")
        if request.get("stream") is not True:
            raise BadRequest(400, "this server only streams: set stream to true")
        max_tokens = request.get("max_tokens")
        if max_tokens is not None and (not _is_token_id(max_tokens) or max_tokens < 1):
            raise BadRequest(400, "max_tokens must be a positive integer")
        model = request.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest(400, "model must be a non-empty string")
        options = request.get("stream_options") or {}
        if not isinstance(options, dict):
            raise BadRequest(400, "stream_options must be an object")
        prompt_tokens = _chat_prompt_tokens(request) if chat else _prompt_tokens(request)
        return cls(chat, model, prompt_tokens, max_tokens, bool(options.get("include_usage")))


def _prompt_tokens(request: dict[str, object]) -> int:
    prompt = request.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], list):
        prompt = prompt[0]  # a batch of one, as vLLM takes it
    if not isinstance(prompt, list) or not prompt or not all(_is_token_id(i) for i in prompt):
        raise BadRequest(400, "prompt must be a non-empty list of token ids")
    return len(prompt)


def _chat_prompt_tokens(request: dict[str, object]) -> int:
    """A chat prompt's words: this server has no tokenizer (benchmarks/relay.py's direct path)."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, "messages must be a non-empty list")
    if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
        raise BadRequest(400, "every message must be an object with a text content")
    return sum(len(message["content"].split()) for message in messages)


def _is_token_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class ChunkSet:
    """Every chunk a stream of one kind and model sends, built once (the id and `created` are shared)."""

    chat: bool
    model: str
    include_usage: bool

    def _event(self, choices: list[dict[str, object]], **extra: object) -> str:
        event: dict[str, object] = {
            "id": "chatcmpl-paced" if self.chat else "cmpl-paced",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": STARTED,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            event["usage"] = None
        return json.dumps(event | extra)

    def _choice(self, text: str | None, finish_reason: str | None) -> list[dict[str, object]]:
        """The one choice of a chunk: a piece of text, or (None) the end."""
        if self.chat:
            delta = {} if text is None else {"content": text}
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        return [{**choice, "stop_reason": None}]

    @functools.cached_property
    def start(self) -> bytes:
        """The headers, and a chat stream's role chunk (a text completion has none)."""
        role = [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]
        return SSE_HEADERS + (sse_chunk(self._event(role)) if self.chat else b"")

    @functools.cached_property
    def text(self) -> bytes:
        return sse_chunk(self._event(self._choice(CHUNK_TEXT, None)))

    def end(self, finish_reason: str, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The finish chunk, the usage chunk if asked for, [DONE] and the end of the HTTP body."""
        events = [self._event(self._choice(None, finish_reason))]
        if self.include_usage:
            total = prompt_tokens + completion_tokens
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": total}
            events.append(self._event([], usage=usage))
        events.append("[DONE]")
        return b"".join(sse_chunk(event) for event in events) + LAST_CHUNK


STARTED = int(time.time())


@functools.lru_cache(maxsize=16)
def chunk_set(chat: bool, model: str, include_usage: bool) -> ChunkSet:
    return ChunkSet(chat, model, include_usage)


@dataclass(eq=False)
class Stream:
    connection: Connection
    chunks: ChunkSet
    completion: Completion
    tokens: int
    joined_at: float
    sent: int = 0

    def send_next(self) -> bool:
        """Write the next chunk, and the end after the last; True while more remain."""
        if self.connection.closed:
            return False
        self.connection.transport.write(self.chunks.text)
        self.sent += 1
        if self.sent < self.tokens:
            return True
        limited = self.completion.max_tokens is not None and self.completion.max_tokens <= self.tokens
        end = self.chunks.end("length" if limited else "stop", self.completion.prompt_tokens, self.sent)
        self.connection.transport.write(end)
        self.connection.stream_finished()
        return False


@dataclass
class Pacer:
    """One timer for every stream: each tick writes each open stream's next chunk."""

    tokens: int
    rate: float
    prefill_seconds: float = 0.0
    joining: list[Stream] = field(default_factory=list)
    active: list[Stream] = field(default_factory=list)
    _next_tick: float = 0.0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._next_tick = loop.time() + 1 / self.rate
        loop.call_at(self._next_tick, self._tick, loop)

    def begin(self, connection: Connection, completion: Completion) -> None:
        if self.prefill_seconds > 0:
            asyncio.get_running_loop().call_later(self.prefill_seconds, self._first_chunk, connection, completion)
        else:
            self._first_chunk(connection, completion)

    def _first_chunk(self, connection: Connection, completion: Completion) -> None:
        if connection.closed:  # the client gave up during the prefill
            return
        tokens = min(self.tokens, completion.max_tokens or self.tokens)
        chunks = chunk_set(completion.chat, completion.model, completion.include_usage)
        connection.transport.write(chunks.start)
        stream = Stream(connection, chunks, completion, tokens, asyncio.get_running_loop().time())
        if stream.send_next():
            self.joining.append(stream)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        period = 1 / self.rate
        joined_before = loop.time() - period / 2
        ready = [stream for stream in self.joining if stream.joined_at <= joined_before]
        if ready:
            self.joining = [stream for stream in self.joining if stream.joined_at > joined_before]
            self.active.extend(ready)
        self.active = [stream for stream in self.active if stream.send_next()]
        # Anchored to the schedule (no drift); after a tick that ran a whole period late, a fresh one
        # (a catch-up tick would send two chunks back to back).
        self._next_tick += period
        if self._next_tick <= loop.time():
            self._next_tick = loop.time() + period
        loop.call_at(self._next_tick, self._tick, loop)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; requests in turn (no pipelining, as httpx sends them)."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport
        self.closed = False
        self.streaming = False
        self._url = b""
        self._body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True  # the tick drops its stream

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._respond(400, error_body(400, "malformed HTTP request"), close=True)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._body = b"", b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        if self.streaming:
            self._respond(400, error_body(400, "one request at a time per connection"), True)
            return
        path = httptools.parse_url(self._url).path.decode("latin-1").rstrip("/")
        method = self.parser.get_method()
        if path == "/v1/models" and method == b"GET":
            self._respond(200, {"object": "list", "data": [{"id": "paced", "object": "model", "owned_by": "paced"}]})
        elif path in {"/v1/completions", "/v1/chat/completions"} and method == b"POST":
            self._complete(chat=path == "/v1/chat/completions")
        elif path in {"/v1/models", "/v1/completions", "/v1/chat/completions"}:
            self._respond(405, error_body(405, f"{method.decode()} is not allowed on {path}"))
        else:
            self._respond(404, error_body(404, f"no route {path}"))

    def _complete(self, *, chat: bool) -> None:
        try:
            completion = Completion.parse(self._body, chat=chat)
        except BadRequest as exc:
            self._respond(exc.status, error_body(exc.status, exc.message))
            return
        self.streaming = True
        self.pacer.begin(self, completion)

    def stream_finished(self) -> None:
        self.streaming = False
        if not self.parser.should_keep_alive():
            self.transport.close()

    def _respond(self, status: int, body: object, close: bool = False) -> None:
        payload = json.dumps(body).encode()
        head = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\ncontent-type: application/json\r\n"
        head += f"content-length: {len(payload)}\r\n" + ("connection: close\r\n" if close else "") + "\r\n"
        self.transport.write(head.encode() + payload)
        if close or not self.parser.should_keep_alive():
            self.transport.close()


async def serve(port: int, tokens: int, rate: float, prefill_ms: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    pacer = Pacer(tokens, rate, prefill_ms / 1000)
    pacer.start(loop)
    server = await loop.create_server(lambda: Connection(pacer), "127.0.0.1", port, backlog=4096)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    async with server:
        await stopped.wait()


class _SelftestClient(asyncio.Protocol):
    """Sends one completion request and keeps the whole answer (no parsing while it streams)."""

    def __init__(self, request: bytes, finished: asyncio.Future[bytes]) -> None:
        self.request = request
        self.finished = finished
        self.received = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        self.received += data
        if self.received.endswith(LAST_CHUNK) and not self.finished.done():
            self.finished.set_result(bytes(self.received))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_exception(ConnectionError(f"closed after {len(self.received)} bytes"))


async def _selftest_streams(port: int, streams: int, tokens: int) -> int:
    """Open every stream at once; the number of text chunks received in all."""
    body = json.dumps({"model": "paced", "prompt": [1, 2, 3], "stream": True, "max_tokens": tokens}).encode()
    head = "POST /v1/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    request = (head + f"content-length: {len(body)}\r\n\r\n").encode() + body
    loop = asyncio.get_running_loop()
    answers: list[asyncio.Future[bytes]] = []
    for _ in range(streams):
        answers.append(finished := loop.create_future())
        await loop.create_connection(lambda f=finished: _SelftestClient(request, f), "127.0.0.1", port)
    return sum(answer.count(b'"text": " word"') for answer in await asyncio.gather(*answers))


def selftest(server_module: str, streams: int, seconds: float, rate: float) -> str:
    """Run `server_module` (this one, or tests.support.fake_openai for comparison) as its own process
    under `streams` concurrent streams for `seconds`; its CPU seconds per chunk sent."""
    from tests.support.processes import free_port, running  # test support: only the selftest needs it

    port, tokens = free_port(), round(seconds * rate)
    command = [sys.executable, "-m", server_module, "--port", str(port), "--tokens", str(tokens), "--rate", str(rate)]
    with running(command, env=dict(os.environ), log=Path(os.devnull), ready_url=f"http://127.0.0.1:{port}/v1/models"):
        server = psutil.Process(_listening_pid(port))
        before, started = sum(server.cpu_times()[:2]), time.perf_counter()
        chunks = uvloop.run(_selftest_streams(port, streams, tokens))
        cpu, wall = sum(server.cpu_times()[:2]) - before, time.perf_counter() - started
    if chunks != streams * tokens:
        raise RuntimeError(f"expected {streams * tokens} text chunks, received {chunks}")
    return (
        f"{server_module}: {streams} streams x {tokens} chunks at {rate:g}/s in {wall:.1f} s: "
        f"{chunks / wall:,.0f} chunks/s, server CPU {cpu:.2f} s ({cpu / wall:.0%} of a core), "
        f"{cpu / chunks * 1e6:.1f} us per chunk"
    )


def _listening_pid(port: int) -> int:
    for connection in psutil.net_connections("tcp"):
        if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
            return connection.pid
    raise RuntimeError(f"no process listens on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description="A paced OpenAI-compatible completions server for load.")
    parser.add_argument("--port", type=int, help="serve on this loopback port")
    parser.add_argument("--tokens", type=int, default=128, help="text chunks in every answer (at most)")
    parser.add_argument("--rate", type=float, default=150, help="chunks per second of every stream")
    parser.add_argument("--prefill-ms", type=float, default=0, help="wait before every answer's first chunk")
    parser.add_argument("--selftest", action="store_true", help="measure this server's CPU per chunk")
    parser.add_argument("--streams", type=int, default=2000, help="selftest: concurrent streams")
    parser.add_argument("--seconds", type=float, default=10, help="selftest: length of every stream")
    parser.add_argument("--server", default="benchmarks.paced_model", help="selftest: the server module to measure")
    args = parser.parse_args()
    if args.tokens < 1 or args.rate <= 0 or args.prefill_ms < 0:
        parser.error("--tokens and --rate must be positive, --prefill-ms not negative")
    if args.selftest:
        print(selftest(args.server, args.streams, args.seconds, args.rate))
    elif args.port is None:
        parser.error("--port is required unless --selftest")
    else:
        uvloop.run(serve(args.port, args.tokens, args.rate, args.prefill_ms))


if __name__ == "__main__":
    main()
