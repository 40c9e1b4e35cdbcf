"""The production engines: checked `vllm serve` command lines for Llama 3.1 Instruct (the chat
model), Llama Guard 3 (the safety classifier, a second vLLM server), Llama 3.2 11B Vision Instruct
(the model a turn with a photo goes to, a third; MODEL_VISION_BASE_URL) and Llama Guard 3 Vision
(the guard that judges the photo with the question, a fourth; SAFETY_VISION_GUARD_BASE_URL) and
Whisper large-v3 turbo (the voice notes' transcription, a fifth; MEDIA_TRANSCRIPTION_BASE_URL).

`python -m model_service.vllm --preset llama3.1-8b` runs vLLM's OpenAI-compatible server;
`--print` shows the command instead (docker-compose uses the same presets). The checks catch the
mistakes that otherwise surface minutes into a GPU start: a tensor-parallel size that does not
divide the attention heads, weights that cannot fit the GPUs, a context longer than the model's.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from dataclasses import dataclass, replace

from model_service.chat_formats import LLAMA32_VISION_CHAT_TEMPLATE
from safety.vision_guard import LLAMA_GUARD_VISION_CHAT_TEMPLATE


@dataclass(frozen=True)
class ModelFacts:
    hf_name: str
    parameters_billion: float
    attention_heads: int
    max_context: int = 131072  # Llama 3.1's 128K window


LLAMA_31 = {
    "8b": ModelFacts("meta-llama/Llama-3.1-8B-Instruct", 8.03, 32),
    "70b": ModelFacts("meta-llama/Llama-3.1-70B-Instruct", 70.6, 64),
    "405b": ModelFacts("meta-llama/Llama-3.1-405B-Instruct-FP8", 405.9, 128),
    "405b-bf16": ModelFacts("meta-llama/Llama-3.1-405B-Instruct", 405.9, 128),
}
LLAMA_GUARD_3 = {
    "1b": ModelFacts("meta-llama/Llama-Guard-3-1B", 1.5, 32),
    "8b": ModelFacts("meta-llama/Llama-Guard-3-8B", 8.03, 32),
    # Llama 3.2 11B Vision fine-tuned as a classifier (mllama: the same architecture and size).
    "11b-vision": ModelFacts("meta-llama/Llama-Guard-3-11B-Vision", 10.7, 32),
}
LLAMA_32_VISION_11B = ModelFacts("meta-llama/Llama-3.2-11B-Vision-Instruct", 10.6, 32)
# Guard prompts are one conversation turn plus the hazard taxonomy: a few thousand tokens at most.
GUARD_CONTEXT = 8192
# Llama 3.2 Vision: vLLM's launch guide for it (vllm-project/vllm#8826) serves 11B with
# `--enforce-eager --max-num-seqs 16`: each sequence reserves the cross-attention cache of a whole image
# (4 tiles × 1,601 positions), so the sequences, not the text window, bound the memory. One image per
# prompt: Meta recommends a single image, and the project sends the latest photo only. A photo turn is
# a short conversation beside the fence of the photo's reading, so 8K of text window is ample
# (MODEL_VISION_CONTEXT_WINDOW).
VISION_CONTEXT = 8192
VISION_MAX_SEQUENCES = 16
# Whisper large-v3 turbo: large-v3's 32-layer encoder with 4 decoder layers (20 heads each), 809M
# parameters. Its decoder reads at most 448 tokens (max_target_positions), which is also vLLM's
# longest window for it; vLLM cuts audio longer than 30 s into 30 s windows, each decoded as its own
# sequence, so 448 tokens bound one window's words, not a voice note's.
WHISPER_LARGE_V3_TURBO = ModelFacts("openai/whisper-large-v3-turbo", 0.809, 20, max_context=448)


@dataclass(frozen=True)
class VllmServeConfig:
    facts: ModelFacts
    served_name: str
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1  # stages across nodes; each stage holds a tensor-parallel group
    fp8: bool = False
    max_model_len: int = 16384
    gpu_memory_gb: float = 80.0
    gpu_memory_utilization: float = 0.90
    host: str = "0.0.0.0"
    port: int = 8000
    tool_calling: bool = True
    max_num_seqs: int | None = None  # None: vLLM's default
    enforce_eager: bool = False  # no CUDA graphs
    images_per_prompt: int = 0  # a vision model: `--limit-mm-per-prompt`
    chat_template: str = ""  # the project's chat template for the server's chat requests (photo turns)

    def gpu_count(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    def weight_gb_per_gpu(self) -> float:
        bytes_per_parameter = 1 if self.fp8 else 2
        return self.facts.parameters_billion * bytes_per_parameter / self.gpu_count()

    def problems(self) -> list[str]:
        found = []
        tp = self.tensor_parallel_size
        if tp < 1 or self.facts.attention_heads % tp:
            found.append(f"tensor_parallel_size {tp} must divide the {self.facts.attention_heads} attention heads.")
        if not 0 < self.max_model_len <= self.facts.max_context:
            found.append(f"max_model_len {self.max_model_len} must be in 1..{self.facts.max_context}.")
        if self.max_num_seqs is not None and self.max_num_seqs < 1:
            found.append(f"max_num_seqs {self.max_num_seqs} must be at least 1.")
        if self.images_per_prompt < 0:
            found.append(f"images_per_prompt {self.images_per_prompt} cannot be negative.")
        if not 0 < self.gpu_memory_utilization <= 1:
            found.append(f"gpu_memory_utilization {self.gpu_memory_utilization} must be in (0, 1].")
        usable = self.gpu_memory_gb * self.gpu_memory_utilization
        # Leave at least a tenth of the usable memory for the KV cache and activations.
        if tp >= 1 and self.weight_gb_per_gpu() > 0.9 * usable:
            found.append(
                f"weights need {self.weight_gb_per_gpu():.0f} GB per GPU but only {usable:.0f} GB are usable: "
                "raise tensor_parallel_size or enable fp8."
            )
        return found

    def argv(self) -> list[str]:
        if problems := self.problems():
            raise ValueError(" ".join(problems))
        args = [
            "vllm", "serve", self.facts.hf_name,
            "--served-model-name", self.served_name,
            "--host", self.host,
            "--port", str(self.port),
            "--tensor-parallel-size", str(self.tensor_parallel_size),
            "--max-model-len", str(self.max_model_len),
            "--gpu-memory-utilization", str(self.gpu_memory_utilization),
            "--generation-config", "vllm",
        ]  # fmt: skip
        if self.pipeline_parallel_size > 1:
            args += ["--pipeline-parallel-size", str(self.pipeline_parallel_size)]
        if self.fp8 and not self.facts.hf_name.endswith("-FP8"):
            args += ["--quantization", "fp8"]
        if self.tool_calling:
            args += ["--enable-auto-tool-choice", "--tool-call-parser", "llama3_json"]
        if self.max_num_seqs is not None:
            args += ["--max-num-seqs", str(self.max_num_seqs)]
        if self.enforce_eager:
            args += ["--enforce-eager"]
        if self.images_per_prompt:
            args += ["--limit-mm-per-prompt", json.dumps({"image": self.images_per_prompt}, separators=(",", ":"))]
        if self.chat_template:
            # The server renders chat requests as the project renders them (content parts kept in order).
            args += ["--chat-template", self.chat_template, "--chat-template-content-format", "openai"]
        return args


PRESETS = {
    "llama3.1-8b": VllmServeConfig(LLAMA_31["8b"], "llama-3.1-8b-instruct"),
    "llama3.1-8b-fp8": VllmServeConfig(LLAMA_31["8b"], "llama-3.1-8b-instruct", fp8=True, max_model_len=32768),
    "llama3.1-70b": VllmServeConfig(LLAMA_31["70b"], "llama-3.1-70b-instruct", tensor_parallel_size=4),
    "llama3.1-70b-fp8": VllmServeConfig(LLAMA_31["70b"], "llama-3.1-70b-instruct", tensor_parallel_size=2, fp8=True),
    "llama3.1-405b-fp8": VllmServeConfig(LLAMA_31["405b"], "llama-3.1-405b-instruct", tensor_parallel_size=8, fp8=True),
    # Two 8-GPU nodes: tensor parallel inside each node, one pipeline stage per node (vLLM runs it on Ray).
    "llama3.1-405b": VllmServeConfig(
        LLAMA_31["405b-bf16"], "llama-3.1-405b-instruct", tensor_parallel_size=8, pipeline_parallel_size=2
    ),
    # Small enough to share the chat model's GPU (compose gives it 15 % of the memory).
    "llama-guard-3-1b": VllmServeConfig(
        LLAMA_GUARD_3["1b"], "llama-guard-3-1b", max_model_len=GUARD_CONTEXT, tool_calling=False
    ),
    "llama-guard-3-8b": VllmServeConfig(
        LLAMA_GUARD_3["8b"], "llama-guard-3-8b", max_model_len=GUARD_CONTEXT, tool_calling=False
    ),
    # Its own GPU: 21 GB of weights, and 16 sequences' cross-attention caches beside the KV cache.
    "llama3.2-11b-vision": VllmServeConfig(
        LLAMA_32_VISION_11B,
        "llama-3.2-11b-vision-instruct",
        max_model_len=VISION_CONTEXT,
        tool_calling=False,
        max_num_seqs=VISION_MAX_SEQUENCES,
        enforce_eager=True,
        images_per_prompt=1,
        chat_template=LLAMA32_VISION_CHAT_TEMPLATE,  # model_service/chat_formats.py: the ids the project counts
    ),
    # Its own GPU too, served as the vision model is (vLLM 0.10.1.1, eager, one image per prompt, 16
    # sequences) with the guards' 8K window: the task (about 300 tokens), one question and `<|image|>`,
    # the image's positions being in the cross-attention cache. The chat template is Meta's frame
    # around the Llama Guard prompt the project renders (safety/vision_guard.py).
    "llama-guard-3-11b-vision": VllmServeConfig(
        LLAMA_GUARD_3["11b-vision"],
        "llama-guard-3-11b-vision",
        max_model_len=GUARD_CONTEXT,
        tool_calling=False,
        max_num_seqs=VISION_MAX_SEQUENCES,
        enforce_eager=True,
        images_per_prompt=1,
        chat_template=LLAMA_GUARD_VISION_CHAT_TEMPLATE,
    ),
    # Served only on /v1/audio/transcriptions (vLLM picks the transcription task for Whisper by itself),
    # under its Hugging Face name, which is MEDIA_TRANSCRIPTION_MODEL's default. 1.6 GB of weights: it
    # shares a GPU with the speech server (compose gives it 40 % of the memory).
    "whisper-large-v3-turbo": VllmServeConfig(
        WHISPER_LARGE_V3_TURBO,
        WHISPER_LARGE_V3_TURBO.hf_name,
        max_model_len=WHISPER_LARGE_V3_TURBO.max_context,
        tool_calling=False,
    ),
}


def config_from_args(argv: list[str] | None = None) -> tuple[VllmServeConfig, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default=os.environ.get("VLLM_PRESET", "llama3.1-8b"))
    parser.add_argument("--tensor-parallel-size", type=int)
    parser.add_argument("--max-model-len", type=int)
    parser.add_argument("--fp8", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--gpu-memory-gb", type=float)
    parser.add_argument("--gpu-memory-utilization", type=float, help="share of GPU memory for this server")
    parser.add_argument("--port", type=int)
    parser.add_argument("--print", action="store_true", help="print the command instead of running it")
    args = parser.parse_args(argv)
    overrides = {
        "tensor_parallel_size": args.tensor_parallel_size,
        "max_model_len": args.max_model_len,
        "fp8": args.fp8,
        "gpu_memory_gb": args.gpu_memory_gb,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "port": args.port,
    }
    config = replace(PRESETS[args.preset], **{k: v for k, v in overrides.items() if v is not None})
    return config, args.print


def main(argv: list[str] | None = None) -> None:
    config, print_only = config_from_args(argv)
    command = config.argv()
    if print_only:
        print(shlex.join(command))
        return
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
