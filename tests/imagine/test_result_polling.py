"""Polling a render's result on the embedded filesystem result backend, which writes each result
file in place: a poll that reads a half-written file waits for the next poll instead of failing."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from core.celery_results import state_of as _state_of


def test_a_half_written_result_reads_as_pending_then_whole(tmp_path: Path) -> None:
    # Not the current app: shared tasks of later tests would otherwise send their results here.
    app = Celery(result_backend=f"file://{tmp_path}", set_as_current=False)
    app.backend.store_result("render-1", {"ok": True, "image": "x" * 10_000}, "SUCCESS")
    result_file = next(tmp_path.iterdir())
    whole = result_file.read_bytes()
    result = app.AsyncResult("render-1")

    result_file.write_bytes(whole[: len(whole) // 2])
    assert _state_of(result) == ("PENDING", None)

    result_file.write_bytes(whole)
    assert _state_of(result) == ("SUCCESS", {"ok": True, "image": "x" * 10_000})
