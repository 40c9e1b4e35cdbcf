"""The prompt formats the project renders itself, by name, and Llama 3.2 Vision's.

`llama3` is Meta's Llama 3 / 3.1 format (model_service/llama31.py). `chatml` is the template that
SmolLM2 (the embedded model) carries in its GGUF: `<|im_start|>{role}\\n{content}<|im_end|>\\n` per
message, then `<|im_start|>assistant\\n`. Its text between two special tokens is one segment, as
the Hugging Face tokenizer that trained SmolLM2 splits a rendered template.

`llama3.2-vision` (`LLAMA32_VISION`) is Meta's Llama 3.2 Vision format, from
`models/llama3_2/vision_prompt_format.md` in meta-llama/llama-models: Llama 3.1's, with `<|image|>`
opening the body of the user message that carries the photo, right after its header's blank line
(the image "will only attend to the subsequent text tokens", so it comes before the words about
it). A photo cannot travel as token ids, so a photo turn is an OpenAI chat request with content
parts (`chat_request`), and the vision server renders it with `LLAMA32_VISION_CHAT_TEMPLATE`
(model_service/vllm.py starts it with that template): the same bytes as `render(LLAMA32_VISION, …)`.
The server then tokenizes that text with special tokens parsed, so every message's text is made
`inert` first, in the request and in the count alike, and the format's segments are the pieces the
server's tokenizer sees: the ids counted are the ids served.

A photo takes one token of Llama 3.2 Vision's context window, `<|image|>`: the model is not early
fusion, its cross-attention layers read the vision encoder's output "on the side" (Meta's page). That
output (per 560×560 tile (560/14)² patches + 1 class embedding = 1,601 positions, at most 4 tiles:
6,404; the model's `vision_config`) is held in the cross-attention cache, outside the window.
"""

from __future__ import annotations

import base64

from model_service.llama31 import END_HEADER, END_OF_TURN, START_HEADER, Llama3Format
from model_service.messages import ChatMessage, PromptFormat, Segment, plain, special

__all__ = [
    "IMAGE",
    "LLAMA32_VISION",
    "LLAMA32_VISION_CHAT_TEMPLATE",
    "PROMPT_FORMATS",
    "ChatMLFormat",
    "Llama3Format",
    "Llama32VisionFormat",
    "chat_request",
    "data_url",
    "inert",
    "prompt_format",
]

IMAGE = "<|image|>"
_WORD_JOINER = "\u2060"  # invisible, and splits `<|` so that no special token's spelling survives


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


def inert(text: str) -> str:
    """`text` as a server that parses special tokens must read it: every Llama 3 special token starts
    with `<|`, so a word joiner between the two characters keeps typed `<|eot_id|>` plain text."""
    return text.replace("<|", f"<{_WORD_JOINER}|")


class Llama32VisionFormat(Llama3Format):
    """Meta's bytes, segmented as the vision server tokenizes the text it renders: split at special
    tokens only, so a header's blank line and the text after it are one piece (unlike Llama3Format,
    whose ids keep them apart as Meta's encoder does). No tool calls: none are offered with a photo."""

    name = "llama3.2-vision"

    def message_block(self, message: ChatMessage) -> list[Segment]:
        text = inert(message.content)
        body = [Segment("\n\n"), special(IMAGE), *plain(text)] if message.image else [Segment(f"\n\n{text}")]
        return [special(START_HEADER), Segment(message.role), special(END_HEADER), *body, special(END_OF_TURN)]


LLAMA32_VISION = Llama32VisionFormat()

# The chat template the vision server renders a photo turn with, on one line as `vllm serve
# --chat-template` takes it: each message's header, its parts in order (an image part is `<|image|>`),
# `<|eot_id|>`; then the open assistant header. No date or tools of its own: the project's system
# message already is Meta's (model_service/llama31.py), and "tool calling does NOT work with images".
LLAMA32_VISION_CHAT_TEMPLATE = (
    "{{- '<|begin_of_text|>' -}}"
    "{%- for message in messages -%}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<|image|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|eot_id|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"
)


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def chat_request(messages: list[ChatMessage], image_url: str) -> list[dict[str, object]]:
    """The OpenAI chat `messages` of a photo turn: the message marked `image` has its photo as an
    `image_url` part before its text (where Meta places `<|image|>`); every text is `inert`."""
    request: list[dict[str, object]] = []
    for message in messages:
        text = inert(message.content)
        if message.image:
            parts = [{"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": text}]
            request.append({"role": message.role, "content": parts})
        else:
            request.append({"role": message.role, "content": text})
    return request


PROMPT_FORMATS: dict[str, PromptFormat] = {f.name: f for f in (Llama3Format(), ChatMLFormat())}


def prompt_format(name: str) -> PromptFormat:
    try:
        return PROMPT_FORMATS[name]
    except KeyError:
        raise ValueError(f"Unknown prompt format {name!r}; known: {', '.join(PROMPT_FORMATS)}.") from None
