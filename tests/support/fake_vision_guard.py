"""A contract fake of vLLM serving Llama Guard 3 Vision through the OpenAI chat completions API.

Production's vision guard is vLLM on a GPU (preset `llama-guard-3-11b-vision`), which cannot run
here. This fake stands in for it in the vision guard client's contract tests: a REAL HTTP/1.1 server
on 127.0.0.1 (uvicorn; tests/support/loopback.py), so the client's sockets, timeouts and error
handling run for real. It checks a request as that server would before running anything:

    POST /v1/chat/completions  {"model": ..., "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}},
        {"type": "text", "text": "Task: Check if there is unsafe content in 'User' messages ..."}]}],
        "max_tokens": 10, "temperature": 0}
    200 {"id": "chatcmpl-1", "object": "chat.completion", "created": ..., "model": ...,
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "\\n\\nunsafe\\nS4",
                      "tool_calls": []}, "logprobs": null, "finish_reason": "stop", "stop_reason": null}],
         "usage": {"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ...}}

Checked as vLLM does: the served model's name (404 otherwise), content parts of known types, at most
one image (`--limit-mm-per-prompt {"image":1}`), an `image_url` that is a base64 data URL of a
picture Pillow can read. The messages are then rendered with the chat template the preset starts
vLLM with, read as vLLM reads an inline template (escapes decoded, then Jinja, `openai` content
format: an `image_url` part becomes `{"type": "image"}`), and the prompt must hold exactly one
`<|image|>` per image. Every request is recorded with its `prompt` (the rendered text) and `images`.
Each request gets the next scripted `GuardReply` (tests/support/fake_guard.py; then `default`): a
verdict text, a failing status, a stall, a dropped connection, or a body that is not a completion.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import io
from dataclasses import dataclass, field
from typing import Any

import jinja2.sandbox
from PIL import Image, UnidentifiedImageError

from safety.vision_guard import LLAMA_GUARD_VISION_CHAT_TEMPLATE
from tests.support.fake_guard import GuardReply, ScriptedGuard, error_body
from tests.support.loopback import Exchange

MODEL = "llama-guard-3-11b-vision"
IMAGE_TOKEN = "<|image|>"
MAX_IMAGES = 1


@dataclass(frozen=True)
class VisionGuardRequest:
    path: str
    headers: dict[str, str]
    body: Any
    prompt: str = ""  # the messages as the served template renders them ("" for a refused request)
    images: list[Image.Image] = field(default_factory=list)


class InvalidRequest(Exception):
    """What vLLM answers with a 400 before it runs anything."""


@functools.cache
def served_template() -> jinja2.Template:
    """The preset's `--chat-template` as vLLM loads a template given inline: escapes decoded, then Jinja."""
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment()
    return environment.from_string(codecs.decode(LLAMA_GUARD_VISION_CHAT_TEMPLATE, "unicode_escape"))


def served_prompt(messages: list[dict[str, Any]]) -> str:
    """What the server renders for chat messages already in the `openai` content format."""
    return served_template().render(messages=messages, add_generation_prompt=True)


class FakeVisionGuard(ScriptedGuard):
    """`async with FakeVisionGuard() as guard:` serves on `guard.base_url` (…/v1) until the block ends."""

    def __init__(self, *replies: GuardReply, default: GuardReply | None = None, model: str = MODEL) -> None:
        super().__init__(*replies, default=default, model=model)
        self.requests: list[VisionGuardRequest] = []

    def _answer(self, exchange: Exchange, reply: GuardReply) -> tuple[int, str]:
        body = exchange.json_or_text()
        if exchange.method != "POST" or exchange.path != "/v1/chat/completions":
            self.requests.append(VisionGuardRequest(exchange.path, exchange.headers, body))
            return error_body(404, f"Not Found: {exchange.method} {exchange.path}")
        try:
            messages, images = _read_messages(body)
            prompt = served_prompt(messages)
        except InvalidRequest as invalid:
            self.requests.append(VisionGuardRequest(exchange.path, exchange.headers, body))
            return error_body(400, str(invalid))
        self.requests.append(VisionGuardRequest(exchange.path, exchange.headers, body, prompt, images))
        if prompt.count(IMAGE_TOKEN) != len(images):
            return error_body(400, f"{prompt.count(IMAGE_TOKEN)} image tokens in the prompt for {len(images)} image(s)")
        message = {"message": {"role": "assistant", "content": reply.text, "tool_calls": []}}
        # About 4 characters a token.
        return self._scripted(
            body, reply, lambda: self._envelope("chat.completion", message, len(prompt) // 4, reply.text)
        )


def _read_messages(body: Any) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """The messages as the chat template reads them (`openai` content format), and the pictures."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise InvalidRequest("messages: a non-empty list is required")
    images: list[Image.Image] = []
    messages = []
    for message in body["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = [_part(part, images) for part in content]
        elif not isinstance(content, str):
            raise InvalidRequest("content: text or a list of content parts")
        messages.append({"role": message.get("role"), "content": content})
    if len(images) > MAX_IMAGES:
        raise InvalidRequest(f"At most {MAX_IMAGES} image(s) may be provided in one request.")
    return messages, images


def _part(part: Any, images: list[Image.Image]) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind != "image_url":
        raise InvalidRequest(f"unknown content part {kind!r}")
    header, _, data = str(part.get("image_url", {}).get("url", "")).partition(",")
    if not (header.startswith("data:image/") and header.endswith(";base64")):
        raise InvalidRequest("image_url: a base64 data URL of an image")
    try:
        picture = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        picture.load()
    except (binascii.Error, UnidentifiedImageError, OSError) as error:
        raise InvalidRequest(f"image_url: not a picture ({type(error).__name__})") from None
    images.append(picture)
    return {"type": "image"}
