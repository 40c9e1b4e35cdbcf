"""The `/imagine <prompt>` command, recognised in one place for every channel: the web chat's
turns (assistant/engine/turns.py) and the messaging apps' inbound events (integrations/events.py).
`/imagine edit <instruction>` is the same command whose prompt starts with the word `edit`: it
restyles the photo it is the caption of, or the picture whose Edit button sent it (web), else the
conversation's newest picture, a render or a photo the person sent (assistant/engine/renders.py)."""

from __future__ import annotations

IMAGINE_COMMAND = "/imagine"
EDIT_WORD = "edit"


def imagine_prompt(text: str) -> str | None:
    """The prompt of an `/imagine <prompt>` message, whitespace collapsed ("" when none was given);
    None for any other text. Telegram may append the bot's name: `/imagine@name_bot <prompt>`."""
    words = text.split(maxsplit=1)
    if not words or not _is_command(words[0].lower()):
        return None
    return " ".join(words[1].split()) if len(words) > 1 else ""


def _is_command(word: str) -> bool:
    return word == IMAGINE_COMMAND or word.startswith(IMAGINE_COMMAND + "@")


def is_edit_command(text: str) -> bool:
    """Whether a message's text is `/imagine edit …` (with or without an instruction)."""
    prompt = imagine_prompt(text)
    return prompt is not None and edit_instruction(prompt) is not None


def edit_instruction(prompt: str) -> str | None:
    """The instruction of an `/imagine edit <instruction>` prompt (as `imagine_prompt` gives it; ""
    when none was given); None for a prompt to render from nothing ("editorial cartoon" included)."""
    words = prompt.split(maxsplit=1)
    if not words or words[0].lower() != EDIT_WORD:
        return None
    return words[1] if len(words) > 1 else ""
