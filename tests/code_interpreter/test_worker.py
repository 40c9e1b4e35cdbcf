"""The `code` queue end to end: a real Celery worker (as docker-compose's worker runs it) on Redis
runs the code in a sandbox, and an async caller here awaits the result through the result backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from code_interpreter.service import run_python_on_worker
from tests.imagine.support import BROKER_URL, RESULTS_URL, flush, redis_in_this_process
from tests.support.processes import product_env, running, worker_command

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("code_worker")]

WORKER_START_SECONDS = 90  # the first task waits for the worker to start (Django, Celery, imports)


@pytest.fixture(scope="module")
def code_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    var_dir = tmp_path_factory.mktemp("code-worker")
    flush()
    env = product_env(var_dir, CELERY_BROKER_URL=BROKER_URL, CELERY_RESULT_BACKEND=RESULTS_URL)
    with running(worker_command(queues=("code",)), env=env, log=var_dir / "worker.log"), redis_in_this_process():
        yield


async def test_the_worker_runs_code_in_a_sandbox_and_the_caller_gets_the_result(settings) -> None:
    settings.CODE_INTERPRETER_WAIT_SECONDS = WORKER_START_SECONDS
    code = (
        "import os\n"
        "from PIL import Image\n"
        "Image.new('RGB', (10, 10), (0, 128, 0)).save('plot.png')\n"
        "print('pid', os.getpid(), 'answer', 6 * 7)\n"
    )
    result = await run_python_on_worker(code)

    assert result.ok, result
    pid, answer = result.stdout.split()[1::2]
    assert answer == "42"
    assert int(pid) < 10, "not in a PID namespace of its own: the code ran in the worker?"
    assert [image.name for image in result.images] == ["plot.png"]
    assert result.images[0].data.startswith(b"\x89PNG")


async def test_an_exception_in_the_code_is_a_result_not_a_failed_task(settings) -> None:
    settings.CODE_INTERPRETER_WAIT_SECONDS = WORKER_START_SECONDS
    result = await run_python_on_worker("import json\njson.loads('{')\n")

    assert result.exit_code == 1
    assert "json.decoder.JSONDecodeError" in result.stderr
