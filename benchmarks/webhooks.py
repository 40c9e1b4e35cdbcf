"""Webhook ingestion under load: signed WhatsApp deliveries at a steady rate, some of them repeated.

    python -m benchmarks.webhooks [--rate 500] [--seconds 20] [--duplicates 0.1] [--senders 200]

One run starts, on loopback, the production shape: PostgreSQL, Redis (broker, cache, layer), one
uvicorn web process, a Celery worker on the default queue, a paced OpenAI-compatible model server
(short answers, no CPU spent on generation) and the Graph API contract fake that receives replies.
It sends deliveries open-loop (each at its scheduled moment, whether or not earlier ones were
answered), a share of them byte-identical repeats of earlier ones as Meta's retries are, and
reports the ack latency p50/p99, the inbound events stored and the replies sent once the worker has
drained the queue. Targets (issue 7): p99 ≤ 20 ms, stored = unique deliveries, replies = unique.

The Celery worker starts when the load ends, unless --worker-during-load: in production workers
have machines of their own, while here a worker answering during the load would take the very
cores the web process acknowledges with (and the load generator sends with). Either way the replies
are counted once the queue has drained.

    python -m benchmarks.webhooks --replies-only 1000 [--guard process|contract|off|embedded] [--compare-pools]
        [--profile DIR]

measures the reply path alone: the deliveries are stored and their reply tasks queued first, with
no worker running; then one worker starts, pinned to a core of its own (everything else, this
process with its fakes included, stays off that core; PostgreSQL and Redis are not ours to pin),
and the replies per second are timed from its first reply to its last, with the CPU its processes
spent over the same window. The worker is docker-compose's (eight threads in one process);
`--compare-pools` first answers the same deliveries with four prefork processes, the worker it had
before, and prints the ratios. `--profile` records the worker with py-spy meanwhile and prints where
its CPU went.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psutil
import psycopg
import redis

from benchmarks.shapes import APP_SECRET, GUARDS, Shape, production_shape, start_guard
from tests.integrations import payloads
from tests.support.fake_messaging import FakeMessaging
from tests.support.processes import (
    COMPOSE_WORKER_POOL,
    COMPOSE_WORKER_THREADS,
    free_port,
    running,
    web_server_command,
    worker_command,
)

DRAIN_STALL_SECONDS = 60  # give up waiting for replies after this long without progress


@dataclass
class Load:
    """What the sender saw."""

    ack_ms: list[float] = field(default_factory=list)
    unique: int = 0
    repeats: int = 0
    failures: list[str] = field(default_factory=list)


def delivery(number: int, sender: int) -> bytes:
    """One WhatsApp text message from customer `sender`, as the Cloud API posts it."""
    phone, user_id = f"1650555{sender:04d}", f"US.{9000000000 + sender}"
    message = payloads.whatsapp_text(f"wamid.BENCH{number:08d}", f"Question {number}?", **{"from": phone})
    message["from_user_id"] = user_id
    value = payloads.whatsapp_value(message)
    value["contacts"][0].update(wa_id=phone, user_id=user_id)
    return json.dumps(payloads.whatsapp_delivery(value)).encode()


def signed_request(host: str, path: str, body: bytes) -> bytes:
    """The whole HTTP/1.1 request as Meta sends it, signed with the app secret."""
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: sha256={digest}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class KeepAliveClient:
    """A minimal HTTP/1.1 client over reused loopback connections. The load generator shares the
    two cores with the server it measures, so it must cost little: requests are built before the
    load starts and a response is read as status line, headers and Content-Length body, nothing more."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened: list[asyncio.StreamWriter] = []

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.idle:
            reader, writer = self.idle.pop()
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                if getattr(exc, "partial", b""):
                    raise
                # The server closed this connection while it sat idle (uvicorn's keep-alive timeout)
                # and never read the request: send it again on a new one, as HTTP clients do.
                return await self._send_on_new_connection(request)
            return await self._finish(reader, writer, head)
        return await self._send_on_new_connection(request)

    async def _send_on_new_connection(self, request: bytes) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.opened.append(writer)
        writer.write(request)
        return await self._finish(reader, writer, await reader.readuntil(b"\r\n\r\n"))

    async def _finish(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> tuple[int, bytes]:
        status = int(head.split(b" ", 2)[1])
        headers = head.lower().split(b"\r\n")
        length = next(int(line[15:]) for line in headers if line.startswith(b"content-length:"))
        body = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, body

    def close(self) -> None:
        for writer in self.opened:
            writer.close()


async def post(client: KeepAliveClient, request: bytes, scheduled: float, load: Load) -> None:
    """Send one delivery; its ack latency counts from the moment it was due, so a late sender
    cannot hide a slow server (no coordinated omission)."""
    try:
        status, body = await asyncio.wait_for(client.send(request), timeout=30)
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        load.failures.append(f"{type(exc).__name__}: {exc}")
        return
    load.ack_ms.append((time.perf_counter() - scheduled) * 1000)
    if status != 200:
        load.failures.append(f"HTTP {status}: {body[:80]!r}")


def planned_requests(host: str, path: str, count: int, duplicates: float, senders: int, load: Load) -> list[bytes]:
    """Every request of the run, in order: new deliveries, and byte-identical repeats of earlier ones."""
    rng = random.Random(7)
    requests: list[bytes] = []
    for _ in range(count):
        if requests and rng.random() < duplicates:
            requests.append(rng.choice(requests))
            load.repeats += 1
        else:
            body = delivery(load.unique, sender=load.unique % senders)
            requests.append(signed_request(host, path, body))
            load.unique += 1
    return requests


async def send_load(host: str, port: int, *, rate: float, seconds: float, duplicates: float, senders: int) -> Load:
    load = Load()
    requests = planned_requests(f"{host}:{port}", "/webhooks/whatsapp", int(rate * seconds), duplicates, senders, load)
    client = KeepAliveClient(host, port)
    tasks = []
    begin = time.perf_counter()
    for index, request in enumerate(requests):
        scheduled = begin + index / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(post(client, request, scheduled, load)))
    await asyncio.gather(*tasks)
    client.close()
    return load


def stored_events(database_url: str, *, answered: bool = False) -> int:
    """Inbound events in the database; with `answered`, those whose reply has been sent."""
    query = "SELECT count(*) FROM integrations_inboundevent" + (" WHERE handled_at IS NOT NULL" if answered else "")
    with psycopg.connect(database_url) as connection:
        return connection.execute(query).fetchone()[0]


def wait_for_replies(fake: FakeMessaging, expected: int, deadline_minutes: float | None) -> tuple[int, float]:
    """Replies sent once all arrived, the worker stopped making progress, or the deadline passed;
    and the seconds waited."""
    started = last_change = time.monotonic()
    deadline = started + deadline_minutes * 60 if deadline_minutes else float("inf")
    seen = -1
    while time.monotonic() - last_change < DRAIN_STALL_SECONDS and time.monotonic() < deadline:
        count = len(fake.sent())
        if count != seen:
            seen, last_change = count, time.monotonic()
        if count >= expected:
            break
        time.sleep(0.5)
    return len(fake.sent()), time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report_load(load: Load, stored: int, args: argparse.Namespace, path: str) -> None:
    worker = "answering during the load" if args.worker_during_load else "started after the load"
    print(f"{path}: one web process, production (PostgreSQL, Redis); {args.rate:.0f} deliveries/s "
          f"for {args.seconds:.0f} s, {args.duplicates:.0%} repeats, {args.senders} senders; "
          f"Celery worker {worker}; guard: {GUARDS[args.guard]}")  # fmt: skip
    acks = load.ack_ms
    if acks:
        print(f"  ack latency: p50 {statistics.median(acks):.1f} ms, p99 {percentile(acks, 0.99):.1f} ms, "
              f"max {max(acks):.1f} ms over {len(acks)} deliveries")  # fmt: skip
    print(f"  deliveries: {load.unique} unique + {load.repeats} repeats; failed: {len(load.failures)}")
    for failure in sorted(set(load.failures))[:5]:
        print(f"    {failure}")
    print(f"  inbound events stored: {stored} (expected {load.unique})", flush=True)


def run(args: argparse.Namespace, *, fast_path: bool, drain: bool) -> Load:
    """One web process on a fresh database taking the load; with `drain`, the replies counted too."""
    path = "fast path" if fast_path else "through Django's middleware"
    with ExitStack() as stack:
        guard = start_guard(stack, args.guard)
        shape = production_shape(stack, name="webhooks", answer_tokens=8, DATABASE_POOL_MAX_SIZE=str(args.db_pool),
                                 INTEGRATIONS_WEBHOOK_FAST_PATH=str(fast_path).lower(), **guard.settings)  # fmt: skip
        env, var_dir = shape.env, shape.var_dir
        web_port = free_port()
        worker = worker_command(concurrency=args.worker_concurrency, pool=args.worker_pool, loglevel="WARNING")
        if args.worker_during_load:
            stack.enter_context(running(worker, env=env, log=var_dir / "worker.log"))
        web = web_server_command(web_port, "--log-level", "warning")
        ready = f"http://127.0.0.1:{web_port}/healthz"
        stack.enter_context(running(web, env=env, log=var_dir / "web.log", ready_url=ready))

        load = asyncio.run(send_load("127.0.0.1", web_port, rate=args.rate, seconds=args.seconds,
                                     duplicates=args.duplicates, senders=args.senders))  # fmt: skip
        report_load(load, stored_events(shape.database_url), args, path)
        if drain:
            if not args.worker_during_load:
                stack.enter_context(running(worker, env=env, log=var_dir / "worker.log"))
            replies, seconds = wait_for_replies(shape.apps, load.unique, args.drain_minutes)
            answered = stored_events(shape.database_url, answered=True)
            print(f"  replies sent: {replies} (expected {load.unique}) {seconds:.0f} s after the load, "
                  f"{replies / seconds:.1f}/s; events answered in the database: {answered}"
                  + (" (= replies: none sent twice)" if answered == replies else " (≠ replies)"))  # fmt: skip
    return load


# --- the reply path alone (--replies-only) ---------------------------------------------------------

FILL_RATE = 200  # deliveries per second while the events are stored: the fast path acks them at once
REPLY_POLL_SECONDS = 0.05
WARMUP_SHARE = 0.1  # the first replies, not timed: each worker process loads its tokenizers on its first
PROFILE_RATE = 100  # py-spy samples per second: enough for shares of a few percent, little to the worker
PROFILE_TOP = 12
# Where a sample's CPU went, by the innermost frame whose file matches (checked in this order).
PROFILE_BUCKETS = (
    ("PostgreSQL driver (psycopg)", ("psycopg",)),
    ("Django ORM and SQL compiler", ("django/db/",)),
    ("HTTP clients (httpx, httpcore, h11)", ("httpx", "httpcore", "/h11/")),
    ("broker (Celery, kombu, redis-py, billiard)", ("celery/", "kombu/", "/redis/", "billiard/")),
    ("tokenizers", ("tokenizers", "model_service/tokens", "llama_cpp")),
    ("JSON and pydantic", ("json/", "pydantic")),
    ("logging", ("logging/",)),
    ("Django (other)", ("django/",)),
    ("asyncio and threads", ("asyncio/", "threading.py", "concurrent/")),
    ("imports", ("importlib",)),
)
PROJECT_PACKAGES = ("assistant/", "integrations/", "safety/", "model_service/", "core/", "imagine/", "search/")
_FRAME = re.compile(r"^(?P<function>.+) \((?P<file>[^()]+?)(?::\d+)?\)$")


@dataclass
class Drain:
    """What one worker did with the queued replies. Its steady state is timed after the first
    WARMUP_SHARE of the replies: each worker process loads its tokenizers on its first task."""

    replies: int = 0
    to_first_seconds: float = 0.0  # worker start → first reply (imports, connections, first tasks)
    window_replies: int = 0  # replies after the warm-up
    window_seconds: float = 0.0  # from the end of the warm-up to the last reply
    cpu_seconds: float = 0.0  # spent by the worker's processes over that window
    idle_seconds: float = 0.0  # from the end of the warm-up until the queue was empty (follow-up tasks: titles)
    idle_cpu_seconds: float = 0.0  # spent by the worker's processes until then
    pss_mib: float = 0.0  # the worker's processes' proportional set size once the queue was empty

    @property
    def per_second(self) -> float:
        return self.window_replies / self.window_seconds if self.window_seconds else 0.0

    @property
    def cpu_ms_per_reply(self) -> float:
        return self.cpu_seconds * 1000 / self.window_replies if self.window_replies else 0.0


def split_cores() -> tuple[list[int], list[int]] | None:
    """(cores for the worker, cores for everything else this benchmark starts), or None when
    there are not two cores to split."""
    cores = sorted(os.sched_getaffinity(0))
    return ([cores[-1]], cores[:-1]) if len(cores) >= 2 else None


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of a process and its children (Celery's prefork pool) so far."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def pss_mib(process: psutil.Process) -> float:
    """Memory of a process and its children, each shared page counted once across them (PSS)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_full_info().pss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def tasks_left(broker: redis.Redis) -> int:
    """Tasks waiting in the `default` queue or taken by the worker and not yet acknowledged."""
    return int(broker.llen("default")) + int(broker.hlen("unacked"))


def time_replies(
    fake: FakeMessaging, worker: psutil.Process, broker: redis.Redis, expected: int, on_warm: Callable[[], object]
) -> Drain:
    """Replies until all `expected` arrived (or none came for DRAIN_STALL_SECONDS), then the tasks
    they queued (titles) until the broker holds none. `on_warm` is called when the warm-up ends."""
    drain, started = Drain(), time.monotonic()
    warmup = max(1, int(expected * WARMUP_SHARE))
    window_start = window_cpu = 0.0
    warmed = 0
    last_change = started
    while drain.replies < expected and time.monotonic() - last_change < DRAIN_STALL_SECONDS:
        time.sleep(REPLY_POLL_SECONDS)
        count, now = len(fake.sent()), time.monotonic()
        if count == drain.replies:
            continue
        if not drain.replies:
            drain.to_first_seconds = now - started
        if drain.replies < warmup <= count:
            on_warm()
            window_start, window_cpu, warmed = time.monotonic(), cpu_seconds(worker), count
        drain.replies, last_change = count, now
        if count > warmup:
            drain.window_replies, drain.window_seconds = count - warmed, now - window_start
            drain.cpu_seconds = cpu_seconds(worker) - window_cpu
    while drain.window_replies and tasks_left(broker) and time.monotonic() - last_change < DRAIN_STALL_SECONDS:
        time.sleep(REPLY_POLL_SECONDS)
    drain.idle_seconds = time.monotonic() - window_start
    drain.idle_cpu_seconds = cpu_seconds(worker) - window_cpu
    drain.pss_mib = pss_mib(worker)
    return drain


@contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy records the worker and its children into `output` (collapsed stacks) while the
    block runs; nothing when `output` is None. Non-blocking: the worker is never paused. Only threads
    holding the GIL are sampled: a thread woken from a wait, which py-spy counts as active until the
    busy core runs it, holds no GIL until then, so the samples stay close to where CPU is spent. C code
    that releases the GIL is missed (OpenSSL loading the CA bundle for a new HTTP client): the CPU
    per reply is the measure, the profile says where the Python code spends it."""
    if output is None:
        yield
        return
    py_spy = Path(sys.executable).parent / "py-spy"  # pip install py-spy into the venv
    command = [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil",
               "--rate", str(PROFILE_RATE), "--format", "raw", "--output", str(output)]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        spy.wait(timeout=60)


def read_profile(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Samples in all; samples per bucket (PROFILE_BUCKETS); samples in which each function of the
    project's own packages was on the stack."""
    buckets: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [match for frame in stack.split(";") if (match := _FRAME.match(frame))]
        samples = int(count)
        total += samples
        buckets[_bucket(frames)] += samples
        own = {_short(m) for m in frames if "site-packages" not in m["file"] and m["file"].startswith(PROJECT_PACKAGES)}
        for function in own:
            functions[function] += samples
    return total, buckets, functions


def _bucket(frames: list[re.Match[str]]) -> str:
    for frame in reversed(frames):  # innermost first
        for label, patterns in PROFILE_BUCKETS:
            if any(pattern in frame["file"] for pattern in patterns):
                return label
    return "other (the project's own code, the interpreter)"


def _short(frame: re.Match[str]) -> str:
    return f"{frame['function']} ({frame['file']})"


def report_profile(path: Path) -> None:
    total, buckets, functions = read_profile(path)
    if not total:
        print(f"  profile: no samples in {path}")
        return
    print(f"  profile after the warm-up ({total} samples of the worker's threads holding the GIL, {path}):")
    print("    where the CPU went, by the innermost library on the stack:")
    for label, samples in buckets.most_common():
        print(f"      {samples / total:6.1%}  {label}")
    print(f"    the project's functions on the stack (inclusive), top {PROFILE_TOP}:")
    for function, samples in functions.most_common(PROFILE_TOP):
        print(f"      {samples / total:6.1%}  {function}")


def database_counters(database_url: str) -> Counter[str]:
    """This database's connections opened, transactions and rows written so far (PostgreSQL's
    cumulative statistics)."""
    columns = ("sessions", "xact_commit", "tup_inserted", "tup_updated", "tup_deleted")
    with psycopg.connect(database_url) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        row = connection.execute(
            f"SELECT {', '.join(columns)} FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return Counter(dict(zip(columns, row, strict=True)))


def fill_queue(shape: Shape, count: int, senders: int) -> int:
    """Store `count` new deliveries through the web process and queue their replies, with no worker
    running; the web process is stopped afterwards, so it takes no CPU from the worker."""
    port = free_port()
    web = web_server_command(port, "--log-level", "warning")
    with running(web, env=shape.env, log=shape.var_dir / "web.log", ready_url=f"http://127.0.0.1:{port}/healthz"):
        load = asyncio.run(send_load("127.0.0.1", port, rate=FILL_RATE, seconds=count / FILL_RATE,
                                     duplicates=0.0, senders=senders))  # fmt: skip
    if load.failures:
        raise SystemExit(f"filling the queue failed: {sorted(set(load.failures))[:3]}")
    return stored_events(shape.database_url)


@dataclass(frozen=True)
class ReplyRun:
    """One --replies-only run, as reported."""

    stored: int
    drain: Drain
    answered: int  # events the database says were handled
    written: Counter[str]  # database_counters over the drain
    app_requests: int  # requests the Graph API fake received: read receipts and replies
    guard_checks: int | None  # requests the contract guard received; None for other guards


@dataclass(frozen=True)
class WorkerShape:
    pool: str
    concurrency: int

    def __str__(self) -> str:
        return f"--pool {self.pool} --concurrency {self.concurrency}"


# What --compare-pools sets compose's worker against: the prefork worker it had before 2026-12-04.
PREFORK_BEFORE = WorkerShape("prefork", 4)


def run_replies_only(
    args: argparse.Namespace, shape_of_worker: WorkerShape, cores: tuple[list[int], list[int]] | None
) -> ReplyRun:
    if cores is not None:
        os.sched_setaffinity(0, cores[1])  # inherited by every process started below but the worker
    with ExitStack() as stack:
        guard = start_guard(stack, args.guard)
        shape = production_shape(stack, name="replies", answer_tokens=8, **guard.settings,
                                 ASSISTANT_MODEL_TITLES=str(args.titles).lower(),
                                 DATABASE_POOL_MAX_SIZE=str(args.db_pool))  # fmt: skip
        stored = fill_queue(shape, args.replies_only, args.senders)
        checks_before = len(guard.contract.requests) if guard.contract else 0
        before = database_counters(shape.database_url)
        worker = worker_command(concurrency=shape_of_worker.concurrency, pool=shape_of_worker.pool, loglevel="WARNING")
        if cores is not None:
            worker = ["taskset", "-c", ",".join(map(str, cores[0])), *worker]
        profile = Path(args.profile) / "worker.txt" if args.profile else None
        if profile is not None:
            profile.parent.mkdir(parents=True, exist_ok=True)
        broker = redis.Redis.from_url(shape.env["CELERY_BROKER_URL"])
        with running(worker, env=shape.env, log=shape.var_dir / "worker.log") as process, ExitStack() as spy:
            start_profile = partial(spy.enter_context, profiled(process.pid, profile))  # after the warm-up
            drain = time_replies(shape.apps, psutil.Process(process.pid), broker, stored, start_profile)
        time.sleep(1)  # PostgreSQL publishes a backend's statistics within a second of its commits
        run = ReplyRun(
            stored=stored,
            drain=drain,
            answered=stored_events(shape.database_url, answered=True),
            written=database_counters(shape.database_url) - before,
            app_requests=len(shape.apps.requests),
            guard_checks=len(guard.contract.requests) - checks_before if guard.contract else None,
        )
    report_replies(args, cores, run, shape_of_worker)
    if profile is not None:
        report_profile(profile)
    return run


def report_replies(
    args: argparse.Namespace, cores: tuple[list[int], list[int]] | None, run: ReplyRun, shape_of_worker: WorkerShape
) -> None:
    drain = run.drain
    pinning = "unpinned (one core)"
    if cores is not None:
        pinning = (f"pinned to core {cores[0][0]}; this process, its fakes, the model server and the guard on "
                   f"core(s) {','.join(map(str, cores[1]))}; PostgreSQL and Redis unpinned")  # fmt: skip
    print(f"replies only: {run.stored} stored WhatsApp questions from {args.senders} senders, one Celery worker "
          f"({shape_of_worker}) {pinning}")  # fmt: skip
    print(f"  guard: {GUARDS[args.guard]}; model titles {'on' if args.titles else 'off'}; "
          f"paced model server, 8 tokens an answer")  # fmt: skip
    print(f"  replies sent: {drain.replies} of {run.stored}; events answered in the database: {run.answered}"
          + (" (= replies: none sent twice)" if run.answered == drain.replies else " (≠ replies)"))  # fmt: skip
    print(f"  first reply {drain.to_first_seconds:.1f} s after the worker started; after the first "
          f"{drain.replies - drain.window_replies} (warm-up), {drain.window_replies} replies in "
          f"{drain.window_seconds:.1f} s: {drain.per_second:.1f} replies/s, {drain.cpu_ms_per_reply:.1f} ms "
          f"of the worker's CPU per reply")  # fmt: skip
    if drain.window_replies:
        print(f"  with the tasks the replies queued (titles), the queue was empty {drain.idle_seconds:.1f} s "
              f"after the warm-up: {drain.window_replies / drain.idle_seconds:.1f} replies/s, "
              f"{drain.idle_cpu_seconds * 1000 / drain.window_replies:.1f} ms of CPU per reply")  # fmt: skip
    print(f"  the worker's memory then: {drain.pss_mib:.0f} MiB PSS, all its processes")
    replies = max(drain.replies, 1)
    counted = [(run.app_requests, "app API requests")]
    if run.guard_checks is not None:
        counted.insert(0, (run.guard_checks, "guard checks"))
    labels = {
        "sessions": "PostgreSQL connections opened",
        "xact_commit": "commits",
        "tup_inserted": "rows inserted",
        "tup_updated": "rows updated",
    }
    counted += [(run.written[name], label) for name, label in labels.items()]
    print("  per reply: " + ", ".join(f"{count / replies:.1f} {label}" for count, label in counted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=20, help="how long the load lasts")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of deliveries that repeat one")
    parser.add_argument("--senders", type=int, default=200, help="distinct WhatsApp users")
    parser.add_argument("--db-pool", type=int, default=10, help="every process's PostgreSQL pool size (compose's)")
    parser.add_argument("--worker-concurrency", type=int, default=COMPOSE_WORKER_THREADS,
                        help="the Celery worker's threads or processes (compose's: 8 threads)")  # fmt: skip
    parser.add_argument("--worker-during-load", action="store_true", help="answer while the load runs")
    parser.add_argument("--drain-minutes", type=float, help="stop counting replies after this long")
    parser.add_argument("--compare", action="store_true", help="first the same load through Django's "
                        "middleware (INTEGRATIONS_WEBHOOK_FAST_PATH=false), then the fast path")  # fmt: skip
    parser.add_argument("--guard", choices=GUARDS, default="process",
                        help="where the content guard runs (default: its own process where this checkout has "
                        "safety/guard_server.py, else the contract fake)")  # fmt: skip
    parser.add_argument("--replies-only", type=int, metavar="N", help="time one worker answering N stored "
                        "deliveries, with nothing else on its core (see above)")  # fmt: skip
    parser.add_argument("--titles", action=argparse.BooleanOptionalAction, default=True,
                        help="--replies-only: model titles for new conversations, as production has them")  # fmt: skip
    parser.add_argument("--worker-pool", choices=("prefork", "threads"), default=COMPOSE_WORKER_POOL,
                        help="the worker's pool (compose's worker runs threads)")  # fmt: skip
    parser.add_argument("--compare-pools", action="store_true", help=f"--replies-only: first the same "
                        f"deliveries answered by a worker with {PREFORK_BEFORE}")  # fmt: skip
    parser.add_argument("--profile", metavar="DIR", help="--replies-only: record the worker with py-spy into DIR")
    args = parser.parse_args()
    if args.replies_only:
        compose_worker = WorkerShape(args.worker_pool, args.worker_concurrency)
        cores = split_cores()  # before the first run pins this process
        before = run_replies_only(args, PREFORK_BEFORE, cores) if args.compare_pools else None
        after = run_replies_only(args, compose_worker, cores)
        if before is not None and before.drain.per_second and after.drain.per_second:
            print(f"{compose_worker} against {PREFORK_BEFORE}, same deliveries: "
                  f"{after.drain.per_second / before.drain.per_second:.2f}x the replies/s, "
                  f"{after.drain.cpu_ms_per_reply / before.drain.cpu_ms_per_reply:.2f}x the CPU per reply")  # fmt: skip
        return

    baseline = run(args, fast_path=False, drain=False) if args.compare else None
    fast = run(args, fast_path=True, drain=True)
    if baseline is not None and baseline.ack_ms and fast.ack_ms:
        p50 = statistics.median(baseline.ack_ms) / statistics.median(fast.ack_ms)
        p99 = percentile(baseline.ack_ms, 0.99) / percentile(fast.ack_ms, 0.99)
        print(f"fast path against the middleware, same load: p50 {p50:.1f}x lower, p99 {p99:.1f}x lower")


if __name__ == "__main__":
    main()
