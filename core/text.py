"""Rules for text that every surface accepts the same way."""

from __future__ import annotations

# PostgreSQL text cannot hold a NUL character: storing one fails the whole request. Every channel
# refuses it where it parses, as a client error, with this sentence.
NUL_REFUSAL = "Text may not contain NUL (\\u0000) characters."


def contains_nul(value: object) -> bool:
    """Whether a parsed JSON value holds a NUL character in any string inside it."""
    if isinstance(value, str):
        return "\x00" in value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(contains_nul(item) for item in items)
