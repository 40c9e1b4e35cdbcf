"""Sustained mixed load: chat streams, webhook deliveries and Imagine typists together, for minutes,
with the memory and open files of every product process sampled as it runs.

    python -m benchmarks.soak [--minutes 5] [--chatters 20] [--deliveries-per-second 20] [--typists 2]

Starts the production shape on loopback (PostgreSQL, Redis broker/cache/layer, one uvicorn web
process, compose's Celery worker on `default` (eight threads), an Imagine worker with the tiny
pipeline, a paced model server and the Graph API contract fake), then keeps every kind of traffic
going until the time is up. Every 5 s it samples each process tree's resident memory (RSS, and PSS, which splits the
pages a prefork worker's children share with their parent instead of counting them in each), its
open file descriptors, the replies waiting in the worker's queue and the replies sent. It prints
the samples' first, middle and last values, the growth over the second half of the run (what has
not levelled off by then is a leak), a minute-by-minute timeline and every error seen. Stops by
itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psutil
import redis
import websockets

from benchmarks.shapes import UNLIMITED, Shape, production_shape
from benchmarks.webhooks import send_load
from tests.support.chat_client import ChatSession, ServerAddress, ask
from tests.support.processes import (
    COMPOSE_WORKER_POOL,
    COMPOSE_WORKER_THREADS,
    free_port,
    running,
    web_server_command,
    worker_command,
)

SAMPLE_SECONDS = 5.0
PROMPT = "a lighthouse on a cliff at dawn"


@dataclass
class Tally:
    answers: int = 0
    previews: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    rss_mib: dict[str, list[float]] = field(default_factory=dict)
    pss_mib: dict[str, list[float]] = field(default_factory=dict)
    fds: dict[str, list[int]] = field(default_factory=dict)
    reply_backlog: list[int] = field(default_factory=list)  # tasks waiting in the `default` queue
    replies_sent: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Watched:
    processes: dict[str, int]  # name → pid of the root of its process tree
    broker: redis.Redis
    shape: Shape
    started: float


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def sample(watched: Watched, samples: Samples) -> None:
    samples.seconds.append(time.monotonic() - watched.started)
    for name, pid in watched.processes.items():
        members = tree(pid)
        memory = [p.memory_full_info() for p in members]
        samples.rss_mib.setdefault(name, []).append(sum(m.rss for m in memory) / 2**20)
        samples.pss_mib.setdefault(name, []).append(sum(m.pss for m in memory) / 2**20)
        samples.fds.setdefault(name, []).append(sum(p.num_fds() for p in members))
    samples.reply_backlog.append(watched.broker.llen("default"))
    samples.replies_sent.append(len(watched.shape.apps.sent()))


async def chatter(server: ServerAddress, deadline: float, tally: Tally) -> None:
    async with ChatSession(server) as session:
        socket = await session.connect()
        conversation = None
        while time.monotonic() < deadline:
            try:
                ack = await ask(socket, "Tell me something about lighthouses.", conversation)
                conversation = ack["conversation_id"]
                frames = await socket.until_done(ack["message_id"])
                done = frames[-1]
                tally.answers += 1
                if done["finish_reason"] not in {"stop", "length"}:
                    tally.errors[f"answer {done['finish_reason']}: {done.get('error_code')}"] += 1
            except (TimeoutError, AssertionError, websockets.ConnectionClosed) as exc:
                tally.errors[f"chat {type(exc).__name__}: {str(exc)[:80]}"] += 1
                await socket.close()  # not left open on the server while a new one is made
                socket = await session.connect()
        await socket.close()


async def typist(server: ServerAddress, deadline: float, tally: Tally) -> None:
    async with ChatSession(server) as session:
        headers = {"Origin": server.url, "Cookie": session.cookie_header}
        url = server.url.replace("http://", "ws://") + "/ws/imagine"
        seq = 0
        while time.monotonic() < deadline:
            try:
                # No keepalive pings: on a loaded machine this client, not the server, misses them.
                async with websockets.connect(url, additional_headers=headers, ping_interval=None) as socket:
                    while time.monotonic() < deadline:
                        seq += 1
                        await type_one_key(socket, seq, tally)
            except websockets.ConnectionClosed as exc:
                tally.errors[f"imagine socket closed: {exc}"] += 1


async def type_one_key(socket: websockets.ClientConnection, seq: int, tally: Tally) -> None:
    prompt = PROMPT[: 1 + seq % len(PROMPT)]
    await socket.send(json.dumps({"type": "imagine.prompt", "prompt": prompt, "seq": seq}))
    await asyncio.sleep(0.2)
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 0.01))
        except TimeoutError:
            return
        if frame["type"] == "imagine.image":
            tally.previews += 1
        elif frame["type"] == "error" and frame["code"] != "rate_limited":
            tally.errors[f"imagine {frame['code']}"] += 1


async def sampler(watched: Watched, deadline: float, samples: Samples) -> None:
    while time.monotonic() < deadline:
        sample(watched, samples)
        await asyncio.sleep(SAMPLE_SECONDS)
    sample(watched, samples)


async def soak(server: ServerAddress, watched: Watched, args: argparse.Namespace) -> tuple[Tally, Samples]:
    seconds = args.minutes * 60
    deadline = watched.started + seconds
    tally, samples = Tally(), Samples()
    address = urlsplit(server.url)
    webhook_load = send_load(
        address.hostname, address.port, rate=args.deliveries_per_second, seconds=seconds, duplicates=0.1, senders=50
    )
    results = await asyncio.gather(
        sampler(watched, deadline, samples),
        webhook_load,
        *(chatter(server, deadline, tally) for _ in range(args.chatters)),
        *(typist(server, deadline, tally) for _ in range(args.typists)),
    )
    load = results[1]
    for failure in load.failures:
        tally.errors[f"webhook {failure}"] += 1
    return tally, samples


def growth(values: list[float]) -> str:
    half = values[len(values) // 2 :]
    return f"{(half[-1] - half[0]) / half[0]:+.1%}" if half and half[0] else "n/a"


def report(tally: Tally, samples: Samples, args: argparse.Namespace) -> None:
    print(f"{args.minutes:g} min: {args.chatters} chat streams, {args.deliveries_per_second:g} webhook deliveries/s, "
          f"{args.typists} Imagine typists; samples every {SAMPLE_SECONDS:g} s")  # fmt: skip
    print(f"answers finished: {tally.answers}; Imagine previews shown: {tally.previews}")
    print("process   | memory MiB   first / middle / last | growth, 2nd half | "
          "open fds first / last | growth, 2nd half")  # fmt: skip
    for name, rss in samples.rss_mib.items():
        fds = samples.fds[name]
        for kind, values in (("RSS", rss), ("PSS", samples.pss_mib[name])):
            middle = values[len(values) // 2]
            print(f"{name:9} | {kind} {values[0]:7.0f} / {middle:7.0f} / {values[-1]:7.0f}     | "
                  f"{growth(values):>16} | {fds[0]:5d} / {fds[-1]:5d}         | "
                  f"{growth([float(f) for f in fds]):>16}")  # fmt: skip
    timeline(samples)
    print(f"errors: {sum(tally.errors.values())}")
    for error, count in tally.errors.most_common(10):
        print(f"  {count} × {error}")


def timeline(samples: Samples) -> None:
    """One row a minute: whether memory settles can be read off the shape, not only its ends."""
    names = list(samples.pss_mib)
    print("minute | " + " | ".join(f"{name} PSS MiB" for name in names) + " | replies waiting | replies sent")
    minute = -1
    for index, seconds in enumerate(samples.seconds):
        if int(seconds // 60) == minute and index != len(samples.seconds) - 1:
            continue
        minute = int(seconds // 60)
        memory = " | ".join(f"{samples.pss_mib[name][index]:{len(name) + 8}.0f}" for name in names)
        replies = f"{samples.reply_backlog[index]:15d} | {samples.replies_sent[index]:12d}"
        print(f"{seconds / 60:6.1f} | {memory} | {replies}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--chatters", type=int, default=20)
    parser.add_argument("--deliveries-per-second", type=float, default=20)
    parser.add_argument("--typists", type=int, default=2)
    args = parser.parse_args()
    with ExitStack() as stack:
        # Compose's pool size: a thread-pool worker needs a connection per thread, and one to spare.
        shape = production_shape(stack, name="soak", answer_tokens=40, **UNLIMITED, DATABASE_POOL_MAX_SIZE="10")
        env, var_dir = shape.env, shape.var_dir
        web_port = free_port()
        default_worker = worker_command(
            pool=COMPOSE_WORKER_POOL, concurrency=COMPOSE_WORKER_THREADS, loglevel="WARNING"
        )
        worker = stack.enter_context(running(default_worker, env=env, log=var_dir / "worker.log"))
        imagine_args = worker_command(queues=("imagine",), concurrency=4, pool="threads", loglevel="WARNING")
        imagine = stack.enter_context(running(imagine_args, env=env, log=var_dir / "imagine.log"))
        url = f"http://127.0.0.1:{web_port}"
        web = stack.enter_context(running(web_server_command(web_port, "--log-level", "warning"), env=env,
                                          log=var_dir / "web.log", ready_url=f"{url}/healthz"))  # fmt: skip
        broker = stack.enter_context(redis.Redis.from_url(env["CELERY_BROKER_URL"]))
        processes = {"web": web.pid, "worker": worker.pid, "imagine": imagine.pid}
        watched = Watched(processes, broker, shape, started=time.monotonic())
        tally, samples = asyncio.run(soak(ServerAddress(url), watched, args))
        report(tally, samples, args)


if __name__ == "__main__":
    main()
