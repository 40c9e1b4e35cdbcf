"""An async streaming client for an OpenAI-compatible `/v1/completions` server, prompted with token ids,
and for its `/v1/chat/completions`, which a photo turn needs (a photo cannot travel as token ids).

The project renders every prompt itself (model_service/messages.py) and sends its token ids as the
completion's prompt (`"prompt": [128000, 128006, …]`), so the server runs no chat template and
adds nothing: what the model reads is exactly what was rendered and counted. vLLM (production) and llama.cpp's
server take a token list as the prompt; the embedded server accepts one too
(model_service/llamacpp_server.py). docs/subsystems/prompts.md explains the choice. A turn with a
photo goes to a vision model as chat `messages` with an `image_url` content part
(model_service/chat_formats.py `chat_request`), streamed and handled exactly like a completion.

Behaviour that the rest of the product relies on:

- connect and read timeouts (the read timeout bounds the gap between two chunks);
- retries with backoff for connection failures, read timeouts, 429 and 5xx, but only before the
  first token: after that a retry would repeat text the user has already seen;
- one deadline for the first token, retries and backoff included, so a server that accepts
  requests and then stalls fails the answer after `first_token_timeout`, not after every retry's
  read timeout in turn;
- cancelling the consumer (task cancellation or closing the iterator) closes the HTTP response
  at once. vLLM and llama.cpp both abort a generation whose connection closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, suppress
from dataclasses import dataclass, field

import httpx

from model_service import log_context

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# How long the body's end is waited for after `data: [DONE]` (it normally comes in the same packet).
BODY_END_SECONDS = 0.5


@dataclass(frozen=True)
class ModelEndpoint:
    base_url: str
    model: str
    api_key: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    first_token_timeout: float = 60.0  # from the request to the first event, retries included
    retries: int = 2
    retry_backoff: float = 0.25
    # Concurrent requests to the server. Every streaming answer holds one connection; past this
    # limit answers wait for a free one, and httpcore's pool scans its whole wait queue against
    # every connection on each change, so a limit far below the concurrency costs quadratic CPU.
    max_connections: int = 4096


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamEnd:
    finish_reason: str
    completion_tokens: int | None = None
    prompt_tokens: int | None = None


StreamEvent = TextDelta | StreamEnd


class ModelError(Exception):
    """The model service failed; `detail` is safe to show to a user."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ModelUnavailable(ModelError):
    """No token was produced: the server was unreachable or kept failing through every retry."""


class ModelRequestRejected(ModelError):
    """The server refused the request itself (4xx): retrying cannot help."""


class ModelStreamBroken(ModelError):
    """The stream failed after tokens were already delivered."""


@dataclass
class GenerationParams:
    max_tokens: int
    temperature: float = 0.6
    # The format's end-of-turn ids: vLLM started with `--generation-config vllm` stops only at the
    # tokenizer's EOS, which for Llama 3.1 is <|eot_id|>, not <|eom_id|> after a tool call.
    stop_token_ids: list[int] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)


class _SseDecoder:
    """Incremental SSE decoder for lines arriving from the network."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if line:
            if not line.startswith(":"):
                name, _, value = line.partition(":")
                if name == "data":
                    self._data.append(value.removeprefix(" "))
            return None
        if not self._data:
            return None
        payload, self._data = "\n".join(self._data), []
        return payload


class CompletionsClient:
    def __init__(self, endpoint: ModelEndpoint, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.endpoint = endpoint
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(endpoint.read_timeout, connect=endpoint.connect_timeout),
            limits=httpx.Limits(max_connections=endpoint.max_connections, max_keepalive_connections=100),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def request_body(self, prompt: list[int], params: GenerationParams) -> dict[str, object]:
        return {"prompt": prompt, **self._generation_fields(params)}

    def chat_request_body(self, messages: list[dict[str, object]], params: GenerationParams) -> dict[str, object]:
        return {"messages": messages, **self._generation_fields(params)}

    def _generation_fields(self, params: GenerationParams) -> dict[str, object]:
        return {
            "model": self.endpoint.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            **({"stop_token_ids": params.stop_token_ids} if params.stop_token_ids else {}),
            **params.extra,
        }

    def stream(self, prompt: list[int], params: GenerationParams) -> AsyncGenerator[StreamEvent]:
        """Complete the prompt's token ids: yield text deltas, then exactly one StreamEnd."""
        return self._stream("completions", self.request_body(prompt, params))

    def stream_chat(self, messages: list[dict[str, object]], params: GenerationParams) -> AsyncGenerator[StreamEvent]:
        """Answer OpenAI chat `messages` (content parts allowed): the same events as `stream`."""
        return self._stream("chat/completions", self.chat_request_body(messages, params))

    async def _stream(self, path: str, body: dict[str, object]) -> AsyncGenerator[StreamEvent]:
        first, events = await self._first_event(path, body)
        async with aclosing(events):
            yield first
            try:
                async for event in events:
                    yield event
            except httpx.TimeoutException as exc:
                silence = self.endpoint.read_timeout
                raise ModelStreamBroken(
                    f"The model service sent nothing for {silence:g} seconds in the middle of the answer."
                ) from exc
            except httpx.TransportError as exc:
                raise ModelStreamBroken("The model service stopped in the middle of the answer.") from exc

    async def _first_event(self, path: str, body: dict[str, object]) -> tuple[StreamEvent, AsyncGenerator[StreamEvent]]:
        """Start the stream and wait for its first event (the first text, or the end of an empty
        answer), retrying failures, all within `first_token_timeout`."""
        try:
            async with asyncio.timeout(self.endpoint.first_token_timeout):
                return await self._first_event_with_retries(path, body)
        except TimeoutError as exc:
            wait = self.endpoint.first_token_timeout
            raise ModelUnavailable(
                f"The model service did not start answering within {wait:g} seconds. Please try again shortly."
            ) from exc

    async def _first_event_with_retries(
        self, path: str, body: dict[str, object]
    ) -> tuple[StreamEvent, AsyncGenerator[StreamEvent]]:
        attempt = 0
        while True:
            # An exception out of anext() has already finished the generator and closed its response.
            events = self._stream_once(path, body)
            try:
                return await anext(events), events
            except (httpx.TransportError, _RetryableStatus) as exc:
                if attempt >= self.endpoint.retries:
                    raise ModelUnavailable("The model service is not answering. Please try again shortly.") from exc
                delay = self.endpoint.retry_backoff * 2**attempt
                logger.warning("model request failed before the first token (%s); retry in %.2fs", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _stream_once(self, path: str, body: dict[str, object]) -> AsyncGenerator[StreamEvent]:
        # vLLM adopts X-Request-Id as its request id, so its logs line up with ours.
        headers = {"X-Request-Id": turn} if (turn := log_context.turn_id.get()) else None
        async with self._http.stream("POST", path, json=body, headers=headers) as response:
            if response.status_code in _RETRYABLE_STATUS:
                raise _RetryableStatus(response.status_code)
            if response.status_code >= 400:
                detail = (await response.aread()).decode("utf-8", "replace")[:500]
                raise ModelRequestRejected(f"The model service refused the request ({response.status_code}): {detail}")
            async for event in _events_from_lines(_lines_of(response.aiter_bytes())):
                yield event


class _RetryableStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")


_LINE_END = re.compile(rb"\r\n|\r|\n")


async def _lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The stream's lines (SSE ends each with CRLF, LF or CR), split straight from its bytes: one step
    per network chunk, where httpx's line iterator stacks text and line decoding generators on it (at
    2,000 streams of 10 tokens/s the stream's reading was a fifth of a web process's CPU)."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        held = pending.endswith(b"\r")  # its LF may be the next chunk's first byte
        *lines, pending = _LINE_END.split(pending[:-1] if held else pending)
        if held:
            pending += b"\r"
        for line in lines:
            yield line.decode("utf-8", "replace")
    *lines, unterminated = _LINE_END.split(pending)
    for line in [*lines, unterminated] if unterminated else lines:
        yield line.decode("utf-8", "replace")


async def _read_to_end(lines: AsyncIterator[str]) -> None:
    """Read what follows `[DONE]` (the chunked body's last bytes), so the connection goes back to the
    pool for the next answer: one left unread is closed, and each answer then opens a new one. A
    server that keeps the body open longer is not waited for: its connection is closed instead."""
    with suppress(TimeoutError, httpx.TransportError):
        async with asyncio.timeout(BODY_END_SECONDS):
            async for _ in lines:
                pass


async def _events_from_lines(lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
    decoder = _SseDecoder()
    finish_reason: str | None = None
    usage: dict[str, int] = {}
    async for line in lines:
        payload = decoder.feed(line)
        if payload is None:
            continue
        if payload == "[DONE]":
            await _read_to_end(lines)
            break
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            # A broken server, not a bad request: handled like a dropped connection (retried before text).
            raise httpx.RemoteProtocolError(f"malformed stream event: {payload[:80]!r}") from exc
        if "error" in chunk or chunk.get("object") == "error":
            error = chunk.get("error", chunk)
            message = error.get("message", "unknown error") if isinstance(error, dict) else str(error)
            raise ModelStreamBroken(f"The model service reported an error: {message}")
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            if text := _choice_text(choice):
                yield TextDelta(text)
            finish_reason = choice.get("finish_reason") or finish_reason
    if finish_reason is None:
        raise httpx.RemoteProtocolError("stream ended without a finish reason")
    yield StreamEnd(
        finish_reason=finish_reason,
        completion_tokens=usage.get("completion_tokens"),
        prompt_tokens=usage.get("prompt_tokens"),
    )


def _choice_text(choice: dict[str, object]) -> str:
    """A completion chunk's `text`, or a chat chunk's `delta.content` (null in its role chunk)."""
    if isinstance(text := choice.get("text"), str):
        return text
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""
