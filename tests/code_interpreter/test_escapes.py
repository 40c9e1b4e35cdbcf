"""Hostile code: each escape attempt is refused or contained by the sandbox. The hostile code runs only
inside the sandbox; the checks of the host run here, after (or while) it ran."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from code_interpreter.results import Limit
from code_interpreter.sandbox import SANDBOX_ENV
from tests.code_interpreter.conftest import SANDBOX_UID, TEST_LIMITS, Run

ROOT = Path(__file__).resolve().parents[2]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runs as its own user only when the worker is root")


def outcomes(stdout: str) -> dict[str, str]:
    """The JSON object the sandboxed code printed last: what each attempt gave."""
    return json.loads(stdout.strip().splitlines()[-1])


ATTEMPTS = """
import json, sys
results = {}
def attempt(name, action):
    try:
        results[name] = "succeeded: " + repr(action())[:200]
    except Exception as error:
        results[name] = "refused: " + type(error).__name__
"""


def sandbox_user_processes() -> int:
    return sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == SANDBOX_UID)


@pytest.fixture
def peak_sandbox_processes() -> Iterator[list[int]]:
    """The most processes of the sandbox's user seen on this host at once, sampled while the test runs."""
    peak = [0]
    running = threading.Event()
    running.set()

    def sample() -> None:
        while running.is_set():
            peak[0] = max(peak[0], sandbox_user_processes())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    yield peak
    running.clear()
    sampler.join()


@as_root
def test_a_fork_bomb_is_contained_by_the_process_limit(run: Run, peak_sandbox_processes: list[int]) -> None:
    code = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(3600)\n"
        "        children += 1\n"
        "except BlockingIOError:\n"
        "    print('refused after', children, flush=True)\n"
        "while True:\n"  # every process now forks for ever
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    started = time.monotonic()
    result = run(code)

    assert time.monotonic() - started < TEST_LIMITS.wall_seconds + 5
    assert result.stdout.startswith("refused after ")
    assert int(result.stdout.split()[2]) < TEST_LIMITS.processes
    assert Limit.TIME in result.limits_hit or Limit.CPU in result.limits_hit
    assert 0 < peak_sandbox_processes[0] <= TEST_LIMITS.processes
    assert sandbox_user_processes() == 0, "processes of the sandbox outlived it"


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server of this host on loopback: reachable from here, so only the sandbox can be refused."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_the_network_is_unreachable(run: Run, listener: int) -> None:
    code = ATTEMPTS + (
        "import socket\n"
        f"attempt('host port', lambda: socket.create_connection(('127.0.0.1', {listener}), timeout=2))\n"
        "attempt('redis', lambda: socket.create_connection(('127.0.0.1', 6379), timeout=2))\n"
        "attempt('public ip', lambda: socket.create_connection(('1.1.1.1', 53), timeout=2))\n"
        "attempt('dns', lambda: socket.getaddrinfo('example.com', 80))\n"
        "attempt('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53)))\n"
        "attempt('interfaces', lambda: [name for _, name in socket.if_nameindex() if name != 'lo'] or 1 / 0)\n"
        "print(json.dumps(results))\n"
    )
    with socket.create_connection(("127.0.0.1", listener), timeout=2):
        pass  # the same port answers this host

    tried = outcomes(run(code).stdout)

    assert set(tried) == {"host port", "redis", "public ip", "dns", "udp", "interfaces"}
    assert all(outcome.startswith("refused") for outcome in tried.values()), tried


def test_the_projects_files_are_invisible(run: Run) -> None:
    paths = [
        ROOT / "manage.py",
        ROOT / "config" / "settings.py",
        ROOT / "var" / "secret_key",
        ROOT / "pyproject.toml",
        Path("/root/.bashrc"),
        Path("/etc/passwd"),
        Path("/work/shared"),
        Path("/home"),
        Path("/var/run/postgresql"),
    ]
    code = ATTEMPTS + (
        "import os\n"
        f"for path in {[str(p) for p in paths]!r}:\n"
        "    attempt(path, lambda: open(path).read() if os.path.isfile(path) else os.listdir(path))\n"
        f"attempt('repo dir', lambda: [n for n in os.listdir({str(ROOT)!r}) if n != '.venv'] and 1 / 0)\n"
        "print(json.dumps(results))\n"
    )
    assert (ROOT / "manage.py").is_file()  # there to be read, outside

    tried = outcomes(run(code).stdout)

    assert set(tried) == {*map(str, paths), "repo dir"}
    readable = {path: outcome for path, outcome in tried.items() if path != "repo dir" and "refused" not in outcome}
    assert readable == {}
    assert tried["repo dir"] == "succeeded: []", "the repository shows more than its venv"


@as_root
def test_the_environment_is_invisible(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"secret-{uuid.uuid4()}"
    monkeypatch.setenv("DJANGO_SECRET_KEY", secret)
    code = (
        "import json, os\n"
        "seen = {'environ': sorted(os.environ)}\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    try:\n"
        "        variables = open(f'/proc/{pid}/environ').read().split('\\0')\n"
        "        seen[pid] = sorted(v.split('=', 1)[0] for v in variables if v)\n"
        "    except OSError as error:\n"
        "        seen[pid] = type(error).__name__\n"
        "print(json.dumps(seen))\n"
    )
    result = run(code)
    seen = outcomes(result.stdout)

    assert secret not in result.stdout + result.stderr
    assert set(seen.pop("environ")) == {*SANDBOX_ENV, "PWD"}
    assert seen.pop("1") == "PermissionError"  # bwrap's init, which is not the sandbox's user
    assert all("DJANGO_SECRET_KEY" not in names for names in seen.values()), seen


def test_writing_outside_the_working_directory_fails(run: Run) -> None:
    name = f"escape-{uuid.uuid4()}.txt"
    targets = [
        ROOT / name,
        ROOT / ".venv" / name,
        Path("/tmp") / name,
        Path("/") / name,
        Path("/dev/shm") / name,
        Path("/usr") / name,
        Path("/proc") / name,
    ]
    code = ATTEMPTS + (
        f"for path in {[str(t) for t in targets]!r} + ['inside.txt']:\n"
        "    attempt(path, lambda: open(path, 'w').write('escaped'))\n"
        "print(json.dumps(results))\n"
    )
    tried = outcomes(run(code).stdout)

    assert tried.pop("inside.txt") == "succeeded: 7"
    assert set(tried) == set(map(str, targets))
    assert all(outcome.startswith("refused") for outcome in tried.values()), tried
    assert not [target for target in targets if target.exists()]


def test_a_program_that_kills_its_launcher_gets_a_result_and_no_report(run: Run) -> None:
    result = run("import os, signal\nprint('bye', flush=True)\nos.kill(os.getppid(), signal.SIGKILL)\n")

    assert result.stdout == "bye\n"
    assert result.exit_code is None
    assert result.images == ()
    assert "The sandbox ended before it reported how the program ended." in result.notes
