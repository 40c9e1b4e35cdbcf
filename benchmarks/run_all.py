"""`make bench`: run every benchmark this machine can run, then rewrite docs/benchmarks.md.

    python -m benchmarks.run_all [--only search relay ...] [--out docs/benchmarks.md]

With --only, the other benchmarks' sections of the existing report are kept as they were (each
section carries the date it was measured).

Each benchmark runs as its own process with the command shown in the report (so anyone can rerun
one), and prints its own figures and the ratios against its baseline measured in the same run;
this runner records that output with the machine, the date and the time each took. Benchmarks
that need an NVIDIA GPU are skipped with a line saying so when none is present. What the figures
mean, and what was changed because of them, is in docs/benchmark-notes.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Benchmark:
    name: str  # the module in benchmarks/
    what: str
    args: tuple[str, ...]
    needs_gpu: bool = False
    section: str = ""  # the report's section, when one module has several: its name by default

    @property
    def key(self) -> str:
        return self.section or self.name

    @property
    def command(self) -> str:
        return " ".join(("python", "-m", f"benchmarks.{self.name}", *self.args))


BENCHMARKS = (
    Benchmark(
        "relay",
        "What the web path adds to time to first token and tokens/s (production shape, guard in its own process, "
        "a model that spends 30 ms on its prefill as Llama 3.1 8B does on a GPU)",
        (
            "--runs",
            "20",
            "--shape",
            "production",
            "--engine",
            "paced",
            "--guard",
            "process",
            "--paced-prefill-ms",
            "30",
        ),
    ),
    Benchmark("search", "Time to first token with search on (3 local sources) against off", ("--runs", "10")),
    Benchmark("guard_eval", "The embedded content guard on the labelled set", ()),
    Benchmark(
        "engine",
        "The embedded engine under 1, 4 and 8 simultaneous users: llama-server against llama-cpp-python",
        ("--users", "1", "4", "8"),
    ),
    Benchmark("knowledge", "Memory and document retrieval: time added and hit rate", ()),
    Benchmark(
        "page", "The chat page in Chromium: page weight, first paint, Send to first token seen", ("--loads", "5")
    ),
    Benchmark(
        "media",
        "Photos and voice notes on this CPU: upload to the first answer token, OCR, transcription, speech",
        ("--runs", "3", "--turns", "10"),
    ),
    Benchmark("code_interpreter", "The code interpreter's sandbox: start, and a small numpy script", ("--runs", "50")),
    Benchmark(
        "imagine_typing", "Imagine while typing: keystroke to image, stale work dropped", ("--typists", "1", "4")
    ),
    Benchmark(
        "concurrency",
        "Concurrent streaming sockets on one web process (production shape, guard in its own process)",
        ("--sockets", "500,1000,2000", "--tokens", "20", "--rate", "10"),
    ),
    Benchmark(
        "webhooks",
        "Webhook ingestion under load",
        ("--compare", "--rate", "500", "--seconds", "20", "--drain-minutes", "5"),
    ),
    Benchmark(
        "webhooks",
        "Messaging replies per second of one worker on one core, compose's threads against four processes",
        ("--replies-only", "1000", "--guard", "process", "--compare-pools"),
        section="webhook_replies",
    ),
    Benchmark(
        "soak",
        "Sustained mixed load (chat, webhooks, Imagine): memory and open files over time",
        ("--minutes", "8", "--chatters", "20", "--deliveries-per-second", "2", "--typists", "2"),
    ),
    Benchmark("imagine_gpu", "Imagine on the GPU: per-stage preview latency and batched throughput", (), True),
)


def gpu_name() -> str:
    if shutil.which("nvidia-smi") is None:
        return ""
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else ""


def machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    gpu = gpu_name() or "no NVIDIA GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {memory_gib:.0f} GiB memory, {gpu}, Python {platform.python_version()}"


def run(benchmark: Benchmark, has_gpu: bool) -> str:
    heading = f"## {benchmark.key}: {benchmark.what}\n\n`{benchmark.command}`\n\n"
    if benchmark.needs_gpu and not has_gpu:
        return heading + "Skipped: this machine has no NVIDIA GPU.\n"
    started = time.monotonic()
    # A session of its own: on timeout the whole tree goes (servers, workers), not just the
    # benchmark's own process, so nothing left behind runs into the next benchmark.
    process = subprocess.Popen(
        [sys.executable, "-m", f"benchmarks.{benchmark.name}", *benchmark.args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
        output, status = stdout.strip(), f"exit {process.returncode}"
        if process.returncode:
            output += "\n" + stderr.strip()[-3000:]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate()  # what it printed until then still counts
        output, status = stdout.strip(), f"stopped after {TIMEOUT_SECONDS} s"
    took = time.monotonic() - started
    measured = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return heading + f"{status}, {took:.0f} s, measured {measured}\n\n```\n{output}\n```\n"


def earlier_sections(report: Path) -> dict[str, str]:
    """The sections of an existing report by benchmark name (the text from its `## name:` heading)."""
    if not report.exists():
        return {}
    parts = report.read_text().split("\n## ")[1:]
    return {part.split(":", 1)[0]: "## " + part.rstrip("\n") + "\n" for part in parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[b.key for b in BENCHMARKS])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b.key in args.only]
    has_gpu = bool(gpu_name())
    sections = earlier_sections(args.out) if args.only else {}
    for benchmark in chosen:
        print(f"running {benchmark.command}", flush=True)
        sections[benchmark.key] = run(benchmark, has_gpu)
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        "# Benchmarks\n\n"
        "Written by `make bench` (`python -m benchmarks.run_all`); do not edit by hand. What the figures\n"
        "mean, earlier runs and what changed because of them: [benchmark-notes.md](benchmark-notes.md).\n\n"
        f"- Machine: {machine()}\n- Written: {today} (each section says when it was measured)\n"
        "- Every process (clients, servers, PostgreSQL, Redis) runs on this one machine, over loopback.\n\n"
    )
    ordered = [sections[b.key] for b in BENCHMARKS if b.key in sections]
    args.out.write_text(header + "\n".join(ordered))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
