"""Server processes set CPython's garbage collector for serving once started
(core/garbage_collection.py): the web process at its ASGI lifespan's start-up, a Celery worker
before its pool forks. Each entry point runs in a fresh interpreter, as it does in production."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.garbage_collection import MIDDLE_PASSES_PER_FULL, YOUNG_ALLOCATIONS, YOUNG_PASSES_PER_MIDDLE
from tests.support.processes import ROOT, product_env

REPORT = "import gc, json; print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))"

WEB_STARTS = """
import asyncio
from config.asgi import application

async def start() -> None:
    sent = []
    async def receive():
        return {"type": "lifespan.startup"} if not sent else await asyncio.Event().wait()
    async def send(message):
        sent.append(message)
    served = asyncio.create_task(application({"type": "lifespan"}, receive, send))
    while not sent:
        await asyncio.sleep(0.01)
    assert sent == [{"type": "lifespan.startup.complete"}], sent
    served.cancel()

asyncio.run(start())
"""

WORKER_STARTS = """
from celery.signals import worker_init
import config.celery
worker_init.send(sender=None)
"""


@pytest.mark.parametrize("starts", [WEB_STARTS, WORKER_STARTS], ids=["web", "worker"])
def test_a_started_server_collects_seldom_and_never_walks_what_it_imported(starts: str, tmp_path: Path) -> None:
    env = product_env(tmp_path, SAFETY_CHECKS="false")
    done = subprocess.run(
        [sys.executable, "-c", f"{starts}\n{REPORT}"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    threshold, frozen = json.loads(done.stdout.splitlines()[-1])
    assert tuple(threshold) == (YOUNG_ALLOCATIONS, YOUNG_PASSES_PER_MIDDLE, MIDDLE_PASSES_PER_FULL)
    assert frozen > 10_000  # what the imported modules hold: tens of thousands of objects
