"""A real Celery worker on queue `documents` (the embedded filesystem broker, a SQLite file shared
with this test) extracts, chunks and embeds an upload, and reports progress in the database."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import manage, migrate, product_env, running, worker_command

pytestmark = pytest.mark.live

# What the upload view does (knowledge/api.py), run as a product process: store the upload, queue the task.
UPLOAD = """
from assistant.chat.services import create_guest
from knowledge import services, tasks
from tests.knowledge.builders import pdf_bytes
from tests.knowledge.conftest import PAGES
document = services.create_document(owner_id=create_guest().pk, name="harbour.pdf", data=pdf_bytes(PAGES))
tasks.extract_document.delay(document.pk)
print(document.pk)
"""
# Worker start-up and the first load of MiniLM on a busy 2-core machine.
WORKER_SECONDS = 120


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    var_dir = tmp_path_factory.mktemp("documents")
    # The worker runs with this test run's settings module (the one that installs `knowledge`).
    env = product_env(var_dir, DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"])
    migrate(env)
    with running(worker_command(queues=("documents",)), env=env, log=var_dir / "worker.log"):
        yield env, var_dir / "db.sqlite3"


def wait_until_done(database: Path, document_id: int) -> tuple[str, int, int]:
    deadline = time.monotonic() + WORKER_SECONDS
    with sqlite3.connect(database) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT status, progress, pages FROM knowledge_document WHERE id = ?", (document_id,)
            ).fetchone()
            if row[0] != "pending":
                return row
            time.sleep(0.5)
    raise AssertionError(f"document {document_id} still pending after {WORKER_SECONDS} s")


def test_worker_extracts_an_upload_page_by_page(product: tuple[dict[str, str], Path]) -> None:
    env, database = product
    document_id = int(manage(env, "shell", "-c", UPLOAD).split()[-1])
    assert wait_until_done(database, document_id) == ("ready", 100, 4)
    with sqlite3.connect(database) as connection:
        pages = connection.execute(
            "SELECT page FROM knowledge_documentchunk WHERE document_id = ? AND text LIKE '%Marmalade%'",
            (document_id,),
        ).fetchall()
        content = connection.execute("SELECT content FROM knowledge_document WHERE id = ?", (document_id,)).fetchone()
    assert pages == [(3,)]
    assert content == (b"",)  # the upload's bytes are dropped once extracted
