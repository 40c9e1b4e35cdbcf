"""How many streaming sockets one web process holds: N sockets each ask for an answer at once,
from a paced OpenAI-compatible token server on loopback (no GPU, no CPU spent on generation).

    python -m benchmarks.concurrency [--sockets 100,250,500,1000,2000] [--tokens 50] [--rate 10]

For each N it checks every answer (all frames, numbered 1..n without gaps or repeats, joined text
exactly what the server sent, a `done`) and measures the gaps between frames on each socket. It
prints, per N, the answers held, p50/p99 inter-frame delay against the server's pacing, and the
largest N with no lost or reordered token. The web process runs in production mode (PostgreSQL,
Redis channel layer and cache) unless --embedded.
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
from dataclasses import dataclass, field
from pathlib import Path

import websockets

from benchmarks.shapes import UNLIMITED
from tests.support.chat_client import ChatSession, ServerAddress
from tests.support.deployment import RedisDatabases, new_postgres_database, production_settings
from tests.support.processes import free_port, migrate, product_env, running, web_server_command

CHUNK = " word"  # what the paced server sends as every token


@dataclass
class Stream:
    """What one socket received for its answer."""

    seqs: list[int] = field(default_factory=list)
    text: str = ""
    gaps_ms: list[float] = field(default_factory=list)
    done_seq: int | None = None
    error: str = ""

    def intact(self, tokens: int) -> bool:
        numbered = self.seqs == list(range(1, len(self.seqs) + 1)) and self.done_seq == len(self.seqs)
        return not self.error and numbered and self.text == CHUNK * tokens


async def one_stream(session: ChatSession, index: int, start: asyncio.Event, deadline: float) -> Stream:
    stream = Stream()
    try:
        socket = await session.connect()
        await start.wait()
        await socket.send({"type": "message", "conversation_id": None, "text": f"Question {index}",
                           "client_id": f"bench-{index}-{os.urandom(4).hex()}"})  # fmt: skip
        last = 0.0
        async with asyncio.timeout_at(deadline):
            while stream.done_seq is None:
                frame = await socket.recv(wait_seconds=deadline - asyncio.get_running_loop().time())
                if frame["type"] == "token":
                    now = time.perf_counter()
                    if last:
                        stream.gaps_ms.append((now - last) * 1000)
                    last = now
                    stream.seqs.append(frame["seq"])
                    stream.text += frame["text"]
                elif frame["type"] == "done":
                    stream.done_seq = frame["seq"]
                elif frame["type"] == "error":
                    stream.error = frame["code"]
                    break
        await socket.close()
    except (TimeoutError, OSError, websockets.ConnectionClosed) as exc:
        stream.error = stream.error or type(exc).__name__
    return stream


async def run_level(server: ServerAddress, sockets: int, tokens: int, rate: float) -> list[Stream]:
    answer_seconds = tokens / rate
    async with ChatSession(server) as session:
        start = asyncio.Event()
        deadline = asyncio.get_running_loop().time() + 60 + 4 * answer_seconds
        tasks = [asyncio.create_task(one_stream(session, i, start, deadline)) for i in range(sockets)]
        await asyncio.sleep(min(10, 0.005 * sockets))  # let the sockets open before the burst
        start.set()
        return await asyncio.gather(*tasks)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


def describe(sockets: int, streams: list[Stream], tokens: int, rate: float) -> tuple[bool, str]:
    intact = sum(stream.intact(tokens) for stream in streams)
    gaps = [gap for stream in streams for gap in stream.gaps_ms]
    errors = sorted({stream.error for stream in streams if stream.error})
    held = intact == sockets
    line = (
        f"{sockets:5d} sockets: {intact:5d} answers intact | inter-frame p50 {percentile(gaps, 50):7.1f} ms "
        f"p99 {percentile(gaps, 99):7.1f} ms (server pacing {1000 / rate:.0f} ms)"
        + (f" | errors: {', '.join(errors)}" if errors else "")
    )
    return held, line


def main() -> None:
    parser = argparse.ArgumentParser(description="Concurrent streaming sockets on one web process.")
    parser.add_argument("--sockets", default="100,250,500,1000,2000", help="comma-separated levels")
    parser.add_argument("--tokens", type=int, default=50, help="tokens per answer")
    parser.add_argument("--rate", type=float, default=10, help="tokens per second of each stream")
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-memory channel layer")
    parser.add_argument("--deadline", type=float, default=1800, help="seconds before a stuck run dumps stacks")
    args = parser.parse_args()
    faulthandler.dump_traceback_later(args.deadline, exit=True)
    levels = [int(level) for level in args.sockets.split(",")]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        var_dir = Path(os.environ.get("BENCH_DIR", tmp))
        model_port = free_port()
        paced = ["--port", str(model_port), "--tokens", str(args.tokens), "--rate", str(args.rate)]
        stack.enter_context(
            running(
                [sys.executable, "-m", "tests.support.fake_openai", *paced],
                env=dict(os.environ),
                log=var_dir / "model.log",
            )
        )
        services: dict[str, str] = {}
        if not args.embedded:
            databases = RedisDatabases(channel_layer=5, broker=6, cache=7)
            databases.flush()
            services = production_settings(stack.enter_context(new_postgres_database()), databases)
        env = product_env(
            var_dir,
            **services,
            MODEL_BASE_URL=f"http://127.0.0.1:{model_port}/v1",
            MODEL_MAX_TOKENS=str(args.tokens),
            ASSISTANT_MODEL_TITLES="false",
            LOG_LEVEL="WARNING",
            **UNLIMITED,
        )
        migrate(env)
        web_port = free_port()
        url = f"http://127.0.0.1:{web_port}"
        command = web_server_command(web_port, "--log-level", "warning")
        stack.enter_context(running(command, env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"))

        mode = "embedded (SQLite, in-memory layer)" if args.embedded else "production (PostgreSQL, Redis)"
        print(f"one web process, {mode}; {args.tokens} tokens per answer at {args.rate:g} tokens/s per stream")
        largest = 0
        for sockets in levels:
            streams = asyncio.run(run_level(ServerAddress(url), sockets, args.tokens, args.rate))
            held, line = describe(sockets, streams, args.tokens, args.rate)
            print(line, flush=True)
            if not held:
                break
            largest = sockets
        print(f"largest N held with no lost or reordered token: {largest} (target >= 2000)")


if __name__ == "__main__":
    main()
