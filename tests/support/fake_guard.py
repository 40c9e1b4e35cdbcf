"""A contract fake of vLLM serving Llama Guard 3 through the OpenAI completions API (JSON over HTTP/1.1).

Production's guard is vLLM on a GPU, which cannot run here. This fake stands in for it in the guard
client's contract tests: a REAL HTTP/1.1 server on 127.0.0.1 (uvicorn, as under vLLM itself;
tests/support/loopback.py), so the client's sockets, timeouts and error handling run for real. It
speaks vLLM's wire format:

    POST /v1/completions  {"model": ..., "prompt": [128000, 128006, ...], "max_tokens": 10, "temperature": 0, ...}
    200 {"id": "cmpl-1", "object": "text_completion", "created": ..., "model": ...,
         "choices": [{"index": 0, "text": "unsafe\\nS1", "logprobs": null, "finish_reason": "stop",
                      "stop_reason": null}],
         "usage": {"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ...}}

The prompt is token ids (or text); ids are recorded decoded with the Llama 3 tokenizer as
`prompt_text`. An unknown model is a 404 and a malformed request a 400, with OpenAI error objects,
as vLLM answers.
Each request gets the next scripted `GuardReply` (then `default`), which can also fail with a status,
stall, drop the connection, or send a body that is not a completion. Every request is recorded, and
the most requests the server held at once (`most_in_flight`).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model_service.tokens import llama3_tokenizer
from tests.support.loopback import Exchange, LoopbackServer


@dataclass(frozen=True)
class GuardReply:
    text: str = "safe"  # what the model generated
    status: int = 200
    stall: float = 0.0  # seconds before answering
    drop_connection: bool = False  # close without answering
    raw_body: str | None = None  # send this body (status 200) instead of a completion


@dataclass(frozen=True)
class GuardRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def prompt_text(self) -> str:
        """The prompt as the model reads it: token ids decoded, special tokens written out."""
        prompt = self.body["prompt"]
        return prompt if isinstance(prompt, str) else llama3_tokenizer().decode(prompt)


class ScriptedGuard(LoopbackServer):
    """A guard server on `base_url` (…/v1) giving each request the next scripted `GuardReply` (then
    `default`); a subclass checks and records the request and writes the completion (`_answer`)."""

    def __init__(self, *replies: GuardReply, default: GuardReply | None, model: str) -> None:
        super().__init__()
        self.replies: deque[GuardReply] = deque(replies)
        self.default = default or GuardReply()
        self.model = model
        self._ids = itertools.count(1)
        self.in_flight = 0
        self.most_in_flight = 0

    def script(self, *replies: GuardReply) -> None:
        self.replies.extend(replies)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    async def fallback(self, exchange: Exchange) -> None:
        reply = self.replies.popleft() if self.replies else self.default
        status, body = self._answer(exchange, reply)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await exchange.pause(reply.stall)
            if reply.drop_connection:
                await exchange.hang_up()
            else:
                await exchange.respond_json(status, body)
        finally:
            self.in_flight -= 1

    def _answer(self, exchange: Exchange, reply: GuardReply) -> tuple[int, str]:
        raise NotImplementedError

    def _scripted(
        self, body: dict[str, Any], reply: GuardReply, completion: Callable[[], dict[str, Any]]
    ) -> tuple[int, str]:
        """The reply to a request the server read: its model checked, then the scripted failure or body."""
        if body.get("model") != self.model:
            return error_body(404, f"The model `{body.get('model')}` does not exist.")
        if reply.status != 200:
            return error_body(reply.status, "fake failure")
        if reply.raw_body is not None:
            return 200, reply.raw_body
        return 200, json.dumps(completion())

    def _envelope(self, kind: str, choice: dict[str, Any], prompt_tokens: int, text: str) -> dict[str, Any]:
        completion_tokens = len(text.split()) + 1
        return {
            "id": f"{'chatcmpl' if kind == 'chat.completion' else 'cmpl'}-{next(self._ids)}",
            "object": kind,
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, **choice, "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


class FakeGuard(ScriptedGuard):
    """`async with FakeGuard() as guard:` serves on `guard.base_url` (…/v1) until the block ends."""

    def __init__(self, *replies: GuardReply, default: GuardReply | None = None, model: str = "llama-guard-3-1b"):
        super().__init__(*replies, default=default, model=model)
        self.requests: list[GuardRequest] = []

    def _answer(self, exchange: Exchange, reply: GuardReply) -> tuple[int, str]:
        request = GuardRequest(exchange.method, exchange.path, exchange.headers, exchange.json_or_text())
        self.requests.append(request)
        if request.method != "POST" or request.path != "/v1/completions":
            return error_body(404, f"Not Found: {request.method} {request.path}")
        body = request.body
        if not isinstance(body, dict) or not _is_prompt(body.get("prompt")):
            return error_body(400, "prompt must be text or token ids")
        return self._scripted(body, reply, lambda: self._completion(body, reply.text))

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        prompt = body["prompt"]
        prompt_tokens = len(prompt) // 4 if isinstance(prompt, str) else len(prompt)  # text: about 4 characters a token
        return self._envelope("text_completion", {"text": text}, prompt_tokens, text)


def _is_prompt(prompt: object) -> bool:
    return isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(i, int) for i in prompt))


def error_body(status: int, message: str) -> tuple[int, str]:
    """An OpenAI error object, as vLLM answers a request it refuses."""
    kind = "NotFoundError" if status == 404 else "BadRequestError" if status == 400 else "InternalServerError"
    return status, json.dumps({"object": "error", "message": message, "type": kind, "param": None, "code": status})
