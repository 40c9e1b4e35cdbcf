"""Imagine's preview path on an NVIDIA GPU: an SD-Turbo-shaped pipeline built from the real
configurations (Stable Diffusion 2.1's UNet, OpenCLIP ViT-H text encoder and autoencoder; TAESD as
the tiny autoencoder) with random weights, so nothing is downloaded. Speed does not depend on the
weights' values.

    python -m benchmarks.imagine_gpu [--batches 1 8] [--variants eager-fp16 ...] [--out results.json]

Per variant and batch size it times each stage with CUDA events (text encoder, one UNet step,
tiny and full autoencoder decode) and the whole 1-step 512² preview (text + UNet + tiny decode),
and derives previews per second. Variants: eager fp16/bf16, channels-last, and torch.compile
(default mode, and reduce-overhead, which captures CUDA graphs). max-autotune is left out: it
compiles for over ten minutes. Without CUDA it prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

LATENT = 64  # 512² pixels / 8
TOKENS = 77

# Stable Diffusion 2.1 (= SD-Turbo) UNet, text encoder and autoencoder configurations.
UNET_CONFIG = {
    "sample_size": LATENT,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "attention_head_dim": (5, 10, 20, 20),
    "cross_attention_dim": 1024,
    "use_linear_projection": True,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
}
TEXT_CONFIG = {
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": TOKENS,
    "hidden_act": "gelu",
    "projection_dim": 512,
}
VAE_CONFIG = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
}
VARIANTS = ("eager-fp16", "eager-bf16", "channels-last-fp16", "compile-fp16", "compile-graphs-fp16")


@dataclass
class Figures:
    variant: str
    batch: int
    text_ms: float
    unet_ms: float
    tiny_decode_ms: float
    full_decode_ms: float
    preview_ms: float  # text + 1 UNet step + tiny decode, as the product renders a preview
    previews_per_s: float
    compile_s: float


def _models(dtype: torch.dtype, *, channels_last: bool) -> dict[str, torch.nn.Module]:
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    models = {
        "text": CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)),
        "unet": UNet2DConditionModel(**UNET_CONFIG),
        "tiny_vae": AutoencoderTiny(),  # the default configuration is TAESD's
        "full_vae": AutoencoderKL(**VAE_CONFIG),
    }
    for model in models.values():
        model.to("cuda", dtype).eval()
        if channels_last:
            model.to(memory_format=torch.channels_last)
    return models


def _time_ms(run: Callable[[], object], *, warmup: int, iterations: int) -> float:
    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def _stages(models: dict[str, torch.nn.Module], batch: int, dtype: torch.dtype) -> dict[str, Callable[[], object]]:
    tokens = torch.randint(0, TEXT_CONFIG["vocab_size"], (batch, TOKENS), device="cuda")
    latents = torch.randn(batch, 4, LATENT, LATENT, device="cuda", dtype=dtype)
    text_states = torch.randn(batch, TOKENS, 1024, device="cuda", dtype=dtype)
    timestep = torch.full((batch,), 999, device="cuda")

    def text() -> torch.Tensor:
        return models["text"](tokens).last_hidden_state

    def unet(states: torch.Tensor = text_states) -> torch.Tensor:
        return models["unet"](latents, timestep, encoder_hidden_states=states).sample

    def tiny_decode(sample: torch.Tensor = latents) -> torch.Tensor:
        return models["tiny_vae"].decode(sample).sample

    def full_decode() -> torch.Tensor:
        return models["full_vae"].decode(latents / 0.18215).sample

    def preview() -> torch.Tensor:
        return tiny_decode(unet(text()))

    return {"text": text, "unet": unet, "tiny_decode": tiny_decode, "full_decode": full_decode, "preview": preview}


def _compile(models: dict[str, torch.nn.Module], mode: str) -> None:
    for name in ("text", "unet", "tiny_vae"):
        models[name] = torch.compile(models[name], mode=mode, fullgraph=False)
    models["full_vae"].decode = torch.compile(models["full_vae"].decode, mode=mode)


def measure(variant: str, batch: int, *, iterations: int) -> Figures:
    dtype = torch.bfloat16 if "bf16" in variant else torch.float16
    models = _models(dtype, channels_last=variant != "eager-fp16" and variant != "eager-bf16")
    compile_s = 0.0
    if variant.startswith("compile"):
        started = time.perf_counter()
        _compile(models, "reduce-overhead" if variant == "compile-graphs-fp16" else "default")
        with torch.inference_mode():
            for run in _stages(models, batch, dtype).values():
                run()  # compiles (and captures graphs) here, outside the timings
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - started
    with torch.inference_mode():
        stages = _stages(models, batch, dtype)
        ms = {name: _time_ms(run, warmup=3, iterations=iterations) for name, run in stages.items()}
    del models
    torch.cuda.empty_cache()
    return Figures(
        variant=variant,
        batch=batch,
        text_ms=round(ms["text"], 2),
        unet_ms=round(ms["unet"], 2),
        tiny_decode_ms=round(ms["tiny_decode"], 2),
        full_decode_ms=round(ms["full_decode"], 2),
        preview_ms=round(ms["preview"], 2),
        previews_per_s=round(batch * 1000 / ms["preview"], 1),
        compile_s=round(compile_s, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("imagine_gpu: skipped, no CUDA device here (this benchmark needs an NVIDIA GPU, e.g. an H100).")
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    print(f"{torch.cuda.get_device_name()} · torch {torch.__version__} · 512² preview, 1 UNet step")
    columns = ["variant", "batch", "text ms", "UNet ms", "tiny decode ms", "full decode ms", "preview ms"]
    columns += ["previews/s", "compile s"]
    print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    results = []
    for variant in args.variants:
        for batch in args.batches:
            figures = measure(variant, batch, iterations=args.iterations)
            results.append(asdict(figures))
            print("| " + " | ".join(str(value) for value in asdict(figures).values()) + " |", flush=True)
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
