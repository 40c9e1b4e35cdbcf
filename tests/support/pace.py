"""How fast a model streams on this machine right now, for tests that must tell "stopped" from "still
generating" without a fixed number of seconds that a busy machine would miss."""

from __future__ import annotations

import time


class TokenPace:
    """When each token of one stream arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def arrived(self) -> None:
        self.arrivals.append(time.monotonic())

    def seconds_for(self, tokens: int) -> float:
        """How long `tokens` more would take at the pace seen, counted from the first token so that
        reading the prompt is not taken for generating."""
        if len(self.arrivals) < 2:
            raise ValueError("a pace needs at least two tokens")
        return (self.arrivals[-1] - self.arrivals[0]) / (len(self.arrivals) - 1) * tokens
