"""Recognising `/imagine <prompt>`: one function for the web chat and the messaging apps."""

from __future__ import annotations

import pytest

from imagine.commands import imagine_prompt


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("/imagine a red bicycle", "a red bicycle"),
        ("  /IMAGINE   a red\n bicycle  ", "a red bicycle"),
        ("/imagine@assistant_bot a red bicycle", "a red bicycle"),
        ("/imagine", ""),
        ("/imagine   ", ""),
    ],
)
def test_the_command_gives_its_prompt(text: str, prompt: str) -> None:
    assert imagine_prompt(text) == prompt


@pytest.mark.parametrize("text", ["", "imagine a red bicycle", "/imagines a red bicycle", "tell me /imagine a cat"])
def test_other_text_is_not_the_command(text: str) -> None:
    assert imagine_prompt(text) is None
