"""Runs inside the sandbox, as the parent of the model's program (standard library only; nothing of
the project is visible in there).

    python -I launcher.py '{"cpu_seconds": …, "report_fd": 5, …}'

It starts `main.py` with the resource limits set, waits for it up to the wall-clock limit, kills
every process left in the sandbox's PID namespace, then writes one JSON report to `report_fd`: the
program's exit status, whether it ran out of time, and the images it left in the working directory.
The program's stdout and stderr are the sandbox's own (the worker reads and caps them).

The report is not trusted by the worker: the program runs as the same user and could write to the
same pipe, so the worker checks every image and every number again.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPT = "main.py"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
MOST_ENTRIES_SCANNED = 1000  # a program can leave many files; the report looks at this many
OPEN_FILES = 256


def apply_limits(config: dict[str, Any]) -> None:
    """In the program's process, before it starts Python: the limits every process it starts inherits."""
    cpu = int(config["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL a second later
    resource.setrlimit(resource.RLIMIT_AS, (config["memory_bytes"], config["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (config["processes"], config["processes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (config["disk_bytes"], config["disk_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_program(config: dict[str, Any]) -> tuple[int | None, bool, str]:
    """(exit status, ran out of wall-clock time, why it could not start)."""
    try:
        program = subprocess.Popen(
            # Unbuffered: what it printed before a limit stopped it still comes back.
            [sys.executable, "-I", "-u", SCRIPT],
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: apply_limits(config),
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, False, f"The program could not be started: {error}"
    try:
        return program.wait(timeout=config["wall_seconds"]), False, ""
    except subprocess.TimeoutExpired:
        program.kill()
        return program.wait(), True, ""


def kill_the_rest() -> None:
    """SIGKILL every other process of the namespace (kill(-1) reaches no further), so nothing changes
    the working directory while it is read; bwrap's init (PID 1) reaps them."""
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def read_image(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes if it is a regular file of at most `max_bytes` that starts like a PNG or JPEG."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        data = file.read(max_bytes + 1)
    return data if len(data) <= max_bytes and data.startswith(IMAGE_MAGIC) else None


def images_in(workdir: Path, config: dict[str, Any]) -> tuple[list[dict[str, str]], int]:
    """(up to max_images images, oldest first, as {name, data}; how many more were left out)."""
    with os.scandir(workdir) as entries:
        candidates = []
        for count, entry in enumerate(entries):
            if count == MOST_ENTRIES_SCANNED:
                break
            if entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file(follow_symlinks=False):
                candidates.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
    images, left_out = [], 0
    for _, name in sorted(candidates):
        data = read_image(workdir / name, config["max_image_bytes"])
        if data is None or len(images) == config["max_images"]:
            left_out += 1
            continue
        images.append({"name": name, "data": base64.b64encode(data).decode()})
    return images, left_out


def main() -> None:
    config = json.loads(sys.argv[1])
    exit_code, timed_out, start_error = run_program(config)
    kill_the_rest()
    images, left_out = images_in(Path.cwd(), config)
    report = {
        "exit_code": exit_code,
        "timed_out": timed_out,
        "start_error": start_error,
        "images": images,
        "images_left_out": left_out,
    }
    with os.fdopen(config["report_fd"], "w") as report_pipe:
        json.dump(report, report_pipe)


if __name__ == "__main__":
    main()
