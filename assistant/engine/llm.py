"""The model gateway: the settings-configured model_service pieces the pipeline uses."""

from __future__ import annotations

import asyncio
import functools
import weakref
from dataclasses import dataclass

from django.core.signals import setting_changed
from django.dispatch import receiver

from assistant.conf import model_settings
from model_service.chat_formats import PromptFormat, prompt_format
from model_service.client import ChatCompletionsClient, ModelEndpoint
from model_service.tokens import CachedTokenCounter, TokenCounter, token_counter


@dataclass(frozen=True)
class ModelGateway:
    client: ChatCompletionsClient
    prompt_format: PromptFormat
    counter: TokenCounter
    context_window: int
    max_tokens: int
    temperature: float
    extra_body: dict[str, object]
    builtin_tools: bool = False  # Llama 3.1's brave_search / wolfram_alpha (model_service/builtin_tools.py)


@functools.lru_cache(maxsize=4)
def shared_token_counter(kind: str, base_url: str, model: str) -> TokenCounter:
    """One counter per process and setting, shared by every event loop's gateway. Built per loop, a
    worker that ran each reply on a new loop loaded the tokenizer for each one, and leaked: llama.cpp's
    vocabulary objects sit in reference cycles that hold tens of MiB of arrays until a rare full
    garbage collection (the soak's worker grew ~1.3 MiB a reply)."""
    return CachedTokenCounter(token_counter(kind, base_url=base_url, model=model))


def _build_gateway() -> ModelGateway:
    model = model_settings()
    endpoint = ModelEndpoint(
        base_url=model.base_url,
        model=model.name,
        api_key=model.api_key,
        connect_timeout=model.connect_timeout,
        read_timeout=model.read_timeout,
        first_token_timeout=model.first_token_timeout,
        retries=model.retries,
        max_connections=model.max_connections,
    )
    return ModelGateway(
        client=ChatCompletionsClient(endpoint),
        prompt_format=prompt_format(model.prompt_format),
        counter=shared_token_counter(model.tokenizer, model.base_url, model.name),
        context_window=model.context_window,
        max_tokens=model.max_tokens,
        temperature=model.temperature,
        extra_body=model.extra_body,
        builtin_tools=model.builtin_tools,
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
