"""Model text into numbered token frames.

Tokens are coalesced into at most one frame per ASSISTANT_FRAME_INTERVAL_MS; a token that arrives
after a quiet interval (the first one included) goes out at once. Frames are numbered 1…n with no
gaps, and `content`/`frame_ends` (their concatenation and boundaries) are what the database stores,
so any process can replay them exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

from assistant.engine.frames import TokenFrame, frames_after


class Coalescer:
    def __init__(self, message_id: int, interval_seconds: float, emit: Callable[[TokenFrame], Awaitable[None]]) -> None:
        self.message_id = message_id
        self.interval = interval_seconds
        self.emit = emit
        self.parts: list[str] = []
        self.frame_ends: list[int] = []
        self.pending = ""
        # Held while a frame is numbered and sent, and by anyone who needs frames and state to agree
        # (a replay, the final save).
        self.lock = asyncio.Lock()
        self.last_emit = 0.0
        self.timer: asyncio.Task[None] | None = None

    @property
    def seq(self) -> int:
        return len(self.frame_ends)

    def content(self, upto_seq: int | None = None) -> str:
        return "".join(self.parts[:upto_seq])

    def add(self, text: str) -> None:
        self.pending += text
        if self.timer is not None:
            return  # a frame is already scheduled and will carry this text
        wait = self.last_emit + self.interval - time.monotonic()
        self.timer = asyncio.create_task(self._emit_after(max(wait, 0.0)))

    async def finish(self, *, send_pending: bool) -> None:
        """Let the frame already scheduled go out (at most one interval), then send the text still
        pending, or drop it (the rest of a refused answer is never shown)."""
        # Shielded: cancelling the task that finishes the answer (a shutdown) must not cut a frame the
        # timer or this call has numbered.
        if self.timer is not None:
            with suppress(asyncio.CancelledError):
                await asyncio.shield(self.timer)
        if send_pending:
            await asyncio.shield(self._emit())
        else:
            self.pending = ""

    def frames_after(self, after_seq: int) -> list[TokenFrame]:
        """The frames numbered above `after_seq`; hold `lock` so none is being added meanwhile."""
        return [
            TokenFrame(message_id=self.message_id, seq=seq, text=text)
            for seq, text in frames_after(self.content(), self.frame_ends, after_seq)
        ]

    async def _emit_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self.timer = None
        await self._emit()

    async def _emit(self) -> None:
        async with self.lock:
            if not self.pending:
                return
            text, self.pending = self.pending, ""
            self.parts.append(text)
            self.frame_ends.append((self.frame_ends[-1] if self.frame_ends else 0) + len(text))
            self.last_emit = time.monotonic()
            # Not shielded (a task per frame was 8 % of a web process's CPU at 2,000 streams): frames go
            # out from the timer's own task, which a stop never cancels (it cancels the generation).
            await self.emit(TokenFrame(message_id=self.message_id, seq=self.seq, text=text))
