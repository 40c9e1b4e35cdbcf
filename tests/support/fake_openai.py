"""A contract fake of an OpenAI-compatible `/v1/chat/completions` streaming server.

Production answers come from vLLM on a GPU server, which cannot run here. This fake stands in for it
in the client's contract tests: it is a REAL HTTP/1.1 server on 127.0.0.1 (plain `asyncio` streams,
no framework), so the client's sockets, timeouts, chunked decoding and connection closing are all
exercised for real. It speaks the wire format of OpenAI and vLLM exactly:

    HTTP/1.1 200 OK, content-type: text/event-stream, transfer-encoding: chunked
    data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", ...}}]}
    data: {... "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": null}]}
    ...
    data: {... "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    data: {... "choices": [], "usage": {...}}          (only if the request set stream_options.include_usage)
    data: [DONE]

each event followed by a blank line. Errors before the stream are JSON bodies with a 4xx/5xx status;
errors inside the stream are `data: {"error": {"message": ...}}` events, as vLLM sends them.

Each request is answered by the next scripted `Reply` (then by `default`), which can fail with a
status, drop the connection at several points, stall, or send an error event. Every request is
recorded as a `ReceivedRequest`, including whether the client disconnected before the reply ended.
`GET /v1/models` (what readiness checks ask) lists the model; it is neither scripted nor recorded.

As a process (`python -m tests.support.fake_openai --port 8101 --tokens 128 --rate 150`) it answers
every request with --tokens chunks at --rate per second: a model server that spends none of this
machine's CPU, as a GPU server would, for benchmarks/relay.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

FAKE_PROMPT_TOKENS = 11


@dataclass(frozen=True)
class Reply:
    """How the fake answers one request. Counts of chunks refer to text (content) chunks."""

    status: int = 200
    texts: Sequence[str] = ("Hello", ",", " world", "!")
    finish_reason: str | None = "stop"
    send_usage: bool = True  # a usage chunk, when the request asks for one
    error_body: str | None = None  # body of a non-200 reply (default: an OpenAI error object)
    drop_before_headers: bool = False  # close the connection as soon as the request is read
    drop_before_first_chunk: bool = False  # send 200 headers, then close
    drop_after: int | None = None  # close after this many text chunks (0: after the role chunk)
    error_after: int | None = None  # send an error event after this many text chunks
    error_message: str = "The engine crashed."
    stall_before_first: float = 0.0  # seconds between the headers and the first event
    stall_between: float = 0.0  # seconds between two text chunks
    split_writes: bool = False  # write every event in 3-byte HTTP chunks: multi-byte characters get split
    ping_comments: bool = False  # an SSE comment line (": ping") before every event, as sse-starlette sends
    line_ending: str = "\n"
    raw_events: Sequence[str] | None = None  # send exactly these `data:` payloads instead of a completion


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    arrived_at: float  # time.monotonic()
    texts_sent: int = 0
    completed: bool = False  # the whole reply, through `data: [DONE]`, was written
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)  # the client closed first


class _ClientGone(Exception):
    pass


class FakeOpenAI:
    """`async with FakeOpenAI() as fake:` serves on `fake.base_url` (…/v1) until the block ends."""

    def __init__(self, *replies: Reply, default: Reply | None = None, model: str = "fake-model", port: int = 0) -> None:
        self.listen_port = port  # 0: any free port
        self.replies: deque[Reply] = deque(replies)
        self.default = default or Reply()
        self.model = model
        self.requests: list[ReceivedRequest] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._arrivals = asyncio.Condition()

    # --- scripting -------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def fail_first(self, n: int, status: int = 503) -> None:
        self.replies.extend(Reply(status=status) for _ in range(n))

    async def until_requests(self, count: int) -> list[ReceivedRequest]:
        """Wait until `count` requests have arrived; the requests so far."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start the fake first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- HTTP --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while (request := await self._read_request(reader)) is not None:
                if request.method == "GET" and request.path.rstrip("/") == "/v1/models":
                    await self._send_json(writer, 200, self._model_list())
                    continue
                self.requests.append(request)
                async with self._arrivals:
                    self._arrivals.notify_all()
                reply = self.replies.popleft() if self.replies else self.default
                if not await self._respond(request, reply, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, _ClientGone):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> ReceivedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _version = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        return ReceivedRequest(method, path, headers, body, arrived_at=time.monotonic())

    async def _respond(
        self, request: ReceivedRequest, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        if reply.drop_before_headers:
            return False
        if request.method != "POST" or request.path.rstrip("/") != "/v1/chat/completions":
            await self._send_json(writer, 404, {"error": {"message": f"No route {request.path}", "code": 404}})
            return True
        if reply.status != 200:
            body = reply.error_body or json.dumps(
                {"error": {"message": f"fake {reply.status}", "type": "fake_error", "code": reply.status}}
            )
            await self._send_json(writer, reply.status, body)
            return True
        if not isinstance(request.body, dict) or request.body.get("stream") is not True:
            await self._send_json(writer, 400, {"error": {"message": "the fake only streams", "code": 400}})
            return True

        writer.write(
            b"HTTP/1.1 200 OK\r\n"
            b"content-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        await writer.drain()
        if reply.drop_before_first_chunk:
            return False
        # Reading from the client while answering shows when it closes the connection.
        eof = asyncio.ensure_future(reader.read(1))
        try:
            return await self._stream(request, reply, writer, eof)
        except (_ClientGone, ConnectionError):
            request.disconnected.set()
            return False
        finally:
            eof.cancel()

    async def _stream(
        self, request: ReceivedRequest, reply: Reply, writer: asyncio.StreamWriter, eof: asyncio.Future[bytes]
    ) -> bool:
        body = request.body
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            event = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", self.model),
                "choices": choices,
            }
            if include_usage:
                event["usage"] = None
            event.update(extra)
            return event

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]

        async def pause(seconds: float) -> None:
            done, _ = await asyncio.wait({eof}, timeout=seconds) if seconds > 0 else (set(), set())
            if done or eof.done():
                raise _ClientGone

        async def send(data: str) -> None:
            await pause(0)
            end = reply.line_ending
            event = (f": ping{end}" if reply.ping_comments else "") + f"data: {data}{end}{end}"
            encoded = event.encode("utf-8")
            size = 3 if reply.split_writes else len(encoded)
            for start in range(0, len(encoded), size):
                part = encoded[start : start + size]
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()

        async def end_stream() -> None:
            await send("[DONE]")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            request.completed = True

        await pause(reply.stall_before_first)
        if reply.raw_events is not None:
            for payload in reply.raw_events:
                await send(payload)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            request.completed = True
            return True
        await send(json.dumps(chunk(choice({"role": "assistant", "content": ""}))))
        for index in range(len(reply.texts) + 1):
            if reply.error_after == index:
                await send(json.dumps({"error": {"message": reply.error_message, "type": "InternalServerError"}}))
                await end_stream()
                return True
            if reply.drop_after == index:
                return False
            if index == len(reply.texts):
                break
            if index:
                await pause(reply.stall_between)
            await send(json.dumps(chunk(choice({"content": reply.texts[index]}))))
            request.texts_sent += 1
        if reply.finish_reason is not None:
            await send(json.dumps(chunk(choice({}, reply.finish_reason))))
        if include_usage and reply.send_usage:
            completion_tokens = len(reply.texts)
            usage = {
                "prompt_tokens": FAKE_PROMPT_TOKENS,
                "completion_tokens": completion_tokens,
                "total_tokens": FAKE_PROMPT_TOKENS + completion_tokens,
            }
            await send(json.dumps(chunk([], usage=usage)))
        await end_stream()
        return True

    def _model_list(self) -> dict[str, Any]:
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}
        return {"object": "list", "data": [model]}

    @staticmethod
    async def _send_json(writer: asyncio.StreamWriter, status: int, body: dict[str, Any] | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
        writer.write(head.encode("latin-1") + data)
        await writer.drain()


async def _serve_paced(port: int, tokens: int, rate: float) -> None:
    reply = Reply(texts=[" word"] * tokens, finish_reason="length", stall_between=1 / rate)
    async with FakeOpenAI(default=reply, port=port):
        await asyncio.Event().wait()  # until the process is stopped


def main() -> None:
    parser = argparse.ArgumentParser(description="A paced OpenAI-compatible streaming server on loopback.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=128, help="text chunks in every answer")
    parser.add_argument("--rate", type=float, default=150, help="chunks per second")
    args = parser.parse_args()
    asyncio.run(_serve_paced(args.port, args.tokens, args.rate))


if __name__ == "__main__":
    main()
