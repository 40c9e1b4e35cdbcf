"""The prompt formats the project renders itself, by name.

`llama3` is Meta's Llama 3 / 3.1 format (model_service/llama31.py). `chatml` is the template that
SmolLM2 (the embedded model) carries in its GGUF: `<|im_start|>{role}\\n{content}<|im_end|>\\n` per
message, then `<|im_start|>assistant\\n`. Its text between two special tokens is one segment, as
the Hugging Face tokenizer that trained SmolLM2 splits a rendered template.
"""

from __future__ import annotations

from model_service.llama31 import Llama3Format
from model_service.messages import ChatMessage, PromptFormat, Segment, special

__all__ = ["PROMPT_FORMATS", "ChatMLFormat", "Llama3Format", "prompt_format"]


class ChatMLFormat:
    name = "chatml"
    stop_tokens = ("<|im_end|>",)

    def prefix(self) -> list[Segment]:
        return []

    def message_block(self, message: ChatMessage) -> list[Segment]:
        return [
            special("<|im_start|>"),
            Segment(f"{message.role}\n{message.content}"),
            special("<|im_end|>"),
            Segment("\n"),
        ]

    def generation_prompt(self) -> list[Segment]:
        return [special("<|im_start|>"), Segment("assistant\n")]


PROMPT_FORMATS: dict[str, PromptFormat] = {f.name: f for f in (Llama3Format(), ChatMLFormat())}


def prompt_format(name: str) -> PromptFormat:
    try:
        return PROMPT_FORMATS[name]
    except KeyError:
        raise ValueError(f"Unknown prompt format {name!r}; known: {', '.join(PROMPT_FORMATS)}.") from None
