"""The `/imagine <prompt>` command, recognised in one place for every channel: the web chat's
turns (assistant/engine/turns.py) and the messaging apps' inbound events (integrations/events.py)."""

from __future__ import annotations

IMAGINE_COMMAND = "/imagine"


def imagine_prompt(text: str) -> str | None:
    """The prompt of an `/imagine <prompt>` message, whitespace collapsed ("" when none was given);
    None for any other text. Telegram may append the bot's name: `/imagine@name_bot <prompt>`."""
    words = text.split(maxsplit=1)
    if not words or not _is_command(words[0].lower()):
        return None
    return " ".join(words[1].split()) if len(words) > 1 else ""


def _is_command(word: str) -> bool:
    return word == IMAGINE_COMMAND or word.startswith(IMAGINE_COMMAND + "@")
