"""What every prompt format is made of: chat messages in, segments out.

A rendered prompt is a list of `Segment`s: each is either exactly one special token (a header or
end marker, sent as its id) or plain text (encoded with special-token parsing off). Text a person
typed is always a text segment, so `<|eot_id|>` typed into a message reaches the model as the
seven plain tokens that spell it, and the text itself is never altered. Because every message
block begins and ends with a special token and every segment is encoded on its own, a prompt's ids
are the concatenation of its blocks' ids: messages are counted once and prompts fitted by addition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant", "ipython"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    # Llama 3.1 tool calls: the content follows `<|python_tag|>` (built-in calls, code, JSON custom
    # calls) and ends with `<|eom_id|>` when the call waits for its `ipython` result.
    python_tag: bool = False
    awaits_result: bool = False
    # The message carries the photo sent with it, to a vision model (model_service/chat_formats.py).
    image: bool = False


@dataclass(frozen=True)
class Segment:
    text: str
    special: bool = False  # one special token, sent as its id


def special(token: str) -> Segment:
    return Segment(token, special=True)


def plain(content: str) -> list[Segment]:
    """A plain-text segment, or none for empty text."""
    return [Segment(content)] if content else []


class PromptFormat(Protocol):
    name: str
    # Special tokens that end the model's turn, sent as stop ids to servers that need them.
    stop_tokens: tuple[str, ...]

    def prefix(self) -> list[Segment]:
        """Segments before the first message."""

    def message_block(self, message: ChatMessage) -> list[Segment]:
        """One message, including its delimiters."""

    def generation_prompt(self) -> list[Segment]:
        """The open assistant turn that the model completes."""


def prompt_segments(fmt: PromptFormat, messages: Sequence[ChatMessage], *, prefill: str = "") -> list[Segment]:
    """The whole prompt: prefix, every message, and the open assistant turn, which `prefill` begins
    (the model continues that text instead of starting its answer afresh)."""
    blocks = [segment for message in messages for segment in fmt.message_block(message)]
    return [*fmt.prefix(), *blocks, *fmt.generation_prompt(), *plain(prefill)]


def segments_text(segments: Sequence[Segment]) -> str:
    return "".join(segment.text for segment in segments)


def render(fmt: PromptFormat, messages: Sequence[ChatMessage], *, prefill: str = "") -> str:
    """The complete prompt text for `messages`, ready for the assistant's answer."""
    return segments_text(prompt_segments(fmt, messages, prefill=prefill))
