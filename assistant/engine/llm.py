"""The model gateway: the settings-configured model_service pieces the pipeline uses."""

from __future__ import annotations

import asyncio
import functools
import weakref
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

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
    endpoint = ModelEndpoint(
        base_url=settings.MODEL_BASE_URL,
        model=settings.MODEL_NAME,
        api_key=settings.MODEL_API_KEY,
        connect_timeout=settings.MODEL_CONNECT_TIMEOUT,
        read_timeout=settings.MODEL_READ_TIMEOUT,
        first_token_timeout=settings.MODEL_FIRST_TOKEN_TIMEOUT,
        retries=settings.MODEL_RETRIES,
        max_connections=settings.MODEL_MAX_CONNECTIONS,
    )
    return ModelGateway(
        client=ChatCompletionsClient(endpoint),
        prompt_format=prompt_format(settings.MODEL_PROMPT_FORMAT),
        counter=shared_token_counter(settings.MODEL_TOKENIZER, settings.MODEL_BASE_URL, settings.MODEL_NAME),
        context_window=settings.MODEL_CONTEXT_WINDOW,
        max_tokens=settings.MODEL_MAX_TOKENS,
        temperature=settings.MODEL_TEMPERATURE,
        extra_body=settings.MODEL_EXTRA_BODY,
        builtin_tools=settings.MODEL_BUILTIN_TOOLS,
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
