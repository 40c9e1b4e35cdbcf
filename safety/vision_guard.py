"""Llama Guard 3 Vision (11B) served by vLLM: a photo and the words sent with it, judged together.

Sources matched: Meta's model card (meta-llama/PurpleLlama `Llama-Guard3/11B-vision/MODEL_CARD.md`:
the 13 MLCommons hazards S1–S13, no S14; one image; for input and response classification) and the
chat template shipped with meta-llama/Llama-Guard-3-11B-Vision. That template renders one Llama 3
user message: `<|image|> ` (with a space) opening it when the conversation holds an image, then
Llama Guard 3's task text, the same words as the text guard's (safety/llama_guard.py: `User` and
`Agent` labels, each message stripped), then ` <|eot_id|>` (with a space) and the assistant header
without the blank line that Llama 3 puts after a header; the model writes that blank line itself,
then `safe` or `unsafe` and the codes. The role judged is the last message's.

A photo cannot travel as token ids, so the request is an OpenAI chat request to
`/chat/completions`: one user message whose parts are the photo (an `image_url` data URL) and the
task text the project rendered (`llama_guard.guard_prompt_segments`, with its one deliberate
difference: no blank line inside a message). The server is started with
`LLAMA_GUARD_VISION_CHAT_TEMPLATE` (model_service/vllm.py preset `llama-guard-3-11b-vision`), which
adds only the fixed frame around those parts, so the server renders Meta's bytes. vLLM tokenizes
rendered text with special tokens parsed, so the task is made `inert` first: typed `<|eot_id|>`
stays text. What Llama Guard 3 Vision judges is one exchange: the last user message (the question
sent with the photo) and, when an answer is judged, the answer to it; earlier turns are not the
photo's.

A client per check: photo turns are few, and a client bound to no event loop serves the web
process and Celery tasks alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import httpx

from model_service.chat_formats import data_url, inert
from model_service.llama31 import END_HEADER, END_OF_TURN
from model_service.messages import segments_text, special
from safety.llama_guard import S_CATEGORIES, guard_prompt_segments, parse_response, turns_to_classify
from safety.verdict import GuardUnavailable, Verdict

# Llama Guard 3 Vision's taxonomy: Llama Guard 3's without S14 (Code Interpreter Abuse).
VISION_CATEGORIES: tuple[str, ...] = tuple(code for code in S_CATEGORIES if code != "S14")
# Media types of the photos the media worker hands on (re-encoded, without metadata).
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})

_CONNECT_TIMEOUT = 2.0
_MAX_TOKENS = 10  # `unsafe`, a line break and a few codes

# The frame Meta's template puts around the task, on one line as `vllm serve --chat-template` takes
# it. An image part is `<|image|> `, a text part is written as it is; no date, system text or tools.
LLAMA_GUARD_VISION_CHAT_TEMPLATE = (
    "{{- '<|begin_of_text|>' -}}"
    "{%- for message in messages -%}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<|image|> ' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- ' <|eot_id|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>' -}}{%- endif -%}"
)


@dataclass(frozen=True)
class Photo:
    """A photo as the media worker cleaned it: JPEG or PNG bytes."""

    data: bytes
    media_type: str

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("A photo to check has no bytes.")
        if self.media_type not in PHOTO_TYPES:
            raise ValueError(f"A photo to check is {self.media_type!r}, not one of {sorted(PHOTO_TYPES)}.")


def judged_exchange(conversation: Sequence[tuple[str, str]], *, agent: bool) -> list[tuple[str, str]]:
    """The turns Llama Guard 3 Vision reads: the last user turn and, with `agent`, the last answer after
    it. (Meta's template wants turns alternating from a user turn; the photo belongs to the last question.)"""
    turns = turns_to_classify(conversation, agent=agent)
    question = next((turn for turn in reversed(turns) if turn[0] == "user"), None)
    if question is None:
        raise ValueError("The conversation has no user turn to go with the photo.")
    return [question, turns[-1]] if agent else [question]


def vision_task(conversation: Sequence[tuple[str, str]], *, agent: bool, categories: Iterable[str]) -> str:
    """The text part of the request: Llama Guard 3's task for the judged exchange, listing the
    checked categories of Llama Guard 3 Vision's taxonomy, made inert for a server that parses
    special tokens."""
    checked = set(categories) & set(VISION_CATEGORIES)
    segments = guard_prompt_segments(judged_exchange(conversation, agent=agent), agent=agent, categories=checked)
    # The task is the one user message's text: its plain segments between the header's blank line
    # (after the first end-of-header marker) and the message's end marker.
    task = segments_text(segments[segments.index(special(END_HEADER)) + 2 : segments.index(special(END_OF_TURN))])
    return inert(task)


def chat_messages(photo: Photo, task: str) -> list[dict[str, object]]:
    """The chat request's messages: one user message, the photo before the task (Meta: `<|image|>`
    opens the message)."""
    parts = [
        {"type": "image_url", "image_url": {"url": data_url(photo.data, photo.media_type)}},
        {"type": "text", "text": task},
    ]
    return [{"role": "user", "content": parts}]


class VisionGuard:
    name = "llama-guard-vision"

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        categories: Iterable[str],
        api_key: str = "",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.categories = tuple(code for code in categories if code in VISION_CATEGORIES)
        self._client_options = {
            "base_url": base_url.rstrip("/"),
            "headers": {"Authorization": f"Bearer {api_key}"} if api_key else {},
            "timeout": httpx.Timeout(timeout, connect=min(_CONNECT_TIMEOUT, timeout)),
            "transport": transport,
        }

    def seeing(self, photo: Photo) -> PhotoJudge:
        """This guard with `photo`: a content guard (safety.guard.ContentGuard) for turns about it."""
        return PhotoJudge(self, photo)

    def request_body(self, photo: Photo, conversation: Sequence[tuple[str, str]], *, agent: bool) -> dict[str, object]:
        task = vision_task(conversation, agent=agent, categories=self.categories)
        return {
            "model": self.model,
            "messages": chat_messages(photo, task),
            "max_tokens": _MAX_TOKENS,
            "temperature": 0,
        }

    async def check(self, photo: Photo, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        """The verdict on the last user turn with the photo (with `agent`, on the answer to it).
        Raises GuardUnavailable when the server gives no verdict."""
        body = self.request_body(photo, conversation, agent=agent)
        try:
            async with httpx.AsyncClient(**self._client_options) as client:
                response = await client.post("/chat/completions", json=body)
        except httpx.HTTPError as error:
            raise GuardUnavailable(f"vision guard request failed: {type(error).__name__}: {error}") from error
        if response.status_code != 200:
            raise GuardUnavailable(f"vision guard answered HTTP {response.status_code}: {response.text[:200]}")
        return parse_response(_message_text(response), categories=self.categories)


@dataclass(frozen=True)
class PhotoJudge:
    """A `VisionGuard` with one photo: the content guard interface, so the failure policy
    (safety.guard.PolicyGuard) wraps it as it wraps the text guards."""

    name: ClassVar[str] = VisionGuard.name
    guard: VisionGuard
    photo: Photo

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        return await self.guard.check(self.photo, conversation, agent=agent)


def _message_text(response: httpx.Response) -> str:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise GuardUnavailable(f"vision guard reply is not a chat completion: {response.text[:200]!r}") from error
    if not isinstance(content, str):
        raise GuardUnavailable(f"vision guard reply has no text: {response.text[:200]!r}")
    return content
