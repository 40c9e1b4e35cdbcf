"""CPython's cyclic garbage collector, set for a long-running server process.

Nearly everything a turn allocates is freed by reference counting as soon as it is done with: the
collector's passes find few cycles, yet a full pass walks every object the process holds, and
nothing else runs meanwhile. With CPython's default thresholds (700, 10, 10) a web process
streaming to 2,000 sockets made 29 full passes in its busiest minute, 9.8 s of its core in all and
up to 0.9 s each, while every socket's next frame waited (docs/benchmark-notes.md, 2026-12-04).
So, once a web process or a Celery worker has started:

- what it imported and built (modules, settings, URL and model tables) is frozen: it is never
  garbage, and no pass walks it again. A worker freezes before its pool forks, so its children go
  on sharing those pages with it instead of each copying them as a pass touches their objects;
- the young generation is collected every YOUNG_ALLOCATIONS net allocations instead of 700. The
  older generations keep CPython's ratios. During a burst nearly every young object is still alive
  and moves up, so a middle pass walks up to YOUNG_ALLOCATIONS x YOUNG_PASSES_PER_MIDDLE objects
  (0.16 s here at 10,000 x 10, 0.55 s at 50,000 x 20). Full passes considered ten times less often
  were tried and not kept: the garbage cycles that reach the old generation piled up (the soak
  benchmark's web process grew from 778 to 990 MiB in its last four minutes).
"""

from __future__ import annotations

import gc

YOUNG_ALLOCATIONS = 10_000
YOUNG_PASSES_PER_MIDDLE = 10
MIDDLE_PASSES_PER_FULL = 10


def tune_for_serving() -> None:
    """Freeze what the process holds now and collect less often from here on; call once, after start-up."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG_ALLOCATIONS, YOUNG_PASSES_PER_MIDDLE, MIDDLE_PASSES_PER_FULL)
