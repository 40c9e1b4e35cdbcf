"""Running the model's code: here in a sandbox (`run_python`, what the worker does), or on the `code`
queue's worker from async code (`run_python_on_worker`, what the answer's engine calls)."""

from __future__ import annotations

import asyncio
import logging

from code_interpreter.conf import code_interpreter_settings
from code_interpreter.results import CodeInterpreterUnavailable, ExecutionResult
from code_interpreter.sandbox import run_in_sandbox
from core.celery_results import TaskFailed, await_result

logger = logging.getLogger(__name__)

RESULT_POLL_SECONDS = 0.05


def run_python(code: str) -> ExecutionResult:
    """Run `code` in a new sandbox with the configured limits; blocks until it ends (at most the
    wall-clock limit and a few seconds). Raises CodeInterpreterUnavailable if no sandbox can be made."""
    configured = code_interpreter_settings()
    return run_in_sandbox(
        code, configured.limits, interpreter=configured.interpreter_path, sandbox_uid=configured.sandbox_uid
    )


async def run_python_on_worker(code: str) -> ExecutionResult:
    """`run_python` on a worker of the `code` queue, waited for without blocking the event loop.
    Raises CodeInterpreterUnavailable when no worker answers within CODE_INTERPRETER_WAIT_SECONDS or
    the worker could not make a sandbox."""
    from code_interpreter.tasks import run_code

    wait_seconds = code_interpreter_settings().wait_seconds
    pending = await asyncio.to_thread(run_code.delay, code)
    try:
        outcome = await await_result(pending, wait_seconds=wait_seconds, poll_seconds=RESULT_POLL_SECONDS)
    except TimeoutError as error:
        raise CodeInterpreterUnavailable(f"no code worker answered within {wait_seconds:g} s") from error
    except TaskFailed as error:
        raise CodeInterpreterUnavailable("the code worker failed; its log says why") from error
    if "unavailable" in outcome:
        raise CodeInterpreterUnavailable(outcome["unavailable"])
    return ExecutionResult.from_json(outcome["result"])
