"""The safety package's settings: one `SafetySettings`, read from Django settings by `safety_settings()`.

Each field is the Django setting `SAFETY_<FIELD>` and its default is stated here only; config/settings.py
reads the environment variables of the operators' settings and takes their defaults from this class.
"""

from __future__ import annotations

import functools
import logging.config
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import BaseModel, ConfigDict, Field

from safety.llama_guard import PROMPT_ATTACK_CATEGORIES, S_CATEGORIES

# In the checkout, not under ASSISTANT_VAR_DIR: every process of a machine shares the embedded guard's
# trained weights, test servers with var folders of their own included.
_CHECKOUT_CACHE = Path(__file__).resolve().parent.parent / "var" / "cache"


class SafetySettings(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda field: f"SAFETY_{field.upper()}", from_attributes=True, frozen=True
    )

    checks: bool = True  # the content guard on every turn and Imagine prompt; off only to measure other costs
    guard_base_url: str = ""  # base URL (…/v1) of vLLM serving Llama Guard 3; set: `VllmGuard`
    guard_model: str = "llama-guard-3-1b"  # the served model name sent to that server
    guard_api_key: str = Field("", repr=False)  # bearer token for that server, if it wants one
    # The guard at that URL judges answers: false for the embedded stand-in's server (`make run`, the
    # cpu-guard deployments), which answers `safe` unread unless SAFETY_EMBEDDED_CHECKS_ANSWERS.
    guard_judges_answers: bool = True
    guard_timeout: float = 10.0  # seconds the vLLM guard may take to answer (connecting: at most 2 s)
    # Checks in flight to that guard from one process (its connections); more wait their turn, at most
    # guard_timeout, then follow the failure policy.
    guard_max_connections: int = Field(16, ge=1)
    # Base URL (…/v1) of vLLM serving Llama Guard 3 Vision; set: a turn's photo is judged with its question
    # beside the content guard (`VisionGuard`); empty (the embedded default): no image check, the photo's
    # printed text is still checked with the question.
    vision_guard_base_url: str = ""
    vision_guard_model: str = "llama-guard-3-11b-vision"  # the served model name sent to that server
    vision_guard_api_key: str = Field("", repr=False)  # bearer token for that server, if it wants one
    vision_guard_timeout: float = 10.0  # seconds the vision guard may take to answer (connecting: at most 2 s)
    guard_gguf: str = ""  # path of a Llama Guard 3 1B GGUF file, run in process when no base URL is set
    # Hazards checked (`jailbreak` and `injection`: the embedded guard only).
    categories: tuple[str, ...] = (*S_CATEGORIES, *PROMPT_ATTACK_CATEGORIES)
    fail_closed: bool = False  # guard down or timed out: refuse (production) or let the turn through; logged
    output_check_chars: int = 400  # streamed characters between two checks of a growing answer
    code_shield: bool = True  # scan the code blocks of answers
    code_block_severity: str = "none"  # Code Shield findings that block: `none` (warn only), `error`, `warning`
    embedded_checks_answers: bool = False  # the embedded stand-in judges answers too (many false alarms)
    embedded_threshold: float = 0.6  # the embedded classifier flags a text when P(unsafe) reaches this
    # `make run` serves the embedded guard on this loopback port (safety/guard_server.py) to its other processes.
    embedded_guard_port: int = 8002
    cache_dir: Path = _CHECKOUT_CACHE  # where the embedded guard keeps its trained weights


@functools.cache
def safety_settings() -> SafetySettings:
    """Read once per process, and again after a setting changes (tests)."""
    return SafetySettings.model_validate(settings)


def configure_process_logging() -> None:
    """A process of the safety package's own (the guard server) logs as the product's others do: LOGGING."""
    logging.config.dictConfig(settings.LOGGING)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    safety_settings.cache_clear()
