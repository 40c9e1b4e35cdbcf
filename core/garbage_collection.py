"""CPython's cyclic garbage collector, set for a long-running server process.

Nearly everything a turn allocates is freed by reference counting as soon as it is done with: the
collector's passes find few cycles, yet a full pass walks every object the process holds. With
CPython's default thresholds (700, 10, 10), one web process streaming to 2,000 sockets made 29 full
passes in its busiest minute, 9.8 s of its core in all and up to 0.9 s each, while every socket's
next frame waited (docs/benchmark-notes.md, 2026-12-04). So, once a process has started:

- what it imported and built (modules, settings, URL and model tables) is frozen: it is never
  garbage, and no pass walks it again; in a Celery worker this happens before the pool forks, so
  the children share those pages instead of copying them as a pass touches each object;
- the young generation is collected every YOUNG_ALLOCATIONS net allocations instead of 700, and a
  full pass is considered after MIDDLE_PASSES_PER_FULL middle passes instead of 10 (by CPython's
  own rule it then runs only if the heap grew by a quarter since the last). The middle generation
  keeps CPython's ratio: during a burst nearly every young object is still alive and moves up, so a
  middle pass walks up to YOUNG_ALLOCATIONS x YOUNG_PASSES_PER_MIDDLE objects (0.16 s here at
  10,000 x 10, 0.55 s at 50,000 x 20), which every socket's next frame waits for.
"""

from __future__ import annotations

import gc

YOUNG_ALLOCATIONS = 10_000
YOUNG_PASSES_PER_MIDDLE = 10
MIDDLE_PASSES_PER_FULL = 100


def tune_for_serving() -> None:
    """Freeze what the process holds now and collect less often from here on; call once, after start-up."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG_ALLOCATIONS, YOUNG_PASSES_PER_MIDDLE, MIDDLE_PASSES_PER_FULL)
