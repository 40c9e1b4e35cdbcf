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
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import psycopg

from benchmarks.shapes import APP_SECRET, production_shape
from tests.integrations import payloads
from tests.support.fake_messaging import FakeMessaging
from tests.support.processes import free_port, running, web_server_command, worker_command

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
          f"Celery worker {worker}")  # fmt: skip
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
        shape = production_shape(stack, name="webhooks", answer_tokens=8, DATABASE_POOL_MAX_SIZE=str(args.db_pool),
                                 INTEGRATIONS_WEBHOOK_FAST_PATH=str(fast_path).lower())  # fmt: skip
        env, var_dir = shape.env, shape.var_dir
        web_port = free_port()
        worker = worker_command(concurrency=args.worker_concurrency, loglevel="WARNING")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=20, help="how long the load lasts")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of deliveries that repeat one")
    parser.add_argument("--senders", type=int, default=200, help="distinct WhatsApp users")
    parser.add_argument("--db-pool", type=int, default=20, help="the web process's PostgreSQL pool size")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--worker-during-load", action="store_true", help="answer while the load runs")
    parser.add_argument("--drain-minutes", type=float, help="stop counting replies after this long")
    parser.add_argument("--compare", action="store_true", help="first the same load through Django's "
                        "middleware (INTEGRATIONS_WEBHOOK_FAST_PATH=false), then the fast path")  # fmt: skip
    args = parser.parse_args()

    baseline = run(args, fast_path=False, drain=False) if args.compare else None
    fast = run(args, fast_path=True, drain=True)
    if baseline is not None and baseline.ack_ms and fast.ack_ms:
        p50 = statistics.median(baseline.ack_ms) / statistics.median(fast.ack_ms)
        p99 = percentile(baseline.ack_ms, 0.99) / percentile(fast.ack_ms, 0.99)
        print(f"fast path against the middleware, same load: p50 {p50:.1f}x lower, p99 {p99:.1f}x lower")


if __name__ == "__main__":
    main()
