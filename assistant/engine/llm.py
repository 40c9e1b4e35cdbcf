"""The model gateway: the settings-configured model_service pieces the pipeline uses; and the vision
model's (`ModelGateway.vision`), which a turn with a photo goes to when MODEL_VISION_BASE_URL is set."""

from __future__ import annotations

import asyncio
import functools
import weakref
from dataclasses import dataclass

from django.core.signals import setting_changed
from django.dispatch import receiver

from assistant.conf import model_settings
from model_service.chat_formats import LLAMA32_VISION, prompt_format
from model_service.client import CompletionsClient, ModelEndpoint
from model_service.messages import ChatMessage, PromptFormat, prompt_segments
from model_service.tokens import CachedTokenizer, Tokenizer, count, encode, tokenizer


@dataclass(frozen=True)
class ModelGateway:
    client: CompletionsClient
    prompt_format: PromptFormat
    tokenizer: Tokenizer
    context_window: int
    max_tokens: int
    temperature: float
    extra_body: dict[str, object]
    builtin_tools: bool = False  # Llama 3.1's brave_search / wolfram_alpha (model_service/builtin_tools.py)
    # Where a photo goes (Llama 3.2 Vision, sent chat messages with the photo); None: OCR only.
    vision: ModelGateway | None = None

    def prompt_ids(self, messages: list[ChatMessage], *, prefill: str = "") -> list[int]:
        """The ids the server is sent: the rendered prompt, whose counts the fitter added up."""
        return encode(prompt_segments(self.prompt_format, messages, prefill=prefill), self.tokenizer)

    def message_tokens(self, message: ChatMessage) -> int:
        return count(self.prompt_format.message_block(message), self.tokenizer)

    def fixed_tokens(self) -> int:
        """The format's tokens outside any message: prefix and open assistant turn."""
        return count([*self.prompt_format.prefix(), *self.prompt_format.generation_prompt()], self.tokenizer)

    def stop_token_ids(self) -> list[int]:
        return [self.tokenizer.special_id(token) for token in self.prompt_format.stop_tokens]


@functools.lru_cache(maxsize=4)
def shared_tokenizer(kind: str) -> Tokenizer:
    """One tokenizer per process and setting, shared by every event loop's gateway. Built per loop, a
    worker that ran each reply on a new loop loaded the tokenizer for each one, and leaked: llama.cpp's
    vocabulary objects sit in reference cycles that hold tens of MiB of arrays until a rare full
    garbage collection (the soak's worker grew ~1.3 MiB a reply)."""
    return CachedTokenizer(tokenizer(kind))


def _endpoint(base_url: str, name: str, api_key: str) -> ModelEndpoint:
    model = model_settings()
    return ModelEndpoint(
        base_url=base_url,
        model=name,
        api_key=api_key,
        connect_timeout=model.connect_timeout,
        read_timeout=model.read_timeout,
        first_token_timeout=model.first_token_timeout,
        retries=model.retries,
        max_connections=model.max_connections,
    )


def _vision_gateway() -> ModelGateway | None:
    """Llama 3.2 Vision: Meta's format with `<|image|>`, counted with the Llama 3 tokenizer (which
    holds `<|image|>`), the operator's sampling; no built-in tools ("tool calling does NOT work with
    images", Meta's vision prompt format page)."""
    model = model_settings()
    if not model.vision_base_url:
        return None
    return ModelGateway(
        client=CompletionsClient(_endpoint(model.vision_base_url, model.vision_name, model.vision_api_key)),
        prompt_format=LLAMA32_VISION,
        tokenizer=shared_tokenizer("llama3"),
        context_window=model.vision_context_window,
        max_tokens=model.max_tokens,
        temperature=model.temperature,
        extra_body=model.extra_body,
    )


def _build_gateway() -> ModelGateway:
    model = model_settings()
    return ModelGateway(
        client=CompletionsClient(_endpoint(model.base_url, model.name, model.api_key)),
        prompt_format=prompt_format(model.prompt_format),
        tokenizer=shared_tokenizer(model.tokenizer),
        context_window=model.context_window,
        max_tokens=model.max_tokens,
        temperature=model.temperature,
        extra_body=model.extra_body,
        builtin_tools=model.builtin_tools,
        vision=_vision_gateway(),
    )


# httpx connection pools belong to one event loop, so each loop gets its own gateway.
_gateways: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ModelGateway] = weakref.WeakKeyDictionary()


@receiver(setting_changed)
def _forget_gateways(*, setting: str, **kwargs: object) -> None:
    """A loop can outlive a change to the model settings (a worker thread's loop kept by
    core/event_loop.py, in tests): its next gateway is built from the new ones."""
    if setting.startswith("MODEL_"):
        _gateways.clear()


def model_gateway() -> ModelGateway:
    loop = asyncio.get_running_loop()
    if loop not in _gateways:
        _gateways[loop] = _build_gateway()
    return _gateways[loop]
