"""A contract fake of vLLM's OpenAI-compatible `/v1/completions` and `/v1/chat/completions`, streaming
Server-Sent Events.

Production answers come from vLLM on a GPU server, which cannot run here. This fake stands in for it
in the client's contract tests: it is a REAL HTTP/1.1 server on 127.0.0.1 (uvicorn, as under vLLM itself;
tests/support/loopback.py), so the client's sockets, timeouts, chunked decoding and connection closing
are all exercised for real. It speaks the wire format of OpenAI and vLLM exactly:

    HTTP/1.1 200 OK, content-type: text/event-stream, transfer-encoding: chunked
    data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", ...}}]}
    data: {... "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": null}]}
    ...
    data: {... "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    data: {... "choices": [], "usage": {...}}          (only if the request set stream_options.include_usage)
    data: [DONE]

each event followed by a blank line. `/v1/completions` streams the same way with
`{"object": "text_completion", "choices": [{"index": 0, "text": "Hello", ...}]}` chunks and no role
chunk. Its prompt is text or token ids (`[ids]`, or a batch of one `[[ids]]`), as vLLM takes it:
ids are run as given, text is tokenized the way vLLM does, BOS added and special tokens parsed
(with the `tokenize` the fake was given). The ids are recorded as `prompt_ids`, decoded with
`detokenize` (by default SmolLM2's vocabulary: the product's default model) as `prompt_text`, and
counted as the usage's `prompt_tokens`; `chatml_messages` reads a ChatML prompt back as messages.
Errors before the stream are JSON bodies with a 4xx/5xx status;
errors inside the stream are `data: {"error": {"message": ...}}` events, as vLLM sends them.

Each request is answered by the next scripted `Reply` (then by `default`), which can fail with a
status, drop the connection at several points, stall, or send an error event. Every request is
recorded as a `ReceivedRequest`, including whether the client disconnected before the reply ended
(an asyncio.Event of the loop that started the fake: `async with` or `await fake.start()`).
`GET /v1/models` (what readiness checks ask) lists the model; it is neither scripted nor recorded.

As a process (`python -m tests.support.fake_openai --port 8101 --tokens 128 --rate 150`) it answers
every request with --tokens chunks at --rate per second: a model server that spends none of this
machine's CPU, as a GPU server would, for benchmarks/relay.py.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import re
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from model_service.embedded import bundled_gguf
from model_service.tokens import GgufTokenizer
from tests.support.loopback import ClientGone, Exchange, LoopbackServer

FAKE_PROMPT_TOKENS = 11
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


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
    drop_after: int | None = None  # close after this many text chunks (0: before the first, after any role chunk)
    error_after: int | None = None  # send an error event after this many text chunks
    error_message: str = "The engine crashed."
    stall_before_first: float = 0.0  # seconds between the headers and the first event
    stall_between: float = 0.0  # seconds between two text chunks
    split_writes: bool = False  # write every event in 3-byte HTTP chunks: multi-byte characters get split
    ping_comments: bool = False  # an SSE comment line (": ping") before every event, as sse-starlette sends
    line_ending: str = "\n"
    raw_events: Sequence[str] | None = None  # send exactly these `data:` payloads instead of a completion
    hold_after_done: float = 0.0  # seconds between `data: [DONE]` and the body's end


# A chat stream's first chunk names the role; a text completion has none.
_CHAT_ROLE_CHOICE = [
    {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
]
Tokenize = Callable[[str], list[int]]
Detokenize = Callable[[list[int]], str | None]
_CHATML_MESSAGE = re.compile(r"<\|im_start\|>(\w+)\n(.*?)<\|im_end\|>", re.DOTALL)


@functools.cache
def _smollm2() -> GgufTokenizer:
    return GgufTokenizer.load(bundled_gguf())


def smollm2_detokenize(ids: list[int]) -> str | None:
    """Ids of the embedded model's vocabulary as text, special tokens written out; None for ids
    outside it (another model's prompt), which llama.cpp would abort the process on."""
    vocab = _smollm2().model
    if not all(0 <= token < vocab.n_vocab() for token in ids):
        return None
    return vocab.detokenize(ids, special=True).decode("utf-8", "replace")


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    arrived_at: float  # time.monotonic()
    client_port: int  # the client's end of the TCP connection it came on
    prompt_ids: list[int] | None = None  # what a /v1/completions prompt runs as (see the module's docstring)
    prompt_text: str | None = None  # those ids decoded, special tokens written out
    texts_sent: int = 0
    completed: bool = False  # the whole reply, through `data: [DONE]`, was written
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)  # the client closed first

    @property
    def chatml_messages(self) -> list[tuple[str, str]]:
        """(role, content) of each closed message of a ChatML prompt, oldest first."""
        return _CHATML_MESSAGE.findall(self.prompt_text or "")


class FakeOpenAI(LoopbackServer):
    """`async with FakeOpenAI() as fake:` serves on `fake.base_url` (…/v1) until the block ends."""

    def __init__(
        self,
        *replies: Reply,
        default: Reply | None = None,
        model: str = "fake-model",
        port: int = 0,
        tokenize: Tokenize | None = None,
        detokenize: Detokenize = smollm2_detokenize,
    ) -> None:
        super().__init__(port, routes={"/v1/models": self._list_models})
        self.tokenize = tokenize
        self.detokenize = detokenize
        self.replies: deque[Reply] = deque(replies)
        self.default = default or Reply()
        self.model = model
        self.requests: list[ReceivedRequest] = []
        self._ids = itertools.count(1)
        self._arrival = asyncio.Event()
        self._caller_loop: asyncio.AbstractEventLoop | None = None

    # --- scripting -------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def fail_first(self, n: int, status: int = 503) -> None:
        self.replies.extend(Reply(status=status) for _ in range(n))

    async def until_requests(self, count: int) -> list[ReceivedRequest]:
        """Wait until `count` requests have arrived; the requests so far."""
        while len(self.requests) < count:
            self._arrival.clear()
            await self._arrival.wait()
        return self.requests

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    async def start(self) -> Self:
        self._caller_loop = asyncio.get_running_loop()
        return await super().start()

    def _tell_caller(self, callback: Callable[[], object]) -> None:
        """Run `callback` in the loop that started the fake, which its asyncio events belong to (none
        when a process started it with `with`: nobody awaits them there)."""
        if self._caller_loop is not None:
            self._caller_loop.call_soon_threadsafe(callback)

    # --- HTTP --------------------------------------------------------------------------

    async def _list_models(self, exchange: Exchange) -> None:
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}
        await exchange.respond_json(200, {"object": "list", "data": [model]})

    async def fallback(self, exchange: Exchange) -> None:
        request = ReceivedRequest(
            exchange.method,
            exchange.path,
            exchange.headers,
            exchange.json_or_text(),
            arrived_at=time.monotonic(),
            client_port=exchange.client[1],
        )
        if _is_text_completion(request) and isinstance(request.body, dict):
            request.prompt_ids = _prompt_ids(request.body.get("prompt"), self.tokenize)
            if request.prompt_ids is not None:
                request.prompt_text = self.detokenize(request.prompt_ids)
        self.requests.append(request)
        self._tell_caller(self._arrival.set)
        reply = self.replies.popleft() if self.replies else self.default
        if reply.drop_before_headers:
            await exchange.hang_up()
        elif (refusal := _refusal(request, reply)) is not None:
            await exchange.respond_json(*refusal)
        else:
            stream = _CompletionStream(exchange, request, reply, f"chatcmpl-fake-{next(self._ids)}", self.model)
            try:
                await stream.send()
            except ClientGone:
                self._tell_caller(request.disconnected.set)


def _is_text_completion(request: ReceivedRequest) -> bool:
    return request.path.rstrip("/") == "/v1/completions"


def _prompt_ids(prompt: object, tokenize: Tokenize | None) -> list[int] | None:
    """The ids vLLM runs for a completion's prompt; None when it is not one prompt it could run."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], list):
        prompt = prompt[0]  # a batch of one
    if isinstance(prompt, list) and prompt and all(isinstance(i, int) and not isinstance(i, bool) for i in prompt):
        return prompt
    if isinstance(prompt, str) and tokenize is not None:
        return tokenize(prompt)
    return None


def _refusal(request: ReceivedRequest, reply: Reply) -> tuple[int, object] | None:
    """The status and JSON body that answer instead of a stream, if any."""
    if request.method != "POST" or request.path.rstrip("/") not in {"/v1/chat/completions", "/v1/completions"}:
        return 404, {"error": {"message": f"No route {request.path}", "code": 404}}
    if reply.status != 200:
        error = {"error": {"message": f"fake {reply.status}", "type": "fake_error", "code": reply.status}}
        return reply.status, reply.error_body or error
    if not isinstance(request.body, dict) or request.body.get("stream") is not True:
        return 400, {"error": {"message": "the fake only streams", "code": 400}}
    if _is_text_completion(request) and not isinstance(request.body.get("prompt"), str | list):
        return 400, {"error": {"message": "prompt must be text or token ids", "code": 400}}
    return None


class _CompletionStream:
    """One streamed completion: SSE events in HTTP chunks, with the faults its `Reply` asks for."""

    def __init__(self, exchange: Exchange, request: ReceivedRequest, reply: Reply, completion_id: str, model: str):
        self.exchange = exchange
        self.request = request
        self.reply = reply
        self.completion_id = completion_id
        self.model = request.body.get("model", model)
        self.include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        self.text_completion = _is_text_completion(request)

    async def send(self) -> None:
        await self.exchange.start(200, SSE_HEADERS)
        if self.reply.drop_before_first_chunk:
            await self.exchange.hang_up()
            return
        await self.exchange.pause(self.reply.stall_before_first)
        if self.reply.raw_events is None:
            await self._completion()
            return
        for payload in self.reply.raw_events:
            await self._event(payload)
        await self._end()

    async def _completion(self) -> None:
        reply = self.reply
        if not self.text_completion:
            await self._event(self._chunk(_CHAT_ROLE_CHOICE))
        for index in range(len(reply.texts) + 1):
            if reply.error_after == index:
                await self._event(
                    json.dumps({"error": {"message": reply.error_message, "type": "InternalServerError"}})
                )
                await self._done()
                return
            if reply.drop_after == index:
                await self.exchange.hang_up()
                return
            if index == len(reply.texts):
                break
            if index:
                await self.exchange.pause(reply.stall_between)
            await self._event(self._chunk(self._choice(reply.texts[index])))
            self.request.texts_sent += 1
        if reply.finish_reason is not None:
            await self._event(self._chunk(self._choice(None, reply.finish_reason)))
        if self.include_usage and reply.send_usage:
            await self._event(self._chunk([], usage=self._usage()))
        await self._done()

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        event = {
            "id": self.completion_id,
            "object": "text_completion" if self.text_completion else "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            event["usage"] = None
        event.update(extra)
        return json.dumps(event)

    def _choice(self, text: str | None, finish_reason: str | None = None) -> list[dict[str, Any]]:
        """A chunk's one choice: a piece of text, or (None) the end."""
        if self.text_completion:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
            return [{**choice, "stop_reason": None}]
        delta = {} if text is None else {"content": text}
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]

    def _usage(self) -> dict[str, int]:
        completion_tokens = len(self.reply.texts)
        ids = self.request.prompt_ids
        prompt_tokens = FAKE_PROMPT_TOKENS if ids is None else len(ids)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    async def _event(self, data: str) -> None:
        end = self.reply.line_ending
        event = (f": ping{end}" if self.reply.ping_comments else "") + f"data: {data}{end}{end}"
        encoded = event.encode("utf-8")
        size = 3 if self.reply.split_writes else len(encoded)
        for start in range(0, len(encoded), size):
            await self.exchange.write(encoded[start : start + size])

    async def _done(self) -> None:
        await self._event("[DONE]")
        await asyncio.sleep(self.reply.hold_after_done)
        await self._end()

    async def _end(self) -> None:
        await self.exchange.finish()
        self.request.completed = True


def main() -> None:
    parser = argparse.ArgumentParser(description="A paced OpenAI-compatible streaming server on loopback.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=128, help="text chunks in every answer")
    parser.add_argument("--rate", type=float, default=150, help="chunks per second")
    args = parser.parse_args()
    reply = Reply(texts=[" word"] * args.tokens, finish_reason="length", stall_between=1 / args.rate)
    with FakeOpenAI(default=reply, port=args.port):
        signal.pause()  # until the process is stopped


if __name__ == "__main__":
    main()
