"""How many streaming sockets one web process holds: N sockets each ask for an answer at once,
from a paced OpenAI-compatible token server on loopback (benchmarks/paced_model.py: no GPU, and
about 5 us of CPU a chunk, so 20,000 chunks/s leave most of its core to the load generator).

    python -m benchmarks.concurrency [--sockets 100,250,500,1000,2000] [--tokens 50] [--rate 10]

For each N it checks every answer (all frames, numbered 1..n without gaps or repeats, joined text
exactly what the server sent, a `done`) and measures the gaps between frames on each socket. It
prints, per N, the answers held, p50/p99 inter-frame delay against the server's pacing, and the
largest N with no lost or reordered token. The web process runs in production mode (PostgreSQL,
Redis channel layer and cache) unless --embedded, with the embedded content guard in its own process
(as `make run` runs it) unless --guard says otherwise. With --pin (the default on a machine with two
or more cores) the web process has core 1 to itself and everything else (this load generator, the
paced model server, the guard) shares core 0, so the figures are the web process's own.
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
from collections import Counter
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import uvloop
import websockets

from benchmarks.paced_model import CHUNK_TEXT
from benchmarks.shapes import GUARDS, UNLIMITED, start_guard
from tests.support.chat_client import ChatSession, ServerAddress
from tests.support.deployment import RedisDatabases, new_postgres_database, production_settings
from tests.support.processes import (
    free_port,
    migrate,
    product_env,
    running,
    web_server_command,
)


@dataclass
class Stream:
    """What one socket received for its answer."""

    seqs: list[int] = field(default_factory=list)
    text: str = ""
    gaps_ms: list[float] = field(default_factory=list)
    sent_at: float = 0.0  # time.perf_counter() when the question went out
    first_frame_ms: float | None = None  # from the question to its first token frame
    done_seq: int | None = None
    finish_reason: str = ""
    error: str = ""

    def fault(self, tokens: int) -> str:
        """What is wrong with the answer received; empty when it is intact."""
        if self.error:
            return self.error
        if self.seqs != list(range(1, len(self.seqs) + 1)):
            return "frames lost or reordered"
        if self.done_seq != len(self.seqs):
            return "done's seq is not the last frame's"
        if self.text != CHUNK_TEXT * tokens:
            return f"done ({self.finish_reason}) after {len(self.text)} of {len(CHUNK_TEXT * tokens)} characters"
        return ""


async def one_stream(session: ChatSession, index: int, start: asyncio.Event, deadline: float) -> Stream:
    stream = Stream()
    try:
        socket = await session.connect()
        await start.wait()
        await socket.send({"type": "message", "conversation_id": None, "text": f"Question {index}",
                           "client_id": f"bench-{index}-{os.urandom(4).hex()}"})  # fmt: skip
        stream.sent_at = time.perf_counter()
        async with asyncio.timeout_at(deadline):
            await receive_answer(socket.connection, stream)
        await socket.close()
    except (TimeoutError, OSError, websockets.ConnectionClosed) as exc:
        stream.error = stream.error or type(exc).__name__
    return stream


async def receive_answer(connection: websockets.ClientConnection, stream: Stream) -> None:
    """Record every frame of one answer until `done` or `error`. The load generator shares a core with
    the model server and the guard, so this loop does the least per frame: one deadline for the whole
    answer (not one per frame) and straight reads from the connection."""
    last = 0.0
    async for message in connection:
        frame = json.loads(message)
        kind = frame["type"]
        if kind == "token":
            now = time.perf_counter()
            if last:
                stream.gaps_ms.append((now - last) * 1000)
            else:
                stream.first_frame_ms = (now - stream.sent_at) * 1000
            last = now
            stream.seqs.append(frame["seq"])
            stream.text += frame["text"]
        elif kind == "done":
            stream.done_seq = frame["seq"]
            stream.finish_reason = ", ".join(filter(None, (frame["finish_reason"], frame.get("error_code"))))
            return
        elif kind == "error":
            stream.error = frame["code"]
            return
    stream.error = "closed before done"


async def run_level(
    server: ServerAddress, sockets: int, tokens: int, rate: float, meter: CpuMeter
) -> tuple[list[Stream], str]:
    """`sockets` people (a guest each: one person's answers take turns with the model) ask at once;
    their answers, and the CPU each side used while they streamed."""
    answer_seconds = tokens / rate
    async with AsyncExitStack() as stack:
        opening = asyncio.Semaphore(50)  # guests are made before the burst, not measured with it

        async def guest() -> ChatSession:
            async with opening:
                return await stack.enter_async_context(ChatSession(server))

        sessions = await asyncio.gather(*(guest() for _ in range(sockets)))
        start = asyncio.Event()
        deadline = asyncio.get_running_loop().time() + 60 + 4 * answer_seconds
        tasks = [asyncio.create_task(one_stream(session, i, start, deadline)) for i, session in enumerate(sessions)]
        await asyncio.sleep(min(10, 0.005 * sockets))  # let the sockets open before the burst
        before = meter.read()
        start.set()
        streams = await asyncio.gather(*tasks)
        return streams, cpu_use(before, meter.read())


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


def describe(sockets: int, streams: list[Stream], tokens: int, rate: float) -> tuple[bool, str]:
    faults = Counter(fault for stream in streams if (fault := stream.fault(tokens)))
    intact = sockets - faults.total()
    gaps = [gap for stream in streams for gap in stream.gaps_ms]
    errors = [f"{count} {fault}" for fault, count in faults.most_common(4)]
    held = not faults
    line = (
        f"{sockets:5d} sockets: {intact:5d} answers intact | inter-frame p50 {percentile(gaps, 50):7.1f} ms "
        f"p99 {percentile(gaps, 99):7.1f} ms (server pacing {1000 / rate:.0f} ms)"
        + (f" | errors: {', '.join(errors)}" if errors else "")
    )
    firsts = [stream.first_frame_ms for stream in streams if stream.first_frame_ms is not None]
    if firsts:
        line += (
            f"\n      first frame after the question: p50 {percentile(firsts, 50):7.0f} ms "
            f"p99 {percentile(firsts, 99):7.0f} ms; {sockets - len(firsts)} answers without any frame"
        )
    return held, line


@dataclass(frozen=True)
class CpuReading:
    at: float  # time.perf_counter()
    harness_seconds: float  # this load generator, the model server and the guard (core 0 with --pin)
    web_seconds: float
    cores: list[Any]  # psutil.cpu_times(percpu=True): every process on the machine, not only ours


@dataclass(frozen=True)
class CpuMeter:
    """Whether the harness or the web process is the limit: CPU seconds of each while answers stream,
    beside how busy each core was (other processes on a shared machine count there)."""

    web: psutil.Process
    harness: list[psutil.Process]

    @classmethod
    def of(cls, web_pid: int) -> CpuMeter:
        children = psutil.Process().children(recursive=True)
        return cls(psutil.Process(web_pid), [psutil.Process(), *(c for c in children if c.pid != web_pid)])

    def read(self) -> CpuReading:
        harness = sum(sum(process.cpu_times()[:2]) for process in self.harness)
        web = sum(self.web.cpu_times()[:2])
        return CpuReading(time.perf_counter(), harness, web, psutil.cpu_times(percpu=True))


def cpu_use(before: CpuReading, after: CpuReading) -> str:
    wall = after.at - before.at
    harness = (after.harness_seconds - before.harness_seconds) / wall
    web = (after.web_seconds - before.web_seconds) / wall
    busy = []
    for core, (start, end) in enumerate(zip(before.cores, after.cores, strict=True)):
        total = sum(end) - sum(start)
        idle = (end.idle + end.iowait) - (start.idle + start.iowait)
        busy.append(f"core {core} {(total - idle) / total:.0%}" if total else f"core {core} n/a")
    return f"CPU while streaming: harness {harness:.0%}, web {web:.0%} of a core; busy {', '.join(busy)}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Concurrent streaming sockets on one web process.")
    parser.add_argument("--sockets", default="100,250,500,1000,2000", help="comma-separated levels")
    parser.add_argument("--tokens", type=int, default=50, help="tokens per answer")
    parser.add_argument("--rate", type=float, default=10, help="tokens per second of each stream")
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-memory channel layer")
    parser.add_argument(
        "--guard",
        choices=GUARDS,
        default="process",
        help="where the content guard runs: " + ", ".join(f"{kind} ({what})" for kind, what in GUARDS.items()),
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="web process on core 1, everything else on core 0",
    )
    parser.add_argument("--deadline", type=float, default=1800, help="seconds before a stuck run dumps stacks")
    args = parser.parse_args()
    faulthandler.dump_traceback_later(args.deadline, exit=True)
    if args.pin:
        os.sched_setaffinity(0, {0})  # inherited by the model server and the guard started below
    levels = [int(level) for level in args.sockets.split(",")]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        var_dir = Path(os.environ.get("BENCH_DIR", tmp))
        model_port = free_port()
        paced = ["--port", str(model_port), "--tokens", str(args.tokens), "--rate", str(args.rate)]
        stack.enter_context(
            running(
                [sys.executable, "-m", "benchmarks.paced_model", *paced],
                env=dict(os.environ),
                ready_url=f"http://127.0.0.1:{model_port}/v1/models",
                log=var_dir / "model.log",
            )
        )
        services: dict[str, str] = {}
        if not args.embedded:
            databases = RedisDatabases(channel_layer=5, broker=6, cache=7)
            databases.flush()
            services = production_settings(stack.enter_context(new_postgres_database()), databases)
        services |= start_guard(stack, args.guard).settings
        env = product_env(
            var_dir,
            **services,
            MODEL_BASE_URL=f"http://127.0.0.1:{model_port}/v1",
            MODEL_MAX_TOKENS=str(args.tokens),
            MODEL_MAX_CONCURRENT_STREAMS="0",  # the paced server stands in for vLLM on a GPU: no slot limit
            ASSISTANT_MODEL_TITLES="false",
            LOG_LEVEL="WARNING",
            **UNLIMITED,
        )
        migrate(env)
        web_port = free_port()
        url = f"http://127.0.0.1:{web_port}"
        command = web_server_command(web_port, "--log-level", "warning")
        if args.pin:
            command = ["taskset", "-c", "1", *command]
        web = stack.enter_context(running(command, env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"))
        meter = CpuMeter.of(web.pid)

        mode = "embedded (SQLite, in-memory layer)" if args.embedded else "production (PostgreSQL, Redis)"
        pinning = "web on core 1, load generator, model and guard on core 0" if args.pin else "no pinning"
        print(f"one web process, {mode}, guard {args.guard}, {pinning}; "
              f"{args.tokens} tokens per answer at {args.rate:g} tokens/s per stream")  # fmt: skip
        largest = 0
        for sockets in levels:
            streams, cpu = uvloop.run(run_level(ServerAddress(url), sockets, args.tokens, args.rate, meter))
            held, line = describe(sockets, streams, args.tokens, args.rate)
            print(f"{line}\n      {cpu}", flush=True)
            if not held:
                break
            largest = sockets
        print(f"largest N held with no lost or reordered token: {largest} (target >= 2000)")


if __name__ == "__main__":
    main()
