"""Loading the diffusion pipelines and rendering with them. One `Renderer` per worker process,
built on first use and kept warm; only the batching thread (imagine/batching.py) calls it.

Seeds use CPU generators, so a seed gives the same starting noise on any device.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from diffusers import AutoencoderTiny, AutoPipelineForImage2Image, AutoPipelineForText2Image, DiffusionPipeline
from PIL import Image

from imagine.conf import TINY_RANDOM, imagine_settings

logger = logging.getLogger(__name__)

ANIMATE_ZOOM = 0.12  # the zoom frames push 12 % in and come back, so the clip loops
ANIMATE_STRENGTH = 0.35  # how much each zoom frame is re-rendered: enough to move, not to change the scene
FRAMES_PER_CALL = 4


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    seed: int
    width: int
    height: int
    steps: int
    final: bool = False  # the full autoencoder instead of the preview one

    @property
    def batch_key(self) -> tuple[int, int, int, bool]:
        """Requests with the same key can share one pipeline call."""
        return (self.width, self.height, self.steps, self.final)


def _device() -> torch.device:
    name = imagine_settings().device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _dtype(device: torch.device) -> torch.dtype:
    name = imagine_settings().dtype
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


class Renderer:
    """A text-to-image pipeline with a preview autoencoder and the model's full one."""

    def __init__(self, pipeline: DiffusionPipeline, preview_vae: torch.nn.Module) -> None:
        self.pipeline = pipeline
        self.full_vae = pipeline.vae
        self.preview_vae = preview_vae
        self.lock = threading.Lock()  # one pipeline call at a time: previews, finals, edits and clips share the GPU
        pipeline.set_progress_bar_config(disable=True)

    def render(self, requests: list[RenderRequest]) -> list[Image.Image]:
        """One pipeline call for requests sharing a batch key."""
        first = requests[0]
        with self.lock, torch.inference_mode():
            self.pipeline.vae = self.full_vae if first.final else self.preview_vae
            output = self.pipeline(
                prompt=[request.prompt for request in requests],
                width=first.width,
                height=first.height,
                num_inference_steps=first.steps,
                guidance_scale=imagine_settings().guidance,
                generator=[torch.Generator("cpu").manual_seed(request.seed) for request in requests],
            )
        return output.images

    def zoom_frames(
        self, image: Image.Image, *, prompt: str, seed: int, frames: int, progress: Callable[[int, int], None]
    ) -> list[Image.Image]:
        """A looping clip from one image: zoom in and back out, each crop re-rendered (img2img) with
        the image's prompt and seed so the scene moves instead of only growing."""
        crops = [_zoom(image, _loop_position(index, frames)) for index in range(frames)]
        steps = max(imagine_settings().preview_steps, math.ceil(1 / ANIMATE_STRENGTH))
        rendered: list[Image.Image] = []
        for start in range(0, frames, FRAMES_PER_CALL):
            chunk = crops[start : start + FRAMES_PER_CALL]
            rendered.extend(self._img2img(chunk, prompt=prompt, seed=seed, strength=ANIMATE_STRENGTH, steps=steps))
            progress(len(rendered), frames)
        return rendered

    def edit(self, image: Image.Image, *, prompt: str, seed: int, progress: Callable[[int, int], None]) -> Image.Image:
        """The picture restyled by `prompt`, the same size as `image`: img2img with the loaded model
        (docs/subsystems/imagine.md, "Edits", says why not InstructPix2Pix). `progress(done, total)`
        after each denoising step."""
        settings = imagine_settings()
        steps = max(settings.final_steps, math.ceil(1 / settings.edit_strength))
        (edited,) = self._img2img(
            [image.convert("RGB")],
            prompt=prompt,
            seed=seed,
            strength=settings.edit_strength,
            steps=steps,
            progress=progress,
        )
        return edited

    def _img2img(
        self,
        images: list[Image.Image],
        *,
        prompt: str,
        seed: int,
        strength: float,
        steps: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Image.Image]:
        """One image-to-image call with the text-to-image pipeline's own weights (`from_pipe` shares
        them: no second model in memory) and the full autoencoder; it runs `strength` of `steps`."""
        with self.lock, torch.inference_mode():
            self.pipeline.vae = self.full_vae
            img2img = AutoPipelineForImage2Image.from_pipe(self.pipeline)
            img2img.set_progress_bar_config(disable=True)
            output = img2img(
                prompt=[prompt] * len(images),
                image=images,
                strength=strength,
                num_inference_steps=steps,
                guidance_scale=imagine_settings().guidance,
                generator=[torch.Generator("cpu").manual_seed(seed) for _ in images],
                callback_on_step_end=_step_reporter(progress) if progress else None,
            )
        return output.images


def _step_reporter(progress: Callable[[int, int], None]) -> Callable[[DiffusionPipeline, int, int, dict], dict]:
    """A diffusers step callback calling `progress(done, total)`; the total is the steps the pipeline
    really runs (img2img runs only `strength` of those asked for)."""

    def report(pipeline: DiffusionPipeline, step: int, _timestep: int, kwargs: dict) -> dict:
        progress(step + 1, pipeline.num_timesteps)
        return kwargs

    return report


def _loop_position(index: int, frames: int) -> float:
    """0 → 1 → 0 over the clip (a cosine), so the last frame leads smoothly into the first."""
    return (1 - math.cos(2 * math.pi * index / frames)) / 2


def _zoom(image: Image.Image, amount: float) -> Image.Image:
    scale = 1 + ANIMATE_ZOOM * amount
    width, height = image.size
    crop_width, crop_height = width / scale, height / scale
    left, top = (width - crop_width) / 2, (height - crop_height) / 2
    box = (left, top, left + crop_width, top + crop_height)
    return image.crop(tuple(round(edge) for edge in box)).resize(image.size, Image.Resampling.BICUBIC)


@cache
def renderer() -> Renderer:
    """The process's warm renderer (built on first use: seconds for real weights)."""
    device = _device()
    dtype = _dtype(device)
    name = imagine_settings().model
    if name == TINY_RANDOM:
        from imagine.tiny import build_tiny_pipeline

        pipeline = build_tiny_pipeline()
        preview_vae = pipeline.vae
    else:
        pipeline = AutoPipelineForText2Image.from_pretrained(name, torch_dtype=dtype)
        preview_name = imagine_settings().preview_autoencoder
        preview_vae = AutoencoderTiny.from_pretrained(preview_name, torch_dtype=dtype) if preview_name else pipeline.vae
    pipeline.to(device, dtype)
    preview_vae.to(device, dtype)
    if device.type == "cuda":
        pipeline.unet.to(memory_format=torch.channels_last)
    logger.info("imagine pipeline %s ready on %s (%s)", name, device, dtype)
    return Renderer(pipeline, preview_vae)


@cache
def video_pipeline() -> DiffusionPipeline:
    """Stable Video Diffusion (IMAGINE_ANIMATE_MODEL) for animations, when an operator names one."""
    from diffusers import StableVideoDiffusionPipeline

    device = _device()
    pipeline = StableVideoDiffusionPipeline.from_pretrained(
        imagine_settings().animate_model, torch_dtype=_dtype(device)
    )
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def video_frames(
    image: Image.Image, *, seed: int, frames: int, progress: Callable[[int, int], None]
) -> list[Image.Image]:
    """Image-to-video with Stable Video Diffusion, played forwards then backwards so it loops."""
    pipeline = video_pipeline()
    forward_count = frames // 2 + 1
    with torch.inference_mode():
        forward = pipeline(
            image,
            num_frames=forward_count,
            decode_chunk_size=FRAMES_PER_CALL,
            generator=torch.Generator("cpu").manual_seed(seed),
            callback_on_step_end=_step_reporter(progress),
        ).frames[0]
    return forward + forward[-2:0:-1]
