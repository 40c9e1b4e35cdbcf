"""The embedded mode's channel layer: Channels' in-memory layer with its expiry sweep rate-limited.

The in-memory layer sweeps every channel and group for expired messages on each send and receive,
so its cost grows with the square of the open sockets (at 1,000 streaming sockets the sweep alone
took a third of the process's CPU). Sweeping at most once a second keeps the same expiry rules,
a second coarser. Production uses Redis (channels_redis) and never loads this.
"""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer


class EmbeddedChannelLayer(InMemoryChannelLayer):
    sweep_interval_seconds = 1.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_interval_seconds
        super()._clean_expired()
