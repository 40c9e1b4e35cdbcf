"""The embedded photo reading: printed text recovered by rapidocr, basic facts, and a description that
says it is OCR and never pretends to describe the scene."""

from __future__ import annotations

import io

from PIL import Image

from media.intake import Kind, accept
from media.ocr import main_colours
from media.service import prepare_photo
from tests.media.support import text_photo

TICKET = ["Train to Lyon 14:35", "Platform 7 Coach 12", "Seat 48 Window"]


def test_printed_text_in_a_photo_is_read_line_by_line() -> None:
    photo = prepare_photo(text_photo(TICKET, image_format="JPEG"), declared="ticket.jpg")

    # PP-OCR sometimes drops the space between two words ("Seat48Window"); every character is there.
    read = [_without_spaces(line.text) for line in photo.reading.lines]
    assert read == [_without_spaces(line) for line in TICKET]
    assert all(line.confidence >= 0.9 for line in photo.reading.lines)


def test_the_description_says_it_is_ocr_and_carries_the_text_and_facts() -> None:
    description = prepare_photo(text_photo(TICKET)).reading.description()

    assert description.startswith("[Photo, read by OCR")
    assert "not what it shows" in description
    assert "1000×390 pixels, landscape" in description
    assert "white" in description
    for line in TICKET:
        assert _without_spaces(line) in _without_spaces(description)


def test_a_photo_without_text_says_so_instead_of_inventing_any() -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 500), (40, 160, 60)).save(out, format="PNG")

    reading = prepare_photo(out.getvalue()).reading

    assert reading.lines == ()
    assert reading.orientation == "portrait"
    assert reading.description().endswith("No printed text was found in it.")
    assert reading.colours == ("green",)


def test_main_colours_are_named_largest_first() -> None:
    image = Image.new("RGB", (100, 100), (250, 250, 250))
    image.paste((200, 30, 30), (0, 0, 100, 30))  # a red band over 30 % of the picture

    assert main_colours(image) == ("white", "red")


def test_the_stored_photo_is_the_cleaned_one() -> None:
    photo = prepare_photo(text_photo(TICKET, image_format="WEBP"))

    assert accept(photo.data, Kind.PHOTO).mime == photo.media_type.mime == "image/jpeg"


def _without_spaces(text: str) -> str:
    return "".join(text.split())
