"""What the model's code gets back from the sandbox: output, errors, images, and the limits it ran into."""

from __future__ import annotations

import dataclasses
import io
import sys
import time

from PIL import Image

from code_interpreter.results import ExecutionResult, Limit
from code_interpreter.sandbox import run_in_sandbox
from tests.code_interpreter.conftest import SANDBOX_UID, TEST_LIMITS, Run

DEADLINE_SECONDS = TEST_LIMITS.wall_seconds + 5  # the worker's own deadline: the launcher's plus its grace


def test_a_script_prints_and_its_stdout_comes_back(run: Run) -> None:
    result = run("import numpy as np\nprint('sum', int(np.arange(10).sum()))\nprint('done')\n")

    assert result.stdout == "sum 45\ndone\n"
    assert result.stderr == ""
    assert result.exit_code == 0
    assert result.ok
    assert result.ipython_output() == "sum 45\ndone"


def test_an_exception_comes_back_as_its_traceback(run: Run) -> None:
    result = run("print('before')\ndef f():\n    return 1 / 0\nf()\n")

    assert result.stdout == "before\n"
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert 'File "/sandbox/main.py", line 3, in f' in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert result.limits_hit == ()
    assert "ZeroDivisionError" in result.ipython_output()


def test_an_image_written_to_the_working_directory_comes_back(run: Run) -> None:
    code = (
        "from PIL import Image\n"
        "Image.new('RGB', (40, 30), (200, 30, 30)).save('chart.png')\n"
        "Image.new('RGB', (8, 8), (0, 0, 255)).save('photo.jpg', quality=90)\n"
        "print('saved')\n"
    )
    result = run(code)

    assert result.ok, result
    assert [(image.name, image.media_type) for image in result.images] == [
        ("chart.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
    ]
    chart = Image.open(io.BytesIO(result.images[0].data))
    assert chart.size == (40, 30)
    assert chart.getpixel((0, 0)) == (200, 30, 30)
    assert result.images[0].data_url.startswith("data:image/png;base64,iVBORw0KGgo")
    assert "[images shown to the user: chart.png, photo.jpg]" in result.ipython_output()


def test_files_that_only_claim_to_be_images_and_images_past_the_cap_are_left_out(run: Run) -> None:
    code = (
        "from PIL import Image\n"
        "open('fake.png', 'w').write('not an image')\n"
        "for name in ('a.png', 'b.png', 'c.png'):\n"
        "    Image.new('RGB', (4, 4)).save(name)\n"
    )
    result = run(code)

    assert [image.name for image in result.images] == ["a.png", "b.png"]  # max_images, oldest first
    assert any("2 image file(s) not returned" in note for note in result.notes), result.notes


def test_a_result_crosses_the_result_backend_as_json_unchanged(run: Run) -> None:
    result = run("from PIL import Image\nImage.new('L', (2, 2)).save('x.png')\nprint('é')\nraise SystemExit(3)\n")

    assert result.exit_code == 3
    assert ExecutionResult.from_json(result.to_json()) == result


def test_an_infinite_loop_is_stopped_by_the_cpu_limit_and_what_it_printed_comes_back() -> None:
    # A wall clock far above the CPU limit: on a loaded machine the loop gets a fraction of a core.
    limits = dataclasses.replace(TEST_LIMITS, cpu_seconds=1, wall_seconds=30.0)
    started = time.monotonic()
    code = "print('spinning')\nwhile True:\n    pass\n"
    result = run_in_sandbox(code, limits, interpreter=sys.executable, sandbox_uid=SANDBOX_UID)

    assert time.monotonic() - started < limits.wall_seconds
    assert Limit.CPU in result.limits_hit
    assert result.stdout == "spinning\n"
    assert "CPU time" in result.ipython_output()


def test_a_program_that_waits_forever_is_stopped_by_the_wall_clock_limit(run: Run) -> None:
    started = time.monotonic()
    result = run("import time\nprint('waiting')\ntime.sleep(3600)\n")

    assert time.monotonic() - started < DEADLINE_SECONDS
    assert result.limits_hit == (Limit.TIME,)
    assert result.stdout == "waiting\n"


def test_a_memory_bomb_is_stopped_by_the_memory_limit(run: Run) -> None:
    code = (
        "blocks = []\n"
        "try:\n"
        "    while True:\n"
        "        blocks.append(bytearray(16 * 2**20))\n"
        "finally:\n"
        "    print('allocated MiB', 16 * len(blocks), flush=True)\n"
    )
    result = run(code)

    assert Limit.MEMORY in result.limits_hit
    assert "MemoryError" in result.stderr
    allocated = int(result.stdout.split()[-1])
    assert 0 < allocated * 2**20 <= TEST_LIMITS.memory_bytes


def test_huge_output_is_capped_and_the_call_returns(run: Run) -> None:
    started = time.monotonic()
    result = run("import sys\nsys.stdout.write('start' + 'x' * 100_000_000 + 'end')\nprint('oops', file=sys.stderr)\n")

    assert time.monotonic() - started < DEADLINE_SECONDS
    assert result.exit_code == 0
    assert result.limits_hit == (Limit.OUTPUT,)
    assert result.stdout.startswith("start")
    assert result.stdout.endswith("end")
    assert "bytes left out" in result.stdout
    assert len(result.stdout.encode()) < TEST_LIMITS.output_bytes + 100
    assert result.stderr == "oops\n"


def test_endless_output_ends_at_the_time_limit_with_the_output_capped(run: Run) -> None:
    result = run("while True:\n    print('y' * 1000)\n")

    assert Limit.OUTPUT in result.limits_hit
    assert {Limit.CPU, Limit.TIME} & set(result.limits_hit)
    assert len(result.stdout.encode()) < TEST_LIMITS.output_bytes + 100


def test_filling_the_working_directory_hits_the_disk_limit(run: Run) -> None:
    result = run("with open('big.bin', 'wb') as f:\n    f.write(b'0' * 16 * 2**20)\n")  # twice the limit

    assert Limit.DISK in result.limits_hit
    assert result.exit_code == 1
