"""Media intake: types judged by content, and every bad input refused with its own code before anything
could be stored."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy
import pytest
from PIL import Image

from core.errors import AssistantError, ErrorCode
from media.intake import (
    AAC,
    AMR,
    GIF,
    JPEG,
    MP3,
    MP4_AUDIO,
    OGG,
    PNG,
    WAV,
    WEBM,
    WEBP,
    Kind,
    accept,
    clean_photo,
    decode_voice,
    read_capped,
)
from tests.media.support import generated_audio, text_photo

MB = 1_000_000
TONE = "sine=frequency=440:sample_rate=16000"


def refusal(call: Callable[..., object], *arguments: object, **keywords: object) -> ErrorCode:
    with pytest.raises(AssistantError) as raised:
        call(*arguments, **keywords)
    return raised.value.code


def photo_bytes(image_format: str, **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, format=image_format, **save)
    return out.getvalue()


@pytest.mark.parametrize(("image_format", "expected"), [("JPEG", JPEG), ("PNG", PNG), ("GIF", GIF), ("WEBP", WEBP)])
def test_photos_are_recognised_by_their_bytes_whatever_their_name(image_format: str, expected: object) -> None:
    assert accept(photo_bytes(image_format), Kind.PHOTO, declared="holiday.png") is expected


@pytest.mark.parametrize(
    ("codec", "name", "expected"),
    [
        (("-c:a", "libopus"), "note.ogg", OGG),
        (("-c:a", "libopus"), "note.webm", WEBM),
        (("-c:a", "libmp3lame"), "note.mp3", MP3),
        (("-c:a", "aac"), "note.m4a", MP4_AUDIO),
        (("-c:a", "aac", "-f", "adts"), "note.aac", AAC),
        (("-c:a", "pcm_s16le"), "note.wav", WAV),
        (("-c:a", "libopencore_amrnb", "-ar", "8000", "-b:a", "12.2k"), "note.amr", AMR),
    ],
)
def test_voice_notes_of_every_app_are_recognised_and_decoded(
    tmp_path: Path, codec: tuple[str, ...], name: str, expected: object
) -> None:
    data = generated_audio(tmp_path, TONE, 1.5, *codec, name=name)

    media_type = accept(data, Kind.AUDIO)
    voice = decode_voice(data, media_type)

    assert media_type is expected
    assert voice.seconds == pytest.approx(1.5, abs=0.15)  # AAC and MP3 encoders pad a frame or two
    assert numpy.frombuffer(voice.pcm, "<i2").std() > 1000, "the tone was decoded as silence"


def test_a_50_mb_file_is_refused_after_reading_just_past_the_cap() -> None:
    chunk = photo_bytes("PNG").ljust(MB, b"\0")
    handed_out = 0

    def fifty_megabytes() -> Iterator[bytes]:
        nonlocal handed_out
        for _ in range(50):
            handed_out += 1
            yield chunk

    assert refusal(read_capped, fifty_megabytes(), Kind.PHOTO) is ErrorCode.FILE_TOO_LARGE
    assert handed_out == 21, "the whole upload was read before refusing it"  # 20 MiB cap, 1 MB chunks


def test_a_wrong_kind_is_refused_at_its_first_chunk() -> None:
    handed_out = 0

    def png_then_more() -> Iterator[bytes]:
        nonlocal handed_out
        for _ in range(10):
            handed_out += 1
            yield photo_bytes("PNG").ljust(MB, b"\0")

    assert refusal(read_capped, png_then_more(), Kind.AUDIO) is ErrorCode.FILE_TYPE_MISMATCH
    assert handed_out == 1


def test_a_png_named_ogg_is_refused_as_a_mismatch() -> None:
    png = photo_bytes("PNG")

    assert refusal(accept, png, Kind.PHOTO, declared="voice-note.ogg") is ErrorCode.FILE_TYPE_MISMATCH
    assert refusal(accept, png, Kind.PHOTO, declared="audio/ogg; codecs=opus") is ErrorCode.FILE_TYPE_MISMATCH
    assert refusal(accept, png, Kind.AUDIO, declared="voice-note.ogg") is ErrorCode.FILE_TYPE_MISMATCH


def test_a_zip_bomb_is_refused_by_its_signature_without_being_inflated() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("photo.jpg", b"\0" * 50 * MB)  # 50 MB of zeros in about 50 KB
    assert len(archive.getvalue()) < MB

    with pytest.raises(AssistantError) as raised:
        accept(archive.getvalue(), Kind.PHOTO, declared="photo.jpg")

    assert raised.value.code is ErrorCode.UNSUPPORTED_FILE_TYPE
    assert "ZIP" in raised.value.detail


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"", "empty"), (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "HEIC"), (b"%PDF-1.7\n" * 10, "not a photo")],
)
def test_other_files_are_refused_as_unsupported_with_a_sentence_that_says_why(data: bytes, words: str) -> None:
    with pytest.raises(AssistantError) as raised:
        accept(data, Kind.PHOTO)

    assert raised.value.code is ErrorCode.UNSUPPORTED_FILE_TYPE
    assert words in raised.value.detail


def test_a_truncated_jpeg_is_refused_as_corrupt() -> None:
    jpeg = text_photo(["Cut short"], image_format="JPEG")
    truncated = jpeg[: len(jpeg) // 2]

    assert refusal(clean_photo, truncated, accept(truncated, Kind.PHOTO)) is ErrorCode.BROKEN_FILE


def test_a_pixel_bomb_is_refused_from_its_header_before_decoding() -> None:
    side = 12_000  # 144 megapixels of one grey, a few hundred KB compressed
    rows = zlib.compressobj(9)
    compressed = b"".join(rows.compress(b"\0" + b"\x80" * side) for _ in range(side)) + rows.flush()
    bomb = _png(side, side, compressed)
    assert len(bomb) < MB

    assert refusal(clean_photo, bomb, accept(bomb, Kind.PHOTO)) is ErrorCode.IMAGE_TOO_MANY_PIXELS


def test_a_two_hour_voice_note_is_refused_from_its_header(tmp_path: Path) -> None:
    # Two hours of 1 kHz 8-bit silence: 7.2 MB, under the byte cap, written without encoding work.
    long_note = generated_audio(tmp_path, "anullsrc=r=1000:cl=mono", 7200, "-c:a", "pcm_u8", name="long.wav")

    assert refusal(decode_voice, long_note, accept(long_note, Kind.AUDIO)) is ErrorCode.AUDIO_TOO_LONG


def test_the_duration_cap_holds_for_notes_just_over_it(tmp_path: Path, settings) -> None:
    settings.MEDIA_VOICE_MAX_SECONDS = 3
    note = generated_audio(tmp_path, TONE, 4, "-c:a", "libopus", name="four-seconds.ogg")

    assert refusal(decode_voice, note, OGG) is ErrorCode.AUDIO_TOO_LONG
    assert decode_voice(generated_audio(tmp_path, TONE, 2.5, "-c:a", "libopus", name="ok.ogg"), OGG).seconds < 3


def test_a_truncated_voice_note_with_no_audio_left_is_refused_as_corrupt(tmp_path: Path) -> None:
    note = generated_audio(tmp_path, TONE, 2, "-c:a", "libopus", name="note.ogg")

    assert refusal(decode_voice, note[:60], OGG) is ErrorCode.BROKEN_FILE


def test_exif_and_gps_are_stripped_and_the_photo_is_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})  # GPS: Paris
    out = io.BytesIO()
    Image.new("RGB", (400, 200), "orange").save(out, format="JPEG", exif=exif, comment=b"shot at home")
    original = out.getvalue()
    assert b"PhoneMaker" in original

    photo = clean_photo(original, accept(original, Kind.PHOTO))

    reopened = Image.open(io.BytesIO(photo.data))
    assert (photo.width, photo.height) == reopened.size == (200, 400)
    assert not reopened.getexif()
    assert not {"comment", "exif"} & set(reopened.info)
    assert b"PhoneMaker" not in photo.data
    assert b"shot at home" not in photo.data


def test_png_metadata_is_dropped_and_png_stays_png() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Location", "52.52N 13.40E")
    out = io.BytesIO()
    Image.new("RGBA", (30, 30), (0, 0, 255, 128)).save(out, format="PNG", pnginfo=info)

    photo = clean_photo(out.getvalue(), PNG)

    assert photo.media_type is PNG
    assert b"52.52N" not in photo.data
    assert Image.open(io.BytesIO(photo.data)).mode == "RGBA"


def _png(width: int, height: int, compressed_rows: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", compressed_rows) + chunk(b"IEND", b"")


# --- scaled for the vision model (MEDIA_PHOTO_MAX_SIDE, 1120 by default) ---------------------------------


def jpeg_of(image: Image.Image, **save: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, **save)
    return out.getvalue()


def camera_photo(size: tuple[int, int]) -> Image.Image:
    """Sensor-like grain over a gradient: as hard to compress as a real photo."""
    grain = Image.effect_noise(size, 40).convert("RGB")
    return Image.blend(grain, Image.linear_gradient("L").resize(size).convert("RGB"), 0.5)


@pytest.mark.parametrize(
    ("size", "kept"),
    [
        ((4032, 3024), (1120, 840)),  # a 12-megapixel phone photo, 4:3
        ((3024, 4032), (840, 1120)),
        ((1920, 1080), (1120, 630)),  # 16:9
        ((6000, 1500), (1120, 280)),  # a panorama: the aspect is kept, not the tile layout
        ((1121, 1121), (1120, 1120)),
    ],
)
def test_a_large_photo_is_kept_with_its_longer_side_at_1120_and_its_aspect(
    size: tuple[int, int], kept: tuple[int, int]
) -> None:
    photo = clean_photo(jpeg_of(Image.new("RGB", size, "teal")), JPEG)

    assert (photo.width, photo.height) == Image.open(io.BytesIO(photo.data)).size == kept
    assert photo.image.size == size, "OCR must get the full resolution"


@pytest.mark.parametrize("size", [(800, 600), (1120, 700), (64, 48)])
def test_a_photo_that_fits_keeps_its_size(size: tuple[int, int]) -> None:
    photo = clean_photo(jpeg_of(Image.new("RGB", size, "teal")), JPEG)

    assert Image.open(io.BytesIO(photo.data)).size == (photo.width, photo.height) == size


def test_the_longer_side_follows_the_setting(settings) -> None:
    settings.MEDIA_PHOTO_MAX_SIDE = 500

    photo = clean_photo(jpeg_of(Image.new("RGB", (4032, 3024), "teal")), JPEG)

    assert (photo.width, photo.height) == (500, 375)


def test_a_phone_photo_turned_upright_is_scaled_after_and_keeps_no_exif() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the sensor's landscape is a portrait once turned
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0)})  # GPS
    original = jpeg_of(camera_photo((4032, 3024)), exif=exif)

    photo = clean_photo(original, accept(original, Kind.PHOTO))

    reopened = Image.open(io.BytesIO(photo.data))
    assert (reopened.format, reopened.size) == ("JPEG", (840, 1120))
    assert not reopened.getexif()
    assert len(photo.data) * 5 < len(original), "a twelfth of the pixels should weigh far less"


def test_scaling_averages_fine_detail_instead_of_dropping_pixels() -> None:
    # One-pixel black and white stripes: a filter that averages gives even grey at half the size, one
    # that picks pixels (nearest neighbour) gives all black or all white, or stripes again.
    stripes = Image.frombytes("L", (2240, 2240), bytes([0, 255]) * (2240 * 1120))
    out = io.BytesIO()
    stripes.save(out, format="PNG")

    photo = clean_photo(out.getvalue(), PNG)

    grey = numpy.asarray(Image.open(io.BytesIO(photo.data)).convert("L"), dtype=float)
    assert grey.shape == (1120, 1120)
    assert abs(grey.mean() - 127.5) < 10
    assert grey.std() < 12


def test_a_screenshot_png_stays_png_and_a_png_photo_becomes_the_smaller_jpeg() -> None:
    screenshot = clean_photo(text_photo(["Settings", "Wi-Fi: on"]), PNG)
    out = io.BytesIO()
    camera_photo((1600, 1200)).save(out, format="PNG")

    photo = clean_photo(out.getvalue(), PNG)

    assert screenshot.media_type is PNG
    assert Image.open(io.BytesIO(screenshot.data)).format == "PNG"
    assert photo.media_type is JPEG
    assert Image.open(io.BytesIO(photo.data)).format == "JPEG"
    assert (photo.width, photo.height) == (1120, 840)
