"""Token frames of an answer as (content, frame_ends): the one representation that the
generating process, the database and every resuming socket share."""

from __future__ import annotations

from collections.abc import Sequence


def frames_after(content: str, frame_ends: Sequence[int], after_seq: int) -> list[tuple[int, str]]:
    """(seq, text) of every frame numbered above `after_seq`; frame n is content[ends[n-2]:ends[n-1]]."""
    starts = [0, *frame_ends]
    return [(seq, content[starts[seq - 1] : starts[seq]]) for seq in range(after_seq + 1, len(frame_ends) + 1)]
