"""Restyles asked in plain words, in the UI's eight languages, and what stays a question."""

from __future__ import annotations

import pytest

from imagine.restyle import restyle_instruction


@pytest.mark.parametrize(
    ("text", "style"),
    [
        ("make it watercolour", "watercolour"),
        ("Please make it look like a Van Gogh painting.", "a Van Gogh painting"),
        ("Can you turn this into a pencil sketch?", "a pencil sketch"),
        ("turn me into a superhero", "a superhero"),
        ("make me look older", "older"),
        ("give it a sunset background", "a sunset background"),
        ("change the picture to black and white", "black and white"),
        ("restyle it as pixel art", "pixel art"),
        ("Mach daraus ein Aquarell", "ein Aquarell"),
        ("transforme-la en aquarelle", "aquarelle"),
        ("conviértela en acuarela", "acuarela"),
        ("trasformala in acquerello", "acquerello"),
        ("transforme em aquarela", "aquarela"),
        ("इसे वॉटरकलर बना दो", "वॉटरकलर"),
        ("ทำให้เป็นภาพสีน้ำ", "ภาพสีน้ำ"),
    ],
)
def test_a_restyle_in_plain_words_gives_what_the_picture_should_become(text: str, style: str) -> None:
    assert restyle_instruction(text) == style


@pytest.mark.parametrize(
    "text",
    [
        "what is this?",
        "make it shorter",  # a photo of a letter is asked about its words as often as restyled
        "turn it into a poem",
        "change it to English",
        "make a list of what you see",
        "make me a sandwich",
        "make it",
        "/imagine edit at night",  # the command is read by imagine.commands
    ],
)
def test_anything_else_stays_a_question(text: str) -> None:
    assert restyle_instruction(text) is None
