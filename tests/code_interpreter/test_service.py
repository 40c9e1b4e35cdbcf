"""The worker's entry point reads its limits from Django settings, and says plainly when no sandbox can
be made instead of running the code some other way."""

from __future__ import annotations

import sys

import pytest

from code_interpreter.results import CodeInterpreterUnavailable, Limit
from code_interpreter.sandbox import run_in_sandbox
from code_interpreter.service import run_python
from tests.code_interpreter.conftest import SANDBOX_UID, TEST_LIMITS


def test_run_python_takes_its_limits_from_settings(settings) -> None:
    settings.CODE_INTERPRETER_CPU_SECONDS = 1
    settings.CODE_INTERPRETER_OUTPUT_BYTES = 100

    result = run_python("print('z' * 1000, flush=True)\nwhile True:\n    pass\n")

    assert set(result.limits_hit) == {Limit.CPU, Limit.OUTPUT}
    assert "its 1 s of CPU time" in result.ipython_output()
    assert len(result.stdout) < 200


def test_without_bubblewrap_the_code_does_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(CodeInterpreterUnavailable, match="bubblewrap"):
        run_in_sandbox("print(1)", TEST_LIMITS, interpreter=sys.executable, sandbox_uid=SANDBOX_UID)


def test_an_interpreter_that_does_not_run_makes_no_sandbox() -> None:
    with pytest.raises(CodeInterpreterUnavailable, match="does not run"):
        run_in_sandbox("print(1)", TEST_LIMITS, interpreter="/nonexistent/python", sandbox_uid=SANDBOX_UID)
