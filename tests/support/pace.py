"""How fast a model streams on this machine right now, for tests that must tell "stopped" from "still
generating" without a fixed number of seconds that a busy machine would miss."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from model_service.client import StreamEvent, TextDelta


class TokenPace:
    """When each token of one stream arrived; `flowing` is set once a few have."""

    def __init__(self, flowing_after: int = 5) -> None:
        self.arrivals: list[float] = []
        self.flowing = asyncio.Event()
        self.flowing_after = flowing_after

    async def read(self, events: AsyncIterator[StreamEvent]) -> None:
        """Read `events` to their end (or until the reading task is cancelled), timing each token."""
        async for event in events:
            if isinstance(event, TextDelta):
                self.arrivals.append(time.monotonic())
                if len(self.arrivals) == self.flowing_after:
                    self.flowing.set()

    def seconds_for(self, tokens: int) -> float:
        """How long `tokens` more would take at the pace seen, counted from the first token so that
        reading the prompt is not taken for generating."""
        if len(self.arrivals) < 2:
            raise ValueError("a pace needs at least two tokens")
        return (self.arrivals[-1] - self.arrivals[0]) / (len(self.arrivals) - 1) * tokens
