"""Fair admission to the model: how many answers of this process stream from the model server at
once, and whose answer starts next when they are all taken.

A model server runs a fixed number of sequences at a time (the embedded engine's slots, vLLM's
`--max-num-seqs`) and queues the rest in order of arrival, so one person's many requests, or a
long answer in a tab nobody follows, hold everyone else back. This queue sits in front of the
model stream (pipeline `_generate`): at most `MODEL_MAX_CONCURRENT_STREAMS` streams at once (0: no
limit), at most one per person, and when a stream ends the next to start is chosen round robin by
person, not by request: each person waiting gets one start per round, however many answers they
queued. Waiting answers learn their position whenever it changes: how many streams must end before
they start (one for each answer waiting ahead, and one whose end lets the first in line start).
Leaving the queue (a stop, a client gone, a shutdown) or ending a stream frees the place at once.

One queue per process, shared by its event loops (a Celery worker with a thread pool runs one loop
per thread): its state is guarded by a lock and each waiting answer is woken in its own loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from django.core.signals import setting_changed
from django.dispatch import receiver

from assistant.conf import model_settings

# Who the answer generated in this context is for (the runner sets the user id): their answers
# stream one at a time. An answer for nobody in particular counts as a person of its own.
answering_for: ContextVar[Hashable | None] = ContextVar("answering_for", default=None)


class Place:
    """One answer's place in the queue, from the moment it asks for the model until its stream ends."""

    def __init__(self, person: Hashable, lock: threading.Lock) -> None:
        self.person = person
        self.admitted = False
        self.position: int | None = None  # while it waits: streams that must end before it starts
        self._lock = lock
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def wake(self) -> None:
        """Called under the queue's lock, from any thread: its turn came or its position changed."""
        self._loop.call_soon_threadsafe(self._changed.set)

    async def positions(self) -> AsyncIterator[int]:
        """The position each time it changes, until the answer may stream (then the iteration ends)."""
        told: int | None = None
        while True:
            self._changed.clear()
            with self._lock:
                admitted, position = self.admitted, self.position
            if admitted:
                return
            if position is not None and position != told:
                told = position
                yield position
            await self._changed.wait()


class AdmissionQueue:
    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be 0 (no limit) or more, not {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._running: set[Hashable] = set()  # people with a stream; one stream each
        # Each person's waiting answers, oldest first; the dict's order is whose turn comes first.
        self._lines: dict[Hashable, deque[Place]] = {}

    @asynccontextmanager
    async def place(self, person: Hashable) -> AsyncIterator[Place]:
        """Wait in line for the model (`Place.positions`), stream inside the block; leaving it,
        however it is left, gives the place up."""
        place = Place(person, self._lock)
        with self._lock:
            self._lines.setdefault(person, deque()).append(place)
            self._schedule()
        try:
            yield place
        finally:
            with self._lock:
                self._leave(place)
                self._schedule()

    def waiting(self) -> int:
        with self._lock:
            return sum(len(line) for line in self._lines.values())

    def streaming(self) -> int:
        with self._lock:
            return len(self._running)

    # --- under the lock ------------------------------------------------------------------------

    def _order(self) -> list[Place]:
        """Waiting answers in the order they will start: people take turns in the dict's order, one
        answer each per round; a person whose answer is streaming sits the current round out."""
        keyed = [
            (depth + (person in self._running), turn, place)
            for turn, (person, line) in enumerate(self._lines.items())
            for depth, place in enumerate(line)
        ]
        keyed.sort(key=lambda key: key[:2])
        return [place for _, _, place in keyed]

    def _full(self) -> bool:
        return self.capacity > 0 and len(self._running) >= self.capacity

    def _schedule(self) -> None:
        """Start every answer that may start, then tell the others where they stand."""
        while not self._full():
            order = self._order()
            if not order or order[0].person in self._running:
                break  # nobody waits, or everyone waiting has an answer streaming
            self._start(order[0])
        for position, place in enumerate(self._order(), start=1):
            if place.position != position:
                place.position = position
                place.wake()

    def _start(self, place: Place) -> None:
        line = self._lines.pop(place.person)
        line.popleft()
        if line:  # the person's next answer waits for the next round, behind everyone now waiting
            self._lines[place.person] = line
        self._running.add(place.person)
        place.admitted = True
        place.wake()

    def _leave(self, place: Place) -> None:
        if place.admitted:
            self._running.discard(place.person)
            return
        line = self._lines[place.person]
        line.remove(place)
        if not line:
            del self._lines[place.person]


@functools.cache
def admission_queue() -> AdmissionQueue:
    """This process's queue, sized by MODEL_MAX_CONCURRENT_STREAMS."""
    return AdmissionQueue(model_settings().max_concurrent_streams)


@receiver(setting_changed)
def _resize(*, setting: str, **kwargs: object) -> None:
    """A new size is a new queue (tests); answers in the old one finish there."""
    if setting == "MODEL_MAX_CONCURRENT_STREAMS":
        admission_queue.cache_clear()


@asynccontextmanager
async def model_stream() -> AsyncIterator[Place]:
    """A place in this process's queue for the person the current answer is for (`answering_for`)."""
    person = answering_for.get()
    async with admission_queue().place(object() if person is None else person) as place:
        yield place
