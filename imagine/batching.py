"""Batching across users inside one imagine worker process.

The worker runs Celery's thread pool (`--pool threads --concurrency N`): each task thread hands its
request to the process's single render thread and waits. The render thread takes the first request,
everything already queued, and whatever else arrives within IMAGINE_BATCH_WINDOW_MS, then renders
requests of the same size and steps in one pipeline call. While a batch renders, new requests
queue up, so under load batches fill by themselves; the window only helps a quiet worker.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cache

from PIL import Image

from imagine.conf import imagine_settings
from imagine.pipelines import RenderRequest, renderer


@dataclass(frozen=True)
class Rendered:
    image: Image.Image
    batch_id: int
    batch_size: int
    started: float  # wall-clock seconds of the pipeline call, for latency accounting
    finished: float


@dataclass
class _Job:
    request: RenderRequest
    future: Future[Rendered] = field(default_factory=Future)


class Batcher:
    def __init__(
        self, render: Callable[[list[RenderRequest]], list[Image.Image]], *, window_s: float, max_batch: int
    ) -> None:
        self._render = render
        self._window_s = window_s
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._batch_ids = itertools.count(1)
        threading.Thread(target=self._run, name="imagine-render", daemon=True).start()

    def submit(self, request: RenderRequest) -> Future[Rendered]:
        job = _Job(request)
        self._jobs.put(job)
        return job.future

    def _run(self) -> None:
        while True:
            for group in _by_batch_key(self._collect()):
                self._render_group(group)

    def _collect(self) -> list[_Job]:
        jobs = [self._jobs.get()]
        deadline = time.monotonic() + self._window_s
        while len(jobs) < self._max_batch:
            try:
                jobs.append(self._jobs.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return jobs

    def _render_group(self, jobs: list[_Job]) -> None:
        batch_id = next(self._batch_ids)
        started = time.time()
        try:
            images = self._render([job.request for job in jobs])
        except Exception as exc:  # every waiting task learns why (out of memory, a bad model...)
            for job in jobs:
                job.future.set_exception(exc)
            return
        finished = time.time()
        for job, image in zip(jobs, images, strict=True):
            job.future.set_result(Rendered(image, batch_id, len(jobs), started, finished))


def _by_batch_key(jobs: list[_Job]) -> list[list[_Job]]:
    groups: dict[tuple, list[_Job]] = {}
    for job in jobs:
        groups.setdefault(job.request.batch_key, []).append(job)
    return list(groups.values())


@cache
def batcher() -> Batcher:
    """The process's batcher; its thread owns the warm renderer."""
    return Batcher(
        lambda requests: renderer().render(requests),
        window_s=imagine_settings().batch_window_ms / 1000,
        max_batch=imagine_settings().batch_max,
    )
