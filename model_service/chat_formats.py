"""Chat prompt formats, rendered byte for byte.

`Llama3Format` follows Meta's published Llama 3 / 3.1 format (the `ChatFormat` encoder in
meta-llama/llama-models): `<|begin_of_text|>`, then per message
`<|start_header_id|>{role}<|end_header_id|>\\n\\n{content}<|eot_id|>`, then an open assistant header.
Content is sent as given (Meta's encoder strips it; we do not, so what the user typed is what the
model sees; docs/architecture.md records this choice). `ChatMLFormat` is the template SmolLM2 (the
embedded model) carries in its GGUF.

Both formats are concatenations of per-message blocks that begin and end with special tokens, so a
prompt's token count is exactly the sum of its blocks' counts: messages can be counted once when
stored and prompts fitted to the window by addition.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant", "ipython"]

# Any `<|name|>` marker: the shape of every special token in Llama 3 and ChatML vocabularies.
_SPECIAL_TOKEN_SHAPE = re.compile(r"<\|([A-Za-z0-9_]+)\|>")
_WORD_JOINER = "\u2060"


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


def neutralize_special_tokens(text: str, markers: Collection[str] = ()) -> str:
    """Make special-token text in untrusted input plain text for any server.

    A server that renders the chat template itself (vLLM, llama.cpp) tokenizes the result with
    special tokens enabled, so a marker typed by a user would become control. Every `<|name|>`
    marker is handled; `markers` adds a vocabulary's other special tokens (SmolLM2's `<file_sep>`,
    for instance). A word joiner after the first character keeps the text readable and
    guarantees it no longer matches a special token.
    """
    text = _SPECIAL_TOKEN_SHAPE.sub(lambda m: f"<{_WORD_JOINER}|{m.group(1)}|>", text)
    other = _other_markers_pattern(frozenset(markers))
    return other.sub(lambda m: m.group(0)[0] + _WORD_JOINER + m.group(0)[1:], text) if other else text


@functools.lru_cache(maxsize=8)
def _other_markers_pattern(markers: frozenset[str]) -> re.Pattern[str] | None:
    """One pattern for the markers the `<|name|>` shape misses; longest first, so prefixes lose."""
    other = sorted((m for m in markers if len(m) > 1 and not _SPECIAL_TOKEN_SHAPE.fullmatch(m)), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, other))) if other else None


class PromptFormat(Protocol):
    name: str

    def prefix(self) -> str:
        """Text before the first message."""

    def message_block(self, message: ChatMessage) -> str:
        """One message, including its delimiters."""

    def generation_prompt(self) -> str:
        """The open assistant turn that the model completes."""


def render(fmt: PromptFormat, messages: list[ChatMessage]) -> str:
    """The complete prompt string for `messages`, ready for the assistant's answer."""
    return fmt.prefix() + "".join(fmt.message_block(m) for m in messages) + fmt.generation_prompt()


class Llama3Format:
    name = "llama3"

    def prefix(self) -> str:
        return "<|begin_of_text|>"

    def message_block(self, message: ChatMessage) -> str:
        # A built-in tool call ends with <|eom_id|>: the turn goes on after the tool's answer.
        end = (
            "<|eom_id|>"
            if message.role == "assistant" and message.content.startswith("<|python_tag|>")
            else "<|eot_id|>"
        )
        return f"<|start_header_id|>{message.role}<|end_header_id|>\n\n{message.content}{end}"

    def generation_prompt(self) -> str:
        return "<|start_header_id|>assistant<|end_header_id|>\n\n"


class ChatMLFormat:
    name = "chatml"

    def prefix(self) -> str:
        return ""

    def message_block(self, message: ChatMessage) -> str:
        return f"<|im_start|>{message.role}\n{message.content}<|im_end|>\n"

    def generation_prompt(self) -> str:
        return "<|im_start|>assistant\n"


PROMPT_FORMATS: dict[str, PromptFormat] = {f.name: f for f in (Llama3Format(), ChatMLFormat())}


def prompt_format(name: str) -> PromptFormat:
    try:
        return PROMPT_FORMATS[name]
    except KeyError:
        raise ValueError(f"Unknown prompt format {name!r}; known: {', '.join(PROMPT_FORMATS)}.") from None
