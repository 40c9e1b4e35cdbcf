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

import httpx
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


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def post(client: httpx.AsyncClient, url: str, body: bytes, load: Load) -> None:
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers=signed(body))
    except httpx.HTTPError as exc:
        load.failures.append(f"{type(exc).__name__}: {exc}")
        return
    load.ack_ms.append((time.perf_counter() - started) * 1000)
    if response.status_code != 200:
        load.failures.append(f"HTTP {response.status_code}: {response.text[:80]}")


async def send_load(url: str, *, rate: float, seconds: float, duplicates: float, senders: int) -> Load:
    load, sent_bodies, tasks = Load(), [], []
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        begin = time.perf_counter()
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + index / rate - time.perf_counter()))
            if sent_bodies and rng.random() < duplicates:
                body = rng.choice(sent_bodies)
                load.repeats += 1
            else:
                body = delivery(load.unique, sender=load.unique % senders)
                sent_bodies.append(body)
                load.unique += 1
            tasks.append(asyncio.create_task(post(client, url, body, load)))
        await asyncio.gather(*tasks)
    return load


def stored_events(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM integrations_inboundevent").fetchone()[0]


def wait_for_replies(fake: FakeMessaging, expected: int) -> tuple[int, float]:
    """Replies sent once the worker stops making progress (or all arrived), and the seconds waited."""
    started = last_change = time.monotonic()
    seen = -1
    while time.monotonic() - last_change < DRAIN_STALL_SECONDS:
        count = len(fake.sent())
        if count != seen:
            seen, last_change = count, time.monotonic()
        if count >= expected:
            break
        time.sleep(0.5)
    return seen, time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report_load(load: Load, stored: int, args: argparse.Namespace) -> None:
    worker = "answering during the load" if args.worker_during_load else "started after the load"
    print(f"one web process, production (PostgreSQL, Redis); {args.rate:.0f} deliveries/s for {args.seconds:.0f} s, "
          f"{args.duplicates:.0%} repeats, {args.senders} senders; Celery worker {worker}")  # fmt: skip
    acks = load.ack_ms
    if acks:
        print(f"  ack latency: p50 {statistics.median(acks):.1f} ms, p99 {percentile(acks, 0.99):.1f} ms, "
              f"max {max(acks):.1f} ms over {len(acks)} deliveries")  # fmt: skip
    print(f"  deliveries: {load.unique} unique + {load.repeats} repeats; failed: {len(load.failures)}")
    for failure in sorted(set(load.failures))[:5]:
        print(f"    {failure}")
    print(f"  inbound events stored: {stored} (expected {load.unique})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=20, help="how long the load lasts")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of deliveries that repeat one")
    parser.add_argument("--senders", type=int, default=200, help="distinct WhatsApp users")
    parser.add_argument("--db-pool", type=int, default=20, help="the web process's PostgreSQL pool size")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--worker-during-load", action="store_true", help="answer while the load runs")
    args = parser.parse_args()

    with ExitStack() as stack:
        shape = production_shape(stack, name="webhooks", answer_tokens=8, DATABASE_POOL_MAX_SIZE=str(args.db_pool))
        env, var_dir, fake, database_url = shape.env, shape.var_dir, shape.apps, shape.database_url
        web_port = free_port()
        worker = worker_command(concurrency=args.worker_concurrency, loglevel="WARNING")
        if args.worker_during_load:
            stack.enter_context(running(worker, env=env, log=var_dir / "worker.log"))
        url = f"http://127.0.0.1:{web_port}"
        stack.enter_context(running(web_server_command(web_port, "--log-level", "warning"), env=env,
                                    log=var_dir / "web.log", ready_url=f"{url}/healthz"))  # fmt: skip

        load = asyncio.run(send_load(f"{url}/webhooks/whatsapp", rate=args.rate, seconds=args.seconds,
                                     duplicates=args.duplicates, senders=args.senders))  # fmt: skip
        report_load(load, stored_events(database_url), args)
        if not args.worker_during_load:
            stack.enter_context(running(worker, env=env, log=var_dir / "worker.log"))
        replies, drain_seconds = wait_for_replies(fake, load.unique)
        print(f"  replies sent: {replies} (expected {load.unique}), the last {drain_seconds:.1f} s after the load")


if __name__ == "__main__":
    main()
