"""Counters every surface records: refusals sent to clients, and the safety check's (chat engine and
Imagine alike). They live on prometheus_client's default registry, which `/metrics`
(assistant/ops/metrics.py) serves."""

from __future__ import annotations

from prometheus_client import Counter

from safety.verdict import Verdict

ERRORS = Counter("assistant_errors_total", "Errors returned to clients, by error code.", ["code"])
BLOCKED_TURNS = Counter(
    "assistant_blocked_turns_total",
    "Turns refused by the safety check, by stage and hazard category.",
    ["stage", "category"],
)
GUARD_UNAVAILABLE = Counter(
    "assistant_guard_unavailable_total",
    "Safety checks the guard could not answer, by stage and the failure policy applied (open/closed).",
    ["stage", "policy"],
)


def count_verdict(verdict: Verdict, stage: str) -> None:
    """Count a verdict that refuses (once per hazard category) or that the guard could not give."""
    if verdict.unavailable:
        GUARD_UNAVAILABLE.labels(stage, "open" if verdict.safe else "closed").inc()
    elif not verdict.safe:
        for category in verdict.categories or ("unknown",):
            BLOCKED_TURNS.labels(stage, category).inc()
