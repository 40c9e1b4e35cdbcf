"""Fitting a conversation into the model's context window.

The system prompt and the newest user message always stay. Older turns are dropped whole,
oldest first (a user message together with the answers that follow it), so that
prompt tokens + max_tokens never exceed the window and the kept history still starts with a user
turn. Counts are per message (see chat_formats: prompt counts are sums of block counts), so no
message is ever cut mid-token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model_service.chat_formats import ChatMessage


class ContextTooLong(Exception):
    """Even the system prompt and the newest message do not fit beside max_tokens."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"The prompt needs {needed} tokens but only {available} are available.")
        self.needed = needed
        self.available = available


@dataclass(frozen=True)
class FittedPrompt:
    messages: list[ChatMessage]
    prompt_tokens: int
    dropped_messages: int


def fit_to_window(
    messages: Sequence[ChatMessage],
    token_counts: Sequence[int],
    *,
    fixed_tokens: int,
    window: int,
    max_tokens: int,
    pinned: int | None = None,
) -> FittedPrompt:
    """Keep the system message (if first), the newest message, and as many recent turns as fit.

    `token_counts[i]` is the token count of `messages[i]`'s block; `fixed_tokens` counts the
    format's prefix and generation prompt. `pinned`: how many leading messages are always kept
    (the system message and what must follow it, such as a tools offer); by default the system
    message, if first.
    """
    if len(messages) != len(token_counts) or not messages:
        raise ValueError("messages and token_counts must be non-empty and of equal length.")
    if pinned is not None and not 0 <= pinned < len(messages):
        raise ValueError("pinned must leave the newest message outside the pinned head.")
    head = pinned if pinned is not None else 1 if messages[0].role == "system" and len(messages) > 1 else 0
    budget = window - max_tokens - fixed_tokens
    essential = sum(token_counts[:head]) + token_counts[-1]
    if essential > budget:
        raise ContextTooLong(needed=essential + fixed_tokens + max_tokens, available=window)

    history = range(head, len(messages) - 1)
    start = len(messages) - 1  # index of the oldest kept history message
    used = essential
    # Walk back over whole turns: a turn starts at a user message.
    turn_tokens = 0
    for index in reversed(history):
        turn_tokens += token_counts[index]
        if messages[index].role != "user":
            continue
        if used + turn_tokens > budget:
            break
        used += turn_tokens
        start = index
        turn_tokens = 0

    kept = [*messages[:head], *messages[start:]]
    return FittedPrompt(messages=kept, prompt_tokens=used + fixed_tokens, dropped_messages=len(messages) - len(kept))
