"""What the web path costs: time to first token and tokens/s through the WebSocket, against the
same requests sent straight to the model service, measured side by side in one run.

    python -m benchmarks.relay [--runs 20] [--tokens 128]

Starts its own embedded model server and ASGI web server on loopback (the same processes as
`make run`), alternates direct and web requests so drift hits both equally, and prints p50/p90
of each figure and the web/direct ratios. Both paths send the same messages (system prompt +
question), temperature 0 and an end-token bias, so each answer is exactly --tokens tokens.
Then it stops --runs answers after three frames and times the stop: until `done`, and until the
model serves the next request (the embedded server queues, so a generation the stop did not end
would delay it).

--shape production runs the web process as production does (PostgreSQL, Redis channel layer and
cache) and --guard process puts the embedded content guard in its own process behind the
production guard's HTTP interface (as `make run` does), so the web process classifies nothing;
--guard embedded keeps the classifier inside the web process, for comparison. --engine paced
serves answers at --paced-rate without spending this machine's CPU; --paced-prefill-ms makes it
wait before each first token as a GPU server's prefill does, which the question's content check
(running beside the model request) can hide behind: with none, a guard slower than the web path's
own work sets the web figure alone.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.shapes import GUARDS, UNLIMITED, start_guard
from tests.support.chat_client import ChatSession, ServerAddress
from tests.support.deployment import RedisDatabases, new_postgres_database, production_settings
from tests.support.processes import (
    NEVER_STOP_BIAS,
    free_port,
    migrate,
    product_env,
    running,
    web_server_command,
)

SYSTEM_PROMPT = "You are a helpful assistant."
QUESTION = "Tell me about the history of bread."


@dataclass(frozen=True)
class Sample:
    ttft_ms: float
    tokens_per_s: float


def rate(tokens: int, first: float, last: float) -> float:
    return (tokens - 1) / (last - first) if last > first else float("nan")


async def direct_sample(model_url: str, tokens: int) -> Sample:
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": QUESTION}],
        "stream": True,
        "max_tokens": tokens,
        "temperature": 0,
        **NEVER_STOP_BIAS,
    }
    async with httpx.AsyncClient(timeout=60) as http:
        start = time.perf_counter()
        first = last = 0.0
        count = 0
        async with http.stream("POST", f"{model_url}/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    last = time.perf_counter()
                    first = first or last
                    count += 1
    return Sample((first - start) * 1000, rate(count, first, last))


async def web_sample(session: ChatSession, tokens: int) -> Sample:
    socket = await session.connect()
    start = time.perf_counter()
    await socket.send({"type": "message", "conversation_id": None, "text": QUESTION, "client_id": os.urandom(8).hex()})
    first = last = 0.0
    while True:
        frame = await socket.recv()
        if frame["type"] == "token":
            last = time.perf_counter()
            first = first or last
        elif frame["type"] == "done":
            completion_tokens = frame["usage"]["completion_tokens"]
            break
        elif frame["type"] == "error":
            raise RuntimeError(frame)
    await socket.close()
    if completion_tokens != tokens:
        raise RuntimeError(f"expected {tokens} tokens, the web path generated {completion_tokens}")
    return Sample((first - start) * 1000, rate(completion_tokens, first, last))


@dataclass(frozen=True)
class StopSample:
    done_ms: float  # stop sent → `done` received on the socket
    model_free_ms: float  # stop sent → first token of the next request straight to the model


async def stop_sample(session: ChatSession, model_url: str) -> StopSample:
    """Stop an answer after a few frames, then see how soon the model serves someone else: the
    embedded server queues requests, so that time includes any generation the stop failed to end."""
    socket = await session.connect()
    await socket.send({"type": "message", "conversation_id": None, "text": QUESTION, "client_id": os.urandom(8).hex()})
    ack = await socket.recv()
    for _ in range(3):
        await socket.recv()
    stop_sent = time.perf_counter()
    await socket.send({"type": "stop", "message_id": ack["message_id"]})
    frames = await socket.until_done(ack["message_id"])
    done = time.perf_counter()
    await socket.close()
    if frames[-1]["finish_reason"] != "cancelled":
        raise RuntimeError(f"the stopped answer ended with {frames[-1]['finish_reason']}")
    next_request = time.perf_counter()
    following = await direct_sample(model_url, 1)
    return StopSample((done - stop_sent) * 1000, (next_request - stop_sent) * 1000 + following.ttft_ms)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def measure(
    model_url: str, web: ServerAddress, runs: int, tokens: int
) -> tuple[list[Sample], list[Sample], list[StopSample]]:
    direct: list[Sample] = []
    via_web: list[Sample] = []
    stops: list[StopSample] = []
    async with ChatSession(web) as session:
        for _warmup in range(2):
            await direct_sample(model_url, tokens)
            await web_sample(session, tokens)
        for _ in range(runs):
            direct.append(await direct_sample(model_url, tokens))
            via_web.append(await web_sample(session, tokens))
        for _ in range(runs):
            stops.append(await stop_sample(session, model_url))
    return direct, via_web, stops


def report(direct: list[Sample], via_web: list[Sample], stops: list[StopSample], setup: str) -> str:
    rows = []
    for name, pick in (("TTFT ms", lambda s: s.ttft_ms), ("tokens/s", lambda s: s.tokens_per_s)):
        d = [pick(s) for s in direct]
        w = [pick(s) for s in via_web]
        rows.append(
            f"{name:9} direct p50 {percentile(d, 50):8.2f} p90 {percentile(d, 90):8.2f} | "
            f"web p50 {percentile(w, 50):8.2f} p90 {percentile(w, 90):8.2f}"
        )
    ttft_added = statistics.median(s.ttft_ms for s in via_web) - statistics.median(s.ttft_ms for s in direct)
    speed_ratio = statistics.median(s.tokens_per_s for s in via_web) / statistics.median(s.tokens_per_s for s in direct)
    rows.append(f"web adds {ttft_added:+.2f} ms to TTFT p50 (target <= 5 ms)")
    rows.append(f"web keeps {speed_ratio:.1%} of direct tokens/s p50 (target >= 98 %)")
    for name, values in (
        ("stop -> done ms", [s.done_ms for s in stops]),
        ("stop -> model serves the next request ms", [s.model_free_ms for s in stops]),
    ):
        rows.append(f"{name}: p50 {percentile(values, 50):.2f} p90 {percentile(values, 90):.2f} (target <= 100)")
    rows.append(f"runs: {len(direct)} per path; {setup}")
    return "\n".join(rows)


def model_command(args: argparse.Namespace, port: int) -> list[str]:
    if args.engine == "embedded":
        # One slot: the stop figure times how soon the model serves the next request, which only a
        # queue behind the stopped answer shows (with free slots a stop that failed would go unseen).
        engine = ["--threads", str(args.model_threads), "--slots", "1"]
        return [sys.executable, "-m", "model_service.embedded", "--port", str(port), *engine]
    paced = ["--port", str(port), "--tokens", str(args.tokens), "--rate", str(args.paced_rate)]
    paced += ["--prefill-ms", str(args.paced_prefill_ms)]
    return [sys.executable, "-m", "benchmarks.paced_model", *paced]


def shape_settings(args: argparse.Namespace, stack: ExitStack, var_dir: Path) -> dict[str, str]:
    """The web process's database, channel layer and guard settings for --shape and --guard."""
    settings: dict[str, str] = {}
    if args.shape == "production":
        databases = RedisDatabases(channel_layer=8, broker=9, cache=10)
        databases.flush()
        settings |= production_settings(stack.enter_context(new_postgres_database()), databases)
    return settings | start_guard(stack, args.guard).settings


def main() -> None:
    parser = argparse.ArgumentParser(description="WebSocket relay overhead against the model service.")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--engine",
        choices=["embedded", "paced"],
        default="embedded",
        help="embedded: llama.cpp with SmolLM2 on this CPU; paced: a server that streams at --paced-rate "
        "and spends no CPU, as a GPU server would, so only the relay's own cost shows",
    )
    parser.add_argument("--model-threads", type=int, default=2, help="llama.cpp threads (embedded engine)")
    parser.add_argument("--paced-rate", type=float, default=150, help="tokens/s of the paced engine")
    parser.add_argument(
        "--paced-prefill-ms",
        type=float,
        default=0,
        help="the paced engine's wait before an answer's first token (a GPU server's prefill)",
    )
    parser.add_argument(
        "--shape",
        choices=["embedded", "production"],
        default="embedded",
        help="embedded: SQLite and the in-memory channel layer; production: PostgreSQL and Redis",
    )
    parser.add_argument(
        "--guard",
        choices=GUARDS,
        default="process",
        help="where the content guard runs: " + ", ".join(f"{kind} ({what})" for kind, what in GUARDS.items()),
    )
    parser.add_argument("--deadline", type=float, default=900, help="seconds before a stuck run dumps stacks and exits")
    args = parser.parse_args()
    # A run that stalls (a wedged server, a lost frame) must end with a traceback, not hang a CI job.
    faulthandler.dump_traceback_later(args.deadline, exit=True)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        var_dir = Path(os.environ.get("BENCH_DIR", tmp))
        model_port = free_port()
        model_url = f"http://127.0.0.1:{model_port}/v1"
        stack.enter_context(
            running(
                model_command(args, model_port),
                env=dict(os.environ),
                ready_url=f"{model_url}/models",
                log=var_dir / "model.log",
            )
        )
        env = product_env(
            var_dir,
            **shape_settings(args, stack, var_dir),
            MODEL_BASE_URL=model_url,
            MODEL_MAX_TOKENS=str(args.tokens),
            MODEL_TEMPERATURE="0",
            MODEL_EXTRA_BODY=json.dumps(NEVER_STOP_BIAS),
            ASSISTANT_SYSTEM_PROMPT=SYSTEM_PROMPT,
            ASSISTANT_MODEL_TITLES="false",
            LOG_LEVEL="WARNING",
            **UNLIMITED,
        )
        migrate(env)
        web_port = free_port()  # only now: the model server holds its port, so the two cannot collide
        web_url = f"http://127.0.0.1:{web_port}"
        stack.enter_context(
            running(
                web_server_command(web_port, "--log-level", "warning"),
                env=env,
                ready_url=f"{web_url}/healthz",
                log=var_dir / "web.log",
            )
        )
        direct, via_web, stops = asyncio.run(measure(model_url, ServerAddress(web_url), args.runs, args.tokens))
        if args.engine == "embedded":
            engine = f"llama.cpp with {args.model_threads} thread(s)"
        else:
            engine = f"paced engine at {args.paced_rate:g} tokens/s, prefill {args.paced_prefill_ms:g} ms"
        setup = f"{args.tokens} tokens per answer, {engine}; {args.shape} shape, guard {args.guard}"
        print(report(direct, via_web, stops, setup))


if __name__ == "__main__":
    main()
