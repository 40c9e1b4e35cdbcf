"""What a content guard says about one turn."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    safe: bool
    categories: tuple[str, ...] = ()  # e.g. ("S1", "S10"); empty when safe
    unavailable: bool = False  # the guard could not answer; `safe` then follows the failure policy
    detail: str = ""  # for logs, never shown to users


class GuardUnavailable(Exception):
    """The guard gave no usable answer (down, timed out, or output that is not a verdict)."""
