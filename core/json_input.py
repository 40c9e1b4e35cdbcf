"""JSON that clients send, parsed the same way on every surface (WebSocket frames, REST, `/v1`,
Imagine): malformed, too deeply nested or NUL-laden input is refused with a sentence, as a client
error, before any other code walks it."""

from __future__ import annotations

import json
from typing import Any

from core.errors import AssistantError, ErrorCode
from core.text import NUL_REFUSAL

# The deepest valid request nests a handful of levels (a `/v1` content part, a tool's JSON schema);
# anything deeper is an attack on the recursion of whatever reads it next.
MAX_DEPTH = 64


def load_client_json(raw: str | bytes) -> Any:
    """The parsed value, or AssistantError: `invalid_json` (syntax, encoding, depth) or
    `invalid_frame` (a NUL character in any string)."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AssistantError(ErrorCode.INVALID_JSON, f"The request is not valid JSON: {exc.msg}.") from None
    except UnicodeDecodeError:  # json.loads decodes bytes itself, and raises this before parsing
        raise AssistantError(ErrorCode.INVALID_JSON, "The request is not valid JSON: it is not UTF-8 text.") from None
    except RecursionError:  # nested past the interpreter's own limit: deeper than ours anyway
        raise _too_deep() from None
    _check_depth_and_text(value)
    return value


def _check_depth_and_text(value: Any) -> None:
    """Walks without recursion, so the check itself cannot be the thing that overflows."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise AssistantError(ErrorCode.INVALID_FRAME, NUL_REFUSAL)
            continue
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item if isinstance(item, list) else ()
        if children and depth >= MAX_DEPTH:
            raise _too_deep()
        pending.extend((child, depth + 1) for child in children)


def _too_deep() -> AssistantError:
    return AssistantError(ErrorCode.INVALID_JSON, f"The JSON is nested deeper than {MAX_DEPTH} levels.")
