"""The fair admission queue in front of the model (assistant/engine/admission.py): capacity, turns
taken round robin by person, one streaming answer per person, cancellation and positions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable

import pytest
from pydantic import ValidationError

from assistant.conf import model_settings
from assistant.engine.admission import AdmissionQueue, admission_queue

WAIT_SECONDS = 2


class Answer:
    """One answer asking `queue` for the model: records the positions it is told and its start,
    then streams until `finish`."""

    def __init__(self, queue: AdmissionQueue, person: Hashable, starts: list[str], name: str) -> None:
        self.name = name
        self.positions: list[int] = []
        self.started = asyncio.Event()
        self._finished = asyncio.Event()
        self._starts = starts
        self.task = asyncio.create_task(self._run(queue, person))

    async def _run(self, queue: AdmissionQueue, person: Hashable) -> None:
        async with queue.place(person) as place:
            async for position in place.positions():
                self.positions.append(position)
            self._starts.append(self.name)
            self.started.set()
            await self._finished.wait()

    async def until_started(self) -> None:
        await asyncio.wait_for(self.started.wait(), WAIT_SECONDS)

    async def finish(self) -> None:
        self._finished.set()
        await asyncio.wait_for(self.task, WAIT_SECONDS)

    async def cancel(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def settled() -> None:
    """Let every wake-up scheduled so far run (each takes a loop iteration or two)."""
    for _ in range(10):
        await asyncio.sleep(0)


class Line:
    """Answers of several people on one queue, started in the order they are created."""

    def __init__(self, capacity: int) -> None:
        self.queue = AdmissionQueue(capacity)
        self.starts: list[str] = []

    async def ask(self, person: str, name: str | None = None) -> Answer:
        answer = Answer(self.queue, person, self.starts, name or person)
        await settled()
        return answer


async def test_answers_beyond_capacity_wait_until_a_stream_ends() -> None:
    line = Line(capacity=2)
    ada, bo, cy = [await line.ask(person) for person in ("ada", "bo", "cy")]

    await ada.until_started()
    await bo.until_started()
    assert not cy.started.is_set()
    assert cy.positions == [1]
    await ada.finish()
    await cy.until_started()
    assert line.starts == ["ada", "bo", "cy"]
    assert (line.queue.streaming(), line.queue.waiting()) == (2, 0)


async def test_turns_go_round_robin_by_person_not_by_request() -> None:
    line = Line(capacity=1)
    running = await line.ask("zoe")
    answers = [await line.ask("ada", "ada1"), await line.ask("ada", "ada2"), await line.ask("ada", "ada3")]
    answers += [await line.ask("bo", "bo1"), await line.ask("cy", "cy1"), await line.ask("bo", "bo2")]

    by_name = {answer.name: answer for answer in answers}
    told = {answer.name: answer.positions[-1] for answer in answers}
    await running.finish()
    for _ in answers:  # capacity 1: each streams alone, and whose turn comes next is recorded
        await settled()
        await by_name[line.starts[-1]].finish()
    assert line.starts == ["zoe", "ada1", "bo1", "cy1", "ada2", "bo2", "ada3"]
    assert sorted(told, key=told.__getitem__) == line.starts[1:]  # each was told where it stood


async def test_a_persons_second_answer_waits_behind_their_first_even_without_a_limit() -> None:
    line = Line(capacity=0)
    first, second = await line.ask("ada", "first"), await line.ask("ada", "second")
    other = await line.ask("bo")

    await first.until_started()
    await other.until_started()
    assert not second.started.is_set()
    assert second.positions == [1]
    await first.finish()
    await second.until_started()


async def test_cancelling_a_waiting_answer_frees_its_place_at_once() -> None:
    line = Line(capacity=1)
    running, ada, bo, cy = [await line.ask(person) for person in ("zoe", "ada", "bo", "cy")]
    assert (ada.positions, bo.positions, cy.positions) == ([1], [2], [3])

    await bo.cancel()
    await settled()
    assert cy.positions == [3, 2]
    assert line.queue.waiting() == 2
    await running.finish()
    await ada.until_started()
    await ada.finish()
    await cy.until_started()
    assert line.starts == ["zoe", "ada", "cy"]


async def test_a_stream_that_fails_frees_its_place() -> None:
    line = Line(capacity=1)
    broken = asyncio.Event()

    async def stream_until_broken() -> None:
        async with line.queue.place("ada") as place:
            async for _ in place.positions():
                pass
            await broken.wait()
            raise RuntimeError("the model broke")

    failing = asyncio.create_task(stream_until_broken())
    await settled()
    waiting = await line.ask("bo")
    assert waiting.positions == [1]
    broken.set()
    with pytest.raises(RuntimeError, match="the model broke"):
        await asyncio.wait_for(failing, WAIT_SECONDS)
    await waiting.until_started()


async def test_positions_are_told_each_time_they_change_and_not_after_the_start() -> None:
    line = Line(capacity=1)
    running, ada, bo, cy = [await line.ask(person) for person in ("zoe", "ada", "bo", "cy")]

    await running.finish()
    await ada.until_started()
    await ada.finish()
    await bo.until_started()
    await bo.finish()
    await cy.until_started()
    assert (running.positions, ada.positions, bo.positions, cy.positions) == ([], [1], [2, 1], [3, 2, 1])


async def test_an_answer_from_another_threads_event_loop_is_woken_in_its_own() -> None:
    """A Celery worker with a thread pool runs an event loop per thread around one queue."""
    line = Line(capacity=1)
    running = await line.ask("zoe")
    queued_elsewhere, started_elsewhere = threading.Event(), threading.Event()

    async def elsewhere() -> None:
        async with line.queue.place("ada") as place:
            queued_elsewhere.set()
            async for _ in place.positions():
                pass
            started_elsewhere.set()

    thread = threading.Thread(target=asyncio.run, args=(elsewhere(),))
    thread.start()
    assert await asyncio.to_thread(queued_elsewhere.wait, WAIT_SECONDS)
    assert not started_elsewhere.is_set()
    await running.finish()
    await asyncio.to_thread(thread.join, WAIT_SECONDS)
    assert started_elsewhere.is_set()
    assert (line.queue.streaming(), line.queue.waiting()) == (0, 0)


def test_the_process_queue_follows_the_setting(settings) -> None:
    settings.MODEL_MAX_CONCURRENT_STREAMS = 3
    assert admission_queue().capacity == 3
    settings.MODEL_MAX_CONCURRENT_STREAMS = 0
    assert admission_queue().capacity == 0


def test_a_negative_capacity_is_refused(settings) -> None:
    settings.MODEL_MAX_CONCURRENT_STREAMS = -1
    with pytest.raises(ValidationError, match="MODEL_MAX_CONCURRENT_STREAMS"):
        model_settings()
    with pytest.raises(ValueError, match="capacity must be 0"):
        AdmissionQueue(-1)
