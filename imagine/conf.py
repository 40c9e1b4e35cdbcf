"""Imagine's settings, each read from Django settings with the default below.

| setting | default | meaning |
| --- | --- | --- |
| `IMAGINE_MODEL` | `"tiny-random"` | diffusers pipeline, name or path: `stabilityai/sd-turbo` in production, |
| | | or `stabilityai/sdxl-turbo`; `tiny-random` is built in code (the embedded stand-in) |
| `IMAGINE_PREVIEW_AUTOENCODER` | `"madebyollin/taesd"` | AutoencoderTiny for previews (SDXL: `madebyollin/taesdxl`); |
| | | `""` keeps the model's own; `tiny-random` has its own |
| `IMAGINE_DEVICE` | `"auto"` | `cuda` when available, else `cpu` |
| `IMAGINE_DTYPE` | `"auto"` | `float16`, `bfloat16` or `float32`; `auto` = float16 on CUDA, float32 on CPU |
| `IMAGINE_SIZES` | square 512², portrait 448×576, landscape 576×448 | preview sizes by name (multiples of 64; |
| | | the invisible mark needs at least 256²) |
| `IMAGINE_DEFAULT_SIZE` | `"square"` | size when a client names none |
| `IMAGINE_FINAL_SCALE` | `1.5` | the final render is this much larger (rounded to 64) |
| `IMAGINE_PREVIEW_STEPS` | `1` | denoising steps of a preview (turbo models: 1, guidance 0) |
| `IMAGINE_FINAL_STEPS` | `4` | steps of the final render |
| `IMAGINE_GUIDANCE` | `0.0` | classifier-free guidance scale (turbo models are trained without it) |
| `IMAGINE_MAX_PROMPT_CHARS` | `500` | longer prompts are refused |
| `IMAGINE_BATCH_MAX` | `8` | most requests rendered in one pipeline call |
| `IMAGINE_BATCH_WINDOW_MS` | `5` | how long the first request of a batch waits for others |
| `IMAGINE_PROMPTS_PER_SECOND` | `10` | prompts a user may send per second; more wait (latest wins) |
| `IMAGINE_PREVIEW_TIMEOUT_SECONDS` | `20` | no preview within this: `worker_unavailable` |
| `IMAGINE_FINAL_TIMEOUT_SECONDS` | `120` | the same for a final render |
| `IMAGINE_ANIMATE_TIMEOUT_SECONDS` | `600` | the same for an animation |
| `IMAGINE_ANIMATE_MODEL` | `""` | `""`: zoom frames re-rendered through the image pipeline (img2img); |
| | | else a Stable Video Diffusion name or path |
| `IMAGINE_ANIMATE_FRAMES` | `16` | frames of a clip |
| `IMAGINE_ANIMATE_FPS` | `8` | frames per second of a clip |
| `IMAGINE_CACHE_SECONDS` | `86400` | `Cache-Control: private, max-age` of served files (they never change) |
| `IMAGINE_ON_BLOCKED_PROMPT` | `""` | dotted path of `f(*, user_id, prompt, categories)`, called when the safety |
| | | check refuses a submitted prompt (the project's moderation queue); `""`: none |
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULT_SIZES = {"square": (512, 512), "portrait": (448, 576), "landscape": (576, 448)}


def setting(name: str) -> Any:
    return getattr(settings, name, _DEFAULTS[name])


_DEFAULTS: dict[str, Any] = {
    "IMAGINE_MODEL": "tiny-random",
    "IMAGINE_PREVIEW_AUTOENCODER": "madebyollin/taesd",
    "IMAGINE_DEVICE": "auto",
    "IMAGINE_DTYPE": "auto",
    "IMAGINE_SIZES": DEFAULT_SIZES,
    "IMAGINE_DEFAULT_SIZE": "square",
    "IMAGINE_FINAL_SCALE": 1.5,
    "IMAGINE_PREVIEW_STEPS": 1,
    "IMAGINE_FINAL_STEPS": 4,
    "IMAGINE_GUIDANCE": 0.0,
    "IMAGINE_MAX_PROMPT_CHARS": 500,
    "IMAGINE_BATCH_MAX": 8,
    "IMAGINE_BATCH_WINDOW_MS": 5,
    "IMAGINE_PROMPTS_PER_SECOND": 10,
    "IMAGINE_PREVIEW_TIMEOUT_SECONDS": 20.0,
    "IMAGINE_FINAL_TIMEOUT_SECONDS": 120.0,
    "IMAGINE_ANIMATE_TIMEOUT_SECONDS": 600.0,
    "IMAGINE_ANIMATE_MODEL": "",
    "IMAGINE_ANIMATE_FRAMES": 16,
    "IMAGINE_ANIMATE_FPS": 8,
    "IMAGINE_CACHE_SECONDS": 86400,
    "IMAGINE_ON_BLOCKED_PROMPT": "",
}
