"""What a prompt must be before anything is rendered: not empty, not too long, and allowed by the
same input safety check as chat (the `safety` app's content guard)."""

from __future__ import annotations

from functools import cache
from typing import Any

from imagine.conf import setting
from imagine.errors import ImagineError, ImagineErrorCode


def clean_prompt(prompt: str) -> str:
    cleaned = " ".join(prompt.split())
    if not cleaned:
        raise ImagineError(ImagineErrorCode.EMPTY_PROMPT, "Describe the image you want first.")
    limit = setting("IMAGINE_MAX_PROMPT_CHARS")
    if len(cleaned) > limit:
        raise ImagineError(ImagineErrorCode.PROMPT_TOO_LONG, f"A prompt has at most {limit} characters.")
    return cleaned


async def check_prompt(prompt: str) -> str:
    """The cleaned prompt, if it may be rendered."""
    cleaned = clean_prompt(prompt)
    if not await _prompt_allowed(cleaned):
        raise ImagineError(ImagineErrorCode.BLOCKED, "I can't create that image. Try describing something else.")
    return cleaned


@cache
def _guard() -> Any:
    from safety.guard import content_guard  # imported on first use: the safety app loads its model then

    return content_guard()


async def _prompt_allowed(prompt: str) -> bool:
    verdict = await _guard().check([("user", prompt)], agent=False)
    return verdict.safe
