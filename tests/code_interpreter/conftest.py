from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from code_interpreter.results import ExecutionResult
from code_interpreter.sandbox import SandboxLimits, run_in_sandbox

SANDBOX_UID = 65534
MIB = 2**20
# Smaller than production's, so that the tests that run into them end within seconds.
TEST_LIMITS = SandboxLimits(
    cpu_seconds=2,
    wall_seconds=4.0,
    memory_bytes=256 * MIB,
    processes=16,
    disk_bytes=8 * MIB,
    output_bytes=4096,
    max_images=2,
    max_image_bytes=200_000,
)

Run = Callable[[str], ExecutionResult]


@pytest.fixture
def run() -> Run:
    """Run code in a sandbox with TEST_LIMITS and this process's Python (the project's venv)."""
    return lambda code: run_in_sandbox(code, TEST_LIMITS, interpreter=sys.executable, sandbox_uid=SANDBOX_UID)
