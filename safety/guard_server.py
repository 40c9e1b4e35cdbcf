"""The embedded content guard in a process of its own, behind vLLM's completions API.

    python -m safety.guard_server [--host 127.0.0.1] [--port 8002]

It speaks the wire format of vLLM serving Llama Guard 3 (the production `guard` service), so the
web process and the workers reach it with `VllmGuard` (SAFETY_GUARD_BASE_URL=http://HOST:PORT/v1)
and classify nothing themselves; `make run` starts it, and the compose profile `cpu-guard` runs it
on hosts without a GPU for the guard (docs/operations.md).

    GET  /health          200 once the classifier is loaded (the port opens only then)
    GET  /v1/models       the one served model, named SAFETY_GUARD_MODEL
    POST /v1/completions  {"model": ..., "prompt": [128000, ...] or "<|begin_of_text|>...", ...}
                          → a `text_completion` whose text is `safe` or `unsafe\\n<codes>`

The prompt must be one that `llama_guard.guard_prompt_segments` writes: it is read back (the role
classified, the categories listed, the conversation) and the last turn of that role goes to
`EmbeddedGuard`, whose batching lets many checks share one encoder call, in a thread, while the
server keeps accepting. The codes are the listed S-codes the classifier found, and `jailbreak` or
`injection`, which no Llama Guard prompt lists and `parse_response` knows. Answers (`Agent`) are
judged only with SAFETY_EMBEDDED_CHECKS_ANSWERS, as in process; without it they are `safe` unread.
A request that is not such a completion gets vLLM's error object: 400, 404 (unknown model or
path), 405 or 413 (body over MAX_BODY_BYTES), and one log line without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import uvicorn
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from model_service.messages import Segment
from model_service.tokens import encode, llama3_tokenizer
from safety.conf import configure_process_logging, safety_settings
from safety.embedded import EmbeddedGuard
from safety.llama_guard import PROMPT_ATTACK_CATEGORIES, S_CATEGORIES, GuardPrompt, NotAGuardPrompt, read_prompt

logger = logging.getLogger(__name__)

# A guard prompt of vLLM's longest context (8,192 tokens) is under 60 kB of JSON ids.
MAX_BODY_BYTES = 1024 * 1024
# As core/json_input.py: no valid request nests deeper (a completion request nests two levels).
MAX_JSON_DEPTH = 64
_SPECIAL_SPELLING = re.compile(r"(<\|[a-z0-9_]+\|>)")
_ERROR_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    413: "RequestTooLargeError",
    500: "InternalServerError",
}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- The wire format (vLLM's OpenAI server) -------------------------------------------------------


class CompletionRequest(BaseModel):
    # Sampling options (max_tokens, temperature…) mean nothing to a classifier: accepted, unused.
    model_config = ConfigDict(extra="ignore")

    model: StrictStr
    prompt: Annotated[StrictStr, Field(min_length=1)] | Annotated[list[StrictInt], Field(min_length=1)]
    stream: StrictBool = False


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    logprobs: None = None
    finish_reason: Literal["stop"] = "stop"
    stop_reason: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "assistant"
    root: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorObject(BaseModel):
    object: Literal["error"] = "error"
    message: str
    type: str
    param: None = None
    code: int


class ClientFault(Exception):
    """A request the guard cannot answer, by the client's fault: answered with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- Serving ----------------------------------------------------------------------------------------


class EmbeddedGuardServer:
    """The guard's routes as an ASGI application, over one embedded guard."""

    def __init__(self, *, model: str, judges_answers: bool, threshold: float) -> None:
        self.model = model
        self.judges_answers = judges_answers
        self.guard = EmbeddedGuard(categories=(*S_CATEGORIES, *PROMPT_ATTACK_CATEGORIES), threshold=threshold)
        self.tokenizer = llama3_tokenizer()
        self.started = int(time.time())
        self._completion_ids = itertools.count(1)
        self._special_by_id = {
            token_id: added.content
            for token_id, added in self.tokenizer.tokenizer.get_added_tokens_decoder().items()
            if added.special
        }
        self._special_tokens = set(self._special_by_id.values())
        self._vocabulary_size = self.tokenizer.tokenizer.get_vocab_size(with_added_tokens=True)
        self._routes: dict[str, tuple[str, Callable[[Receive], Awaitable[BaseModel | None]]]] = {
            "/health": ("GET", self._health),
            "/v1/models": ("GET", self._models),
            "/v1/completions": ("POST", self._completions),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Load the classifier before the port opens; a guard that cannot load ends the process."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                started = time.monotonic()
                try:
                    await asyncio.to_thread(self.guard.classify, "Is this guard ready?")
                except Exception as error:  # the process exits on it: every reason is worth its traceback
                    logger.exception("The embedded guard could not load its classifier")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                logger.info("The embedded guard's classifier is loaded (%.1f s)", time.monotonic() - started)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"][:100]
        status = 200
        try:
            body = await self._route(method, path, receive)
        except ClientFault as fault:  # one line, quoted: the message may hold what the client sent
            logger.warning("Guard request %s %r refused (%d): %r", method, path, fault.status, fault.message)
            status, body = fault.status, _error(fault.status, fault.message)
        except Exception:  # the guard's own fault: its traceback, and a 500 the client turns into `unavailable`
            logger.exception("Guard request %s %r failed", method, path)
            status, body = 500, _error(500, "The guard failed to classify this request.")
        encoded = body.model_dump_json().encode() if body is not None else b""
        headers = [(b"content-length", str(len(encoded)).encode())]
        if body is not None:
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": encoded})

    async def _route(self, method: str, path: str, receive: Receive) -> BaseModel | None:
        if path not in self._routes:
            raise ClientFault(404, f"Not Found: {path}")
        allowed, handler = self._routes[path]
        if method != allowed:
            raise ClientFault(405, f"{path} accepts {allowed} only.")
        return await handler(receive)

    async def _health(self, receive: Receive) -> None:
        return None

    async def _models(self, receive: Receive) -> ModelList:
        return ModelList(data=[ModelCard(id=self.model, created=self.started, root=self.guard.name)])

    async def _completions(self, receive: Receive) -> Completion:
        request = _completion_request(await _read_body(receive))
        if request.model != self.model:
            raise ClientFault(404, f"The model `{request.model[:100]}` does not exist.")
        if request.stream:
            raise ClientFault(400, "This guard does not stream: send `stream: false`.")
        segments = self._segments(request.prompt)
        try:
            asked = read_prompt(segments)
        except NotAGuardPrompt as error:
            raise ClientFault(400, f"Not a Llama Guard 3 prompt: {error}") from None
        text = await self._assessment(asked)
        ids = request.prompt if isinstance(request.prompt, list) else encode(segments, self.tokenizer)
        prompt_tokens = len(ids)
        completion_tokens = len(self.tokenizer.encode_text(text))
        return Completion(
            id=f"cmpl-{next(self._completion_ids)}",
            created=int(time.time()),
            model=self.model,
            choices=[CompletionChoice(text=text)],
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
        )

    async def _assessment(self, asked: GuardPrompt) -> str:
        """Llama Guard's answer: `safe`, or `unsafe` and the codes found among those it may report."""
        if asked.agent and not self.judges_answers:
            return "safe"
        verdict = await self.guard.check(asked.conversation, agent=asked.agent)
        reportable = {*asked.categories, *PROMPT_ATTACK_CATEGORIES}
        codes = [code for code in verdict.categories if code in reportable]
        return "unsafe\n" + ",".join(codes) if codes else "safe"

    def _segments(self, prompt: str | list[int]) -> list[Segment]:
        """The prompt as the model would read it: ids decoded run by run between special tokens, or
        text split at the spellings of special tokens (which vLLM parses in a text prompt)."""
        if isinstance(prompt, str):
            pieces = _SPECIAL_SPELLING.split(prompt)
            return [Segment(piece, special=piece in self._special_tokens) for piece in pieces if piece]
        if not all(0 <= token_id < self._vocabulary_size for token_id in prompt):
            raise ClientFault(400, f"Token ids must lie in [0, {self._vocabulary_size}).")
        segments = []
        for is_special, run in itertools.groupby(prompt, key=lambda token_id: token_id in self._special_by_id):
            ids = list(run)
            if is_special:
                segments += [Segment(self._special_by_id[token_id], special=True) for token_id in ids]
            else:
                segments.append(Segment(self.tokenizer.decode(ids)))
        return segments


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientFault(400, "The client closed the connection before its request was whole.")
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise ClientFault(413, f"The request is over {MAX_BODY_BYTES} bytes.")
        if not message.get("more_body"):
            return bytes(body)


def _completion_request(raw: bytes) -> CompletionRequest:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ClientFault(400, "The request is not valid JSON.") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ClientFault(400, f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        return CompletionRequest.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ClientFault(400, f"Invalid completion request: {where}: {first['msg']}.") from None


def _depth(value: object) -> int:
    """How deep a parsed JSON value nests, walked without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _error(status: int, message: str) -> ErrorObject:
    return ErrorObject(message=message, type=_ERROR_TYPES[status], code=status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: SAFETY_EMBEDDED_GUARD_PORT (8002)")
    arguments = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")  # read by `safety_settings`
    configured = safety_settings()
    configure_process_logging()
    app = EmbeddedGuardServer(
        model=configured.guard_model,
        judges_answers=configured.embedded_checks_answers,
        threshold=configured.embedded_threshold,
    )
    uvicorn.run(
        app,
        host=arguments.host,
        port=arguments.port or configured.embedded_guard_port,
        lifespan="on",
        ws="none",
        access_log=False,  # each refused request has its one line; answered checks need none
        log_config=None,  # the LOGGING just configured
    )


if __name__ == "__main__":
    main()
