"""Imagine while typing: simulated typists, each sending the prompt after every keystroke, through
the real web path (ImagineConsumer: rate limit, safety check, latest-wins scheduler) to a real
imagine worker (Celery, thread pool) rendering with the tiny random pipeline on this CPU.

    python -m benchmarks.imagine_typing [--typists 1 4 8] [--chars-per-second 10] [--size square]

Needs Redis at 127.0.0.1:6379 (databases 6 and 7, flushed). For every keystroke it measures the
time until an image of that keystroke or a later one is on the socket (what the typist waits for),
and counts the prompts that were never rendered because a newer one replaced them (stale work
dropped). Each typist types the same sentence at a steady pace and waits for the last image.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.imagine.support import CACHE_URL

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["CACHE_URL"] = CACHE_URL  # the web side's latest-wins state, shared as in production
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import django

django.setup()

from asgiref.testing import ApplicationCommunicator  # noqa: E402

from assistant.models import User  # noqa: E402
from imagine.consumers import ImagineConsumer  # noqa: E402
from imagine.moderation import check_prompt  # noqa: E402
from tests.imagine.support import imagine_worker  # noqa: E402

TEXT = "a lighthouse on a cliff above a stormy sea at sunset, oil painting"


@dataclass
class Typist:
    user_id: int
    sent_at: dict[int, float] = field(default_factory=dict)
    shown: list[tuple[int, float, float]] = field(default_factory=list)  # (seq, arrived, render ms)
    blocked: int = 0  # partial prompts the safety check refused (the embedded stand-in errs often)

    def waits(self) -> list[float]:
        """For each keystroke, seconds until an image of it or a later keystroke arrived."""
        waits = []
        for seq, sent in self.sent_at.items():
            arrived = next((at for shown_seq, at, _ in self.shown if shown_seq >= seq and at >= sent), None)
            if arrived is not None:
                waits.append(arrived - sent)
        return waits


async def _type(typist: Typist, *, size: str, interval: float) -> None:
    user = User(pk=typist.user_id, username=f"typist-{typist.user_id}")
    scope = {"type": "websocket", "path": "/ws/imagine", "headers": [], "subprotocols": [], "user": user}
    socket = ApplicationCommunicator(ImagineConsumer.as_asgi(), scope)
    await socket.send_input({"type": "websocket.connect"})
    assert (await socket.receive_output(timeout=10))["type"] == "websocket.accept"
    receiver = asyncio.create_task(_receive(socket, typist, last_seq=len(TEXT)))
    for seq in range(1, len(TEXT) + 1):
        typist.sent_at[seq] = time.perf_counter()
        frame = {"type": "imagine.prompt", "prompt": TEXT[:seq], "seq": seq, "size": size}
        await socket.send_input({"type": "websocket.receive", "text": json.dumps(frame)})
        await asyncio.sleep(interval)
    await asyncio.wait_for(receiver, timeout=120)
    await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    await socket.wait(timeout=10)


async def _receive(socket: ApplicationCommunicator, typist: Typist, *, last_seq: int) -> None:
    while True:
        message = await socket.receive_output(timeout=120)
        frame = json.loads(message["text"])
        if frame["type"] == "imagine.image":
            typist.shown.append((frame["seq"], time.perf_counter(), frame["ms"]))
        elif frame["code"] == "blocked":
            typist.blocked += 1
        elif frame["code"] != "rate_limited":
            raise RuntimeError(f"typist {typist.user_id}: {frame}")
        if frame.get("seq") == last_seq and (frame["type"] == "imagine.image" or frame["code"] == "blocked"):
            return


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _round(count: int, *, size: str, chars_per_second: float, first_user: int) -> str:
    typists = [Typist(user_id=first_user + n) for n in range(count)]
    await asyncio.gather(*(_type(t, size=size, interval=1 / chars_per_second) for t in typists))
    waits = [wait * 1000 for t in typists for wait in t.waits()]
    render_ms = [ms for t in typists for _, _, ms in t.shown]
    sent = sum(len(t.sent_at) for t in typists)
    rendered = sum(len(t.shown) for t in typists)
    blocked = sum(t.blocked for t in typists)
    dropped = 1 - rendered / (sent - blocked)
    return (
        f"| {count} | {sent} | {blocked} | {rendered} | {dropped:.0%} | {_percentile(waits, 0.5):.0f} | "
        f"{_percentile(waits, 0.99):.0f} | {statistics.median(render_ms):.0f} |"
    )


async def _main(args: argparse.Namespace) -> None:
    await check_prompt("warm up the safety model")
    print(f"\n{len(TEXT)} keystrokes per typist at {args.chars_per_second}/s, size {args.size}, tiny-random pipeline")
    print(
        "| typists | prompts sent | blocked | images shown | stale dropped | keystroke→image p50 ms | p99 ms |", end=""
    )
    print(" render ms p50 |\n|---|---|---|---|---|---|---|---|")
    for round_index, count in enumerate(args.typists):
        print(
            await _round(
                count, size=args.size, chars_per_second=args.chars_per_second, first_user=1000 * (round_index + 1)
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--typists", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--chars-per-second", type=float, default=10.0)
    parser.add_argument("--size", default="square")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagine-bench-") as folder, imagine_worker(Path(folder)):
        asyncio.run(_main(args))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
