"""The production image runs its worker as an ordinary user: bwrap then makes an unprivileged user
namespace instead of dropping from root. Run that way here, as `nobody` with Debian's Python."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from code_interpreter.results import ExecutionResult
from tests.code_interpreter.conftest import SANDBOX_UID, TEST_LIMITS

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by nobody, unlike this venv's base under /root

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(SYSTEM_PYTHON).exists(), reason="needs root to become nobody, and Debian's Python"
)

WORKER = """
import json, sys
from code_interpreter.sandbox import SandboxLimits, run_in_sandbox
limits = SandboxLimits(**json.loads(sys.argv[1]))
# sandbox_uid is used only by a worker that runs as root: not this one.
result = run_in_sandbox(sys.argv[2], limits, interpreter=sys.argv[3], sandbox_uid=65534)
print(json.dumps(result.to_json()))
"""


def run_as_nobody(code: str) -> ExecutionResult:
    """run_in_sandbox in a worker process of an ordinary user (only our own code runs outside the sandbox)."""
    become_nobody = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
    worker = [SYSTEM_PYTHON, "-c", WORKER, json.dumps(dataclasses.asdict(TEST_LIMITS)), code, SYSTEM_PYTHON]
    done = subprocess.run(
        [*become_nobody, *worker], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return ExecutionResult.from_json(json.loads(done.stdout))


def test_code_runs_in_a_user_namespace_without_network_or_extra_processes() -> None:
    code = (
        "import os, socket, time\n"
        "print(os.getcwd(), [name for _, name in socket.if_nameindex()])\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 6379), timeout=2)\n"
        "except OSError as error:\n"
        "    print('network refused', type(error).__name__)\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(3600)\n"
        "        children += 1\n"
        "except BlockingIOError:\n"
        "    print('fork refused after', children)\n"
    )
    result = run_as_nobody(code)

    lines = result.stdout.splitlines()
    assert lines[0] == "/sandbox ['lo']"
    assert lines[1].startswith("network refused")
    assert lines[2].startswith("fork refused after ")
    assert int(lines[2].split()[-1]) < TEST_LIMITS.processes
    assert result.exit_code == 0


def test_the_root_filesystem_and_dev_are_read_only_there_too() -> None:
    code = (
        "for path in ('/x', '/dev/x', '/dev/shm/x', '/sandbox/x'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print(path, 'written')\n"
        "    except OSError as error:\n"
        "        print(path, type(error).__name__)\n"
    )
    result = run_as_nobody(code)

    assert result.stdout.splitlines() == ["/x OSError", "/dev/x OSError", "/dev/shm/x OSError", "/sandbox/x written"]
