"""What a prompt must be before anything is rendered: not empty, not too long, and allowed by the
same input safety check as chat (the `safety` app's content guard), under the same rules: none
when SAFETY_CHECKS is off, the same counters, the same failure policy when the guard cannot answer.
A refused submission opens a moderation case through IMAGINE_ON_BLOCKED_PROMPT (a dotted path:
Imagine knows no moderation queue)."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.utils.module_loading import import_string

from core.db import database_sync_to_async
from core.errors import AssistantError, ErrorCode
from core.metrics import count_verdict
from imagine.conf import imagine_settings
from safety.conf import safety_settings

BLOCKED_DETAIL = "I can't create that image. Try describing something else."
SAFETY_UNAVAILABLE_DETAIL = (
    "Our safety check is unavailable right now, so we can't create images. Try again in a moment."
)


# The safety counters' `stage` label for each kind of check.
PREVIEW_STAGE = "imagine_preview"
SUBMITTED_STAGE = "imagine"


def clean_prompt(prompt: str) -> str:
    cleaned = " ".join(prompt.split())
    if not cleaned:
        raise AssistantError(ErrorCode.EMPTY_PROMPT, "Describe the image you want first.")
    limit = imagine_settings().max_prompt_chars
    if len(cleaned) > limit:
        raise AssistantError(ErrorCode.PROMPT_TOO_LONG, f"A prompt has at most {limit} characters.")
    return cleaned


def clean_instruction(instruction: str) -> str:
    """An edit's instruction ("make it watercolour"): a prompt's limits, its own sentence when empty."""
    if not instruction.split():
        raise AssistantError(ErrorCode.EMPTY_PROMPT, "Say how to change the picture, e.g. “make it watercolour”.")
    return clean_prompt(instruction)


async def check_prompt(prompt: str, *, submitted_by: int | None = None) -> str:
    """The cleaned prompt, if it may be rendered; else AssistantError `blocked` or `safety_unavailable`.
    `submitted_by`: the user asking for a final render, whose refused prompt opens a moderation case;
    None for a preview, checked as the user types: a refused one is only counted, since a case for
    every keystroke would flood the queue."""
    cleaned = clean_prompt(prompt)
    if not safety_settings().checks:
        return cleaned
    verdict = await _guard().check([("user", cleaned)], agent=False)
    count_verdict(verdict, PREVIEW_STAGE if submitted_by is None else SUBMITTED_STAGE)
    if verdict.unavailable:  # `safe` is then the failure policy's answer (SAFETY_FAIL_CLOSED)
        if not verdict.safe:
            raise AssistantError(ErrorCode.SAFETY_UNAVAILABLE, SAFETY_UNAVAILABLE_DETAIL)
    elif not verdict.safe:
        if submitted_by is not None:
            await database_sync_to_async(_on_blocked_prompt)(submitted_by, cleaned, list(verdict.categories))
        raise AssistantError(ErrorCode.BLOCKED, BLOCKED_DETAIL)
    return cleaned


def _on_blocked_prompt(user_id: int, prompt: str, categories: list[str]) -> None:
    if handler := imagine_settings().on_blocked_prompt:
        import_string(handler)(user_id=user_id, prompt=prompt, categories=categories)


@cache
def _guard() -> Any:
    from safety.guard import content_guard  # imported on first use: the safety app loads its model then

    return content_guard()
