"""The embedded photo reading: printed text recovered by rapidocr, basic facts, and a description that
says it is OCR and never pretends to describe the scene."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from media.intake import Kind, accept
from media.ocr import main_colours, read_photo
from media.service import prepare_photo
from tests.media.support import font, text_photo

TICKET = ["Train to Lyon 14:35", "Platform 7 Coach 12", "Seat 48 Window"]
SMALL_PRINT_PX = 20  # fine print in a 4032×3024 phone photo: under 6 px once the photo is scaled to 1120


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


def test_small_print_in_a_large_photo_is_read_before_the_photo_is_scaled_down() -> None:
    image = Image.new("RGB", (4032, 3024), "white")
    ImageDraw.Draw(image).text((400, 1400), "Gate B22 closes 09:40", font=font(SMALL_PRINT_PX), fill=(20, 20, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)

    photo = prepare_photo(out.getvalue())

    kept = Image.open(io.BytesIO(photo.data))
    assert kept.size == (1120, 840)
    read = "".join(_without_spaces(line.text) for line in photo.reading.lines)
    assert "B22" in read
    assert "09:40" in read
    # At the kept size that print is a few pixels high and OCR finds nothing: the reading above came
    # from the full resolution.
    assert "09:40" not in "".join(line.text for line in read_photo(kept).lines)
