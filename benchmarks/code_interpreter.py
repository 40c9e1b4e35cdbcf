"""What running the model's code costs: a new bubblewrap sandbox per run, measured with an empty
program and with a small numpy script, against the same script in a plain Python process.

    python -m benchmarks.code_interpreter [--runs 50]

Each run is what the `code` queue's worker does for one tool call (code_interpreter.sandbox): make
the namespaces and mounts, start the launcher and the program with production's limits, read its
output and the report. The plain-process arm starts the same interpreter on the same script with
no sandbox (trusted code of this benchmark), so the difference is the sandbox alone. The Celery hop
(broker and result backend) is not included: see the relay and search benchmarks for that.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from benchmarks.run_all import machine
from code_interpreter.conf import CodeInterpreterSettings
from code_interpreter.sandbox import SANDBOX_ENV, run_in_sandbox

EMPTY = "pass\n"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
NUMPY_SCRIPT = (
    "import numpy as np\n"
    "rng = np.random.default_rng(0)\n"
    "a = rng.standard_normal((200, 200))\n"
    "print(round(float(np.linalg.eigvalsh(a @ a.T).max()), 3))\n"
)


def in_sandbox(code: str) -> Callable[[], str]:
    configured = CodeInterpreterSettings()  # production's defaults, no Django settings needed

    def run() -> str:
        result = run_in_sandbox(
            code, configured.limits, interpreter=configured.interpreter_path, sandbox_uid=configured.sandbox_uid
        )
        if not result.ok:
            raise RuntimeError(f"the sandboxed run failed: {result}")
        return result.stdout

    return run


def in_plain_process(code: str) -> Callable[[], str]:
    # The sandbox's one thread per numerical library, or this arm pays for starting OpenBLAS's threads.
    env = {**os.environ, **{name: SANDBOX_ENV[name] for name in THREAD_VARIABLES}}
    command = [sys.executable, "-I", "-c", code]
    return lambda: subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout


def timed(arms: dict[str, Callable[[], str]], runs: int) -> dict[str, list[float]]:
    """Milliseconds per run of each arm, the arms taking turns so that drift hits them all alike."""
    for run in arms.values():
        run()  # warm: the page cache, and the sandbox's one look at where the interpreter lives
    samples: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(runs):
        for name, run in arms.items():
            started = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    arms = {
        "sandbox, empty program": in_sandbox(EMPTY),
        "sandbox, numpy script": in_sandbox(NUMPY_SCRIPT),
        "plain process, numpy script": in_plain_process(NUMPY_SCRIPT),
    }
    samples = timed(arms, args.runs)
    print(f"machine: {machine()}")
    print(f"runs per arm: {args.runs}; limits: {CodeInterpreterSettings().limits}")
    for name, measured in samples.items():
        print(f"{name:28} p50 {statistics.median(measured):7.1f} ms   p99 {p99(measured):7.1f} ms")
    added = statistics.median(samples["sandbox, numpy script"]) - statistics.median(
        samples["plain process, numpy script"]
    )
    print(f"added by the sandbox to the numpy script, p50: {added:.1f} ms")


if __name__ == "__main__":
    main()
