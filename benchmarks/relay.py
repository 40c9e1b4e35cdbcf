"""What the web path costs: time to first token and tokens/s through the WebSocket, against the
same requests sent straight to the model service, measured side by side in one run.

    python -m benchmarks.relay [--runs 20] [--tokens 128]

Starts its own embedded model server and ASGI web server on loopback (the same processes as
`make run`), alternates direct and web requests so drift hits both equally, and prints p50/p90
of each figure and the web/direct ratios. Both paths send the same messages (system prompt +
question), temperature 0 and an end-token bias, so each answer is exactly --tokens tokens.
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

from tests.support.chat_client import ChatSession, ServerAddress
from tests.support.processes import NEVER_STOP_BIAS, free_port, migrate, product_env, running, web_server_command

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


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def measure(model_url: str, web: ServerAddress, runs: int, tokens: int) -> tuple[list[Sample], list[Sample]]:
    direct: list[Sample] = []
    via_web: list[Sample] = []
    async with ChatSession(web) as session:
        for _warmup in range(2):
            await direct_sample(model_url, tokens)
            await web_sample(session, tokens)
        for _ in range(runs):
            direct.append(await direct_sample(model_url, tokens))
            via_web.append(await web_sample(session, tokens))
    return direct, via_web


def report(direct: list[Sample], via_web: list[Sample], tokens: int, threads: int) -> str:
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
    rows.append(f"runs: {len(direct)} per path, {tokens} tokens per answer, {threads} llama.cpp thread(s)")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="WebSocket relay overhead against the model service.")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--model-threads",
        type=int,
        default=2,
        help="llama.cpp threads; 1 leaves a core to the web path, as a GPU model server would",
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
                [
                    sys.executable,
                    "-m",
                    "model_service.embedded",
                    "--port",
                    str(model_port),
                    "--threads",
                    str(args.model_threads),
                ],
                env=dict(os.environ),
                ready_url=f"{model_url}/models",
                log=var_dir / "model.log",
            )
        )
        env = product_env(
            var_dir,
            MODEL_BASE_URL=model_url,
            MODEL_MAX_TOKENS=str(args.tokens),
            MODEL_TEMPERATURE="0",
            MODEL_EXTRA_BODY=json.dumps(NEVER_STOP_BIAS),
            ASSISTANT_SYSTEM_PROMPT=SYSTEM_PROMPT,
            ASSISTANT_MODEL_TITLES="false",
            LOG_LEVEL="WARNING",
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
        direct, via_web = asyncio.run(measure(model_url, ServerAddress(web_url), args.runs, args.tokens))
        print(report(direct, via_web, args.tokens, args.model_threads))


if __name__ == "__main__":
    main()
