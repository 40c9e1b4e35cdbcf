"""The assistant's settings: `ModelSettings` (MODEL_*, the model server the gateway talks to;
model_service imports no Django, so they are read here) and `AssistantSettings` (ASSISTANT_*, how
the assistant behaves), read from Django settings by `model_settings()` and `assistant_settings()`.

Each field is the Django setting `<PREFIX>_<FIELD>` and its default is stated here only; config/settings.py
reads the environment variables of the same names and takes its defaults from these classes. Settings
that only core/ or config/ read, through Django settings (the abuse limits of core/limits.py, which imports
no app; ASSISTANT_SHUTDOWN_GRACE_SECONDS of config/lifespan.py), have their one default in config/settings.py.
"""

from __future__ import annotations

import functools
from typing import Literal

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import BaseModel, ConfigDict, Field, field_validator


class ModelSettings(BaseModel):
    model_config = ConfigDict(alias_generator=lambda field: f"MODEL_{field.upper()}", from_attributes=True, frozen=True)

    base_url: str = "http://127.0.0.1:8001/v1"  # the OpenAI-compatible server
    name: str = "smollm2-135m-instruct"  # the `model` field sent to it
    api_key: str = Field("", repr=False)  # sent as a bearer token when set; never in a repr
    prompt_format: str = "chatml"  # `llama3` or `chatml`: the format the project renders and sends as token ids
    tokenizer: str = "smollm2"  # the served model's: `llama3`, `smollm2`, `gguf:<path>`, a `tokenizer.json` path
    context_window: int = 8192  # the model's window in tokens
    max_tokens: int = 1024  # the longest answer in tokens; prompt + this never exceeds the window
    temperature: float = 0.6  # sampling temperature
    connect_timeout: float = 5.0  # seconds to connect to the model server
    read_timeout: float = 60.0  # the longest gap between two streamed chunks, in seconds
    first_token_timeout: float = 60.0  # the longest wait from the request to the first token, retries included
    retries: int = 2  # retries before the first token (connection errors, read timeouts, 429, 5xx); none after it
    max_connections: int = 4096  # concurrent connections (= answers streaming at once) from one process
    # Answers of one process streaming from the model at once (assistant/engine/admission.py); the
    # rest wait their turn, round robin by person. Match the server's sequences, divided among the
    # processes that share it: vLLM's --max-num-seqs, the embedded engine's slots (8 on two cores,
    # model_service/embedded.py). 0: no limit.
    max_concurrent_streams: int = Field(8, ge=0)
    extra_body: dict[str, object] = {}  # sampling fields sent with every request (e.g. vLLM's {"top_k": 40})
    # Llama 3.1 Instruct was trained to call brave_search and wolfram_alpha itself; other models are not.
    builtin_tools: bool = False
    # `/v1` client tools, offered in one of Meta's two custom-tool formats: `json` or `function_tag`.
    tool_format: str = "json"
    # The server's guided decoding for `/v1` response_format: `vllm`, `llamacpp`, `llama-cpp-python`
    # or `none` (refused with a 400); "" picks by prompt format (llama3: vllm, else llama-cpp-python).
    guided_decoding: str = ""
    # The vision model a turn with a photo goes to, as an OpenAI chat request with the photo as an
    # `image_url` part (Llama 3.2 Vision on vLLM: `python -m model_service.vllm --preset
    # llama3.2-11b-vision`, compose service `vision`). "": no vision model, a photo is known by its OCR
    # reading only (the embedded stand-in). A vision-capable main model: the main model's URL and name.
    vision_base_url: str = ""
    vision_name: str = "llama-3.2-11b-vision-instruct"  # its `model` field (the preset's served name)
    vision_api_key: str = Field("", repr=False)
    vision_context_window: int = Field(8192, ge=512)  # its window in tokens (the preset's --max-model-len)

    @field_validator("vision_base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(f"MODEL_VISION_BASE_URL must be an http(s) URL ending in /v1, not {url!r}.")
        return url


class AssistantSettings(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda field: f"ASSISTANT_{field.upper()}", from_attributes=True, frozen=True
    )

    # The system message of every conversation (a conversation's own instructions follow it).
    system_prompt: str = "You are a helpful, friendly assistant. Answer clearly and concisely."
    max_message_chars: int = 8000  # the longest user message, after trimming
    flush_interval_ms: int = 250  # how often a growing answer is saved (the most a crash can lose)
    frame_interval_ms: int = 10  # tokens arriving closer than this share a frame
    model_titles: bool = True  # a worker asks the model for a short title; off keeps the first words
    max_conversation_messages: int = 1000  # messages in one conversation
    # The address people reach this deployment at (https://chat.example.com): links sent into messaging
    # apps (Imagine pictures) are built on it. Unset, /imagine in an app says it is unavailable.
    public_url: str = ""
    # A person's new web turn while another answer of theirs is streaming: `wait` (its turn comes
    # after that answer, assistant/engine/admission.py) or `refuse` (error `answer_in_progress`).
    # `/v1` and messaging turns always wait: programs send parallel requests on purpose, and a
    # messaging app has nobody to retry a refused message.
    concurrent_answers: Literal["wait", "refuse"] = "wait"


@functools.cache
def model_settings() -> ModelSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return ModelSettings.model_validate(settings)


@functools.cache
def assistant_settings() -> AssistantSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return AssistantSettings.model_validate(settings)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    model_settings.cache_clear()
    assistant_settings.cache_clear()
