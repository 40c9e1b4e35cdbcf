"""What web grounding costs: time to first answer token with search on (3 local sources) against
the same question with search off, measured side by side in one run.

    python -m benchmarks.search [--runs 10]

Starts, on loopback, the embedded shape of `make run`: the llama.cpp model server, a Celery worker
on the `default` and `search` queues (filesystem broker, file result backend) and the web server,
with the local search index filled from a few generated pages. One guest alternates its search
mode between `off` and `on` and asks the same question each time, so drift hits both arms
equally; the safety guard is off in both arms, so the difference is search alone (the task's
round trip through the broker, the index query, passage ranking with MiniLM embeddings, and the
longer prompt the model reads). Target (issue 5): ≤ 1.5 s added on the embedded model.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.shapes import UNLIMITED
from tests.support.chat_client import ChatSession, ServerAddress, ask
from tests.support.processes import free_port, manage, migrate, product_env, running, web_server_command, worker_command

QUESTION = "What is the latest news about the harbour ferries?"
PAGES = {
    "harbour.html": (
        "Harbour reopens",
        "The old harbour reopened on Monday after two years of repairs. Ferries to the islands resume next week. "
        "The breakwater was rebuilt at a cost of 40 million euros.",
    ),
    "ferries.html": (
        "Ferry timetable",
        "Ferries leave the harbour every hour from 7:00 to 21:00. Tickets cost 12 euros; children travel free.",
    ),
    "islands.html": (
        "The islands",
        "Three islands lie off the coast. The largest has a lighthouse and a small museum about the harbour's ferries.",
    ),
    "bread.html": ("Bread", "Sourdough bread rises slowly with wild yeast and lactic bacteria."),
}


def write_pages(folder: Path) -> None:
    for name, (title, text) in PAGES.items():
        body = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        (folder / name).write_text(body + f"<p>{text}</p>" * 4 + "</article></body></html>")


async def first_token_ms(session: ChatSession, mode: str) -> tuple[float, int]:
    """Milliseconds from sending the message to its first token, and how many sources it had."""
    (await session.api("PATCH", "/api/settings", {"search_mode": mode})).raise_for_status()
    socket = await session.connect()
    try:
        started = time.perf_counter()
        ack = await ask(socket, QUESTION)
        first = None
        sources = 0
        while True:
            frame = await socket.recv(120)
            if frame["type"] == "search" and frame["status"] == "done":
                sources = len(frame["sources"])
            elif frame["type"] == "token" and first is None:
                first = (time.perf_counter() - started) * 1000
            elif frame["type"] == "done" and frame["message_id"] == ack["message_id"]:
                if first is None:
                    raise RuntimeError(f"the answer ended without text: {frame}")
                return first, sources
    finally:
        await socket.close()


async def measure(server: ServerAddress, runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"off": [], "on": []}
    async with ChatSession(server) as session:
        await first_token_ms(session, "on")  # warm: embeddings loaded, caches filled
        for _ in range(runs):
            for mode in ("off", "on"):
                ms, sources = await first_token_ms(session, mode)
                if mode == "on" and sources != 3:
                    raise RuntimeError(f"expected 3 sources, got {sources}")
                samples[mode].append(ms)
    return samples


def report(samples: dict[str, list[float]]) -> None:
    off, on = statistics.median(samples["off"]), statistics.median(samples["on"])
    print(f"runs per arm: {len(samples['off'])}")
    print(f"TTFT p50 search off: {off:8.0f} ms   (min {min(samples['off']):.0f}, max {max(samples['off']):.0f})")
    print(f"TTFT p50 search on:  {on:8.0f} ms   (min {min(samples['on']):.0f}, max {max(samples['on']):.0f})")
    print(f"added by search, p50: {on - off:.0f} ms (target ≤ 1500 ms); ratio on/off {on / off:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        var_dir, pages = Path(tmp) / "var", Path(tmp) / "pages"
        var_dir.mkdir()
        pages.mkdir()
        write_pages(pages)
        model_port, web_port = free_port(), free_port()
        model_url = f"http://127.0.0.1:{model_port}/v1"
        env = product_env(
            var_dir,
            MODEL_BASE_URL=model_url,
            MODEL_MAX_TOKENS="32",
            ASSISTANT_MODEL_TITLES="false",
            SAFETY_CHECKS="false",
            SEARCH_CACHE_SECONDS="0",
            **UNLIMITED,
        )
        migrate(env)
        manage(env, "search_index", "--folder", str(pages), "--base-url", "https://news.example.org/")
        model = [sys.executable, "-m", "model_service.embedded", "--port", str(model_port), "--threads", "2"]
        stack.enter_context(running(model, env=env, ready_url=f"{model_url}/models", log=var_dir / "model.log"))
        worker = worker_command(queues=("default", "search"), loglevel="WARNING")
        stack.enter_context(running(worker, env=env, log=var_dir / "worker.log"))
        web_url = f"http://127.0.0.1:{web_port}"
        web = web_server_command(web_port)
        stack.enter_context(running(web, env=env, ready_url=f"{web_url}/healthz", log=var_dir / "web.log"))
        report(asyncio.run(measure(ServerAddress(web_url), args.runs)))


if __name__ == "__main__":
    main()
