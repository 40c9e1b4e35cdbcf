"""Imagine's settings: one `ImagineSettings`, read from Django settings by `imagine_settings()`.

Each field is the Django setting `IMAGINE_<FIELD>` and its default is stated here only; config/settings.py
reads the environment variables of the operators' settings and takes their defaults from this class.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import BaseModel, ConfigDict

TINY_RANDOM = "tiny-random"  # the pipeline built in code with random weights (imagine/pipelines.py)


class ImagineSettings(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda field: f"IMAGINE_{field.upper()}", from_attributes=True, frozen=True
    )

    # The diffusers pipeline, name or path: `stabilityai/sd-turbo` (or `sdxl-turbo`) in production;
    # `tiny-random` is a small randomly initialised pipeline built in code (abstract pictures, no download).
    model: str = TINY_RANDOM
    # AutoencoderTiny for previews (SDXL: `madebyollin/taesdxl`); "" keeps the model's own; `tiny-random` has its own.
    preview_autoencoder: str = "madebyollin/taesd"
    device: str = "auto"  # `auto`: `cuda` when available, else `cpu`
    dtype: str = "auto"  # `float16`, `bfloat16` or `float32`; `auto`: float16 on CUDA, float32 on CPU
    # Preview sizes by name (multiples of 64; the invisible mark needs at least 256²).
    sizes: dict[str, tuple[int, int]] = {"square": (512, 512), "portrait": (448, 576), "landscape": (576, 448)}
    default_size: str = "square"  # size when a client names none
    final_scale: float = 1.5  # the final render is this much larger (rounded to 64)
    preview_steps: int = 1  # denoising steps of a preview (turbo models: 1, guidance 0)
    final_steps: int = 4  # steps of the final render
    guidance: float = 0.0  # classifier-free guidance scale (turbo models are trained without it)
    max_prompt_chars: int = 500  # longer prompts are refused
    batch_max: int = 8  # most requests rendered in one pipeline call
    batch_window_ms: int = 5  # how long the first request of a batch waits for others
    prompts_per_second: int = 10  # prompts a user may send per second; more wait (latest wins)
    preview_timeout_seconds: float = 20.0  # no preview within this: `worker_unavailable`
    final_timeout_seconds: float = 120.0  # the same for a final render
    animate_timeout_seconds: float = 600.0  # the same for an animation
    # How much of an edited picture is re-drawn (img2img strength): enough for a new style or colours,
    # little enough that the picture keeps its layout.
    edit_strength: float = 0.6
    animate_model: str = ""  # Stable Video Diffusion name or path; "": zoom frames re-rendered through img2img
    animate_frames: int = 16  # frames of a clip
    animate_fps: int = 8  # frames per second of a clip
    cache_seconds: int = 86400  # `Cache-Control: private, max-age` of served files (they never change)
    # Dotted path of `f(*, user_id, prompt, categories)`, called when the safety check refuses a submitted
    # prompt (the project's moderation queue); "": none.
    on_blocked_prompt: str = ""

    @property
    def draws_stand_in_pictures(self) -> bool:
        """The built-in random pipeline: it draws abstract noise whatever the prompt (the page says so)."""
        return self.model == TINY_RANDOM


@functools.cache
def imagine_settings() -> ImagineSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return ImagineSettings.model_validate(settings)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    imagine_settings.cache_clear()
