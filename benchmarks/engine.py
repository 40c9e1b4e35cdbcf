"""The embedded engine under simultaneous users: llama-cpp-python's server (one request at a time,
the previous engine) against llama-server (parallel slots, continuous batching), side by side.

    python -m benchmarks.engine [--users 1 4 8] [--rounds 3] [--tokens 128]

Starts both engines on loopback with the bundled SmolLM2 (`python -m model_service.embedded
--engine …`, each with its defaults for this machine), then for each number of users runs every
user's conversation at once: each user sends --rounds questions one after another, as the product
does (ChatML token ids to `/v1/completions` through model_service/client.py, temperature 0, an
end-token bias so every answer is exactly --tokens tokens). The engines take turns per user count,
in alternating order, so drift hits both. Prints the aggregate tokens/s (all users' tokens over
the wall time) and the first-token p50/p99 of each, the ratios, and the issue's targets at 8 users.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

from model_service.chat_formats import ChatMLFormat
from model_service.client import CompletionsClient, GenerationParams, ModelEndpoint, StreamEnd, TextDelta
from model_service.embedded import MODEL_ALIAS, bundled_gguf
from model_service.messages import ChatMessage, prompt_segments
from model_service.tokens import GgufTokenizer, encode
from tests.support.processes import NEVER_STOP_BIAS, free_port, running

BASELINE, BATCHING = "llama-cpp-python", "llama-server"
SYSTEM_PROMPT = "You are a helpful assistant. Answer in plain prose."
TOPICS = ("bread", "glass", "paper", "clocks", "bridges", "maps", "soap", "bicycles", "ink", "salt")
TARGET_SPEEDUP = 2.5  # the targets at 8 users
TARGET_FIRST_TOKEN_MS = 1000


@dataclass(frozen=True)
class Run:
    """One engine serving `users` conversations at once."""

    tokens: int
    wall_s: float
    first_token_ms: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def question(tokenizer: GgufTokenizer, user: int, round_: int) -> list[int]:
    """A distinct conversation per user: its earlier questions are history, so later turns share a prefix."""
    messages = [ChatMessage("system", SYSTEM_PROMPT)]
    for turn in range(round_ + 1):
        topic = TOPICS[(user + turn) % len(TOPICS)]
        messages.append(ChatMessage("user", f"User {user} asks: tell me about the history of {topic}."))
        if turn < round_:
            messages.append(ChatMessage("assistant", f"Here is a short history of {topic}."))
    return encode(prompt_segments(ChatMLFormat(), messages), tokenizer)


async def one_answer(client: CompletionsClient, prompt: list[int], tokens: int) -> tuple[float, int]:
    params = GenerationParams(max_tokens=tokens, temperature=0, extra=dict(NEVER_STOP_BIAS))
    start = time.perf_counter()
    first_token_ms = 0.0
    async for event in client.stream(prompt, params):
        if isinstance(event, TextDelta) and not first_token_ms:
            first_token_ms = (time.perf_counter() - start) * 1000
        elif isinstance(event, StreamEnd):
            # Only `length` proves all `tokens` were generated (llama-cpp-python's stream has no usage).
            if event.finish_reason != "length":
                raise RuntimeError(f"an answer ended with {event.finish_reason!r} before {tokens} tokens")
            return first_token_ms, tokens
    raise RuntimeError("the stream ended without a StreamEnd")


async def serve_users(url: str, tokenizer: GgufTokenizer, users: int, rounds: int, tokens: int) -> Run:
    client = CompletionsClient(ModelEndpoint(url, MODEL_ALIAS, read_timeout=600, first_token_timeout=600))

    async def conversation(user: int) -> list[tuple[float, int]]:
        return [await one_answer(client, question(tokenizer, user, r), tokens) for r in range(rounds)]

    try:
        await one_answer(client, question(tokenizer, 99, 0), 8)  # warm-up: first allocations, page cache
        start = time.perf_counter()
        answers = [a for user in await asyncio.gather(*(conversation(u) for u in range(users))) for a in user]
        wall_s = time.perf_counter() - start
    finally:
        await client.aclose()
    return Run(sum(n for _, n in answers), wall_s, [ms for ms, _ in answers])


def engine_command(engine: str, port: int, threads: int) -> list[str]:
    embedded = [sys.executable, "-m", "model_service.embedded", "--engine", engine]
    return [*embedded, "--port", str(port), "--threads", str(threads)]


def slots_of(url: str) -> int:
    """llama-server's slot count, as it reports it (`/props`)."""
    return int(httpx.get(url.removesuffix("/v1") + "/props", timeout=10).json()["total_slots"])


def row(users: int, engine: str, run: Run) -> str:
    p50, p99 = percentile(run.first_token_ms, 50), percentile(run.first_token_ms, 99)
    return f"{users:5}  {engine:16} {run.tokens_per_s:9.1f} {p50:12.0f} {p99:12.0f}   {len(run.first_token_ms):4}"


def report(results: dict[int, dict[str, Run]], setup: str) -> str:
    lines = [f"{'users':>5}  {'engine':16} {'tokens/s':>9} {'first p50 ms':>12} {'first p99 ms':>12}   answers"]
    for users, runs in results.items():
        lines += [row(users, engine, runs[engine]) for engine in (BASELINE, BATCHING)]
        speedup = runs[BATCHING].tokens_per_s / runs[BASELINE].tokens_per_s
        p50_ratio = percentile(runs[BASELINE].first_token_ms, 50) / percentile(runs[BATCHING].first_token_ms, 50)
        lines.append(f"{users:5}  llama-server: {speedup:.2f}x the tokens/s, first token p50 {p50_ratio:.2f}x sooner")
    if 8 in results:
        batching = results[8][BATCHING]
        speedup = batching.tokens_per_s / results[8][BASELINE].tokens_per_s
        p50 = percentile(batching.first_token_ms, 50)
        lines.append(
            f"at 8 users: {speedup:.2f}x the aggregate tokens/s (target >= {TARGET_SPEEDUP}x), "
            f"first token p50 {p50:.0f} ms (target <= {TARGET_FIRST_TOKEN_MS} ms)"
        )
    lines.append(setup)
    return "\n".join(lines)


async def measure(urls: dict[str, str], user_counts: list[int], rounds: int, tokens: int) -> dict[int, dict[str, Run]]:
    tokenizer = GgufTokenizer.load(bundled_gguf())
    results: dict[int, dict[str, Run]] = {}
    for index, users in enumerate(user_counts):
        order = (BASELINE, BATCHING) if index % 2 == 0 else (BATCHING, BASELINE)
        results[users] = {engine: await serve_users(urls[engine], tokenizer, users, rounds, tokens) for engine in order}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="The embedded engines under simultaneous users.")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=3, help="questions each user asks, one after another")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per answer")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads of each engine")
    parser.add_argument(
        "--deadline", type=float, default=1200, help="seconds before a stuck run dumps stacks and exits"
    )
    args = parser.parse_args()
    if min(args.users) < 1 or args.rounds < 1 or args.tokens < 1:
        parser.error("--users, --rounds and --tokens must be at least 1")
    # A run that stalls (a wedged server) must end with a traceback, not hang a CI job.
    faulthandler.dump_traceback_later(args.deadline, exit=True)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        log_dir = Path(os.environ.get("BENCH_DIR", tmp))
        urls: dict[str, str] = {}
        for engine in (BASELINE, BATCHING):
            port = free_port()
            urls[engine] = f"http://127.0.0.1:{port}/v1"
            command = engine_command(engine, port, args.threads)
            log = log_dir / f"{engine}.log"
            stack.enter_context(running(command, env=dict(os.environ), ready_url=f"{urls[engine]}/models", log=log))
        results = asyncio.run(measure(urls, args.users, args.rounds, args.tokens))
        setup = (
            f"{args.rounds} answers of {args.tokens} tokens per user; {args.threads} threads per engine; "
            f"llama-server with {slots_of(urls[BATCHING])} slots; {os.cpu_count()} cores"
        )
        print(report(results, setup))


if __name__ == "__main__":
    main()
