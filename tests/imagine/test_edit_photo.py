"""Imagine edits of a photo the person sent (`services.edit_photo`): the bytes the chat passes, read
and fitted to a final render's pixels by a real imagine worker (the tiny pipeline), restyled there and
kept as a picture of its own with both watermarks."""

from __future__ import annotations

import io

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from PIL import Image, ImageDraw

from core.errors import AssistantError, ErrorCode
from imagine import services
from imagine.models import ImagineImage
from imagine.pipelines import renderer
from imagine.watermark import mark
from tests.imagine.conftest import SMALL_SIZES
from tests.imagine.test_edit import _difference, _pixels, _stored

FINAL_SIDE = round(SMALL_SIZES["square"][0] * 1.5)  # IMAGINE_FINAL_SCALE of the default size, "square"


def photo(width: int, height: int, image_format: str = "PNG") -> bytes:
    """A picture with shapes in it, as a phone might send one."""
    image = Image.new("RGB", (width, height), (40, 110, 170))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width // 2, height * 3 // 4), fill=(230, 200, 40))
    draw.rectangle((width * 3 // 5, height // 3, width * 9 // 10, height * 9 // 10), fill=(200, 40, 60))
    out = io.BytesIO()
    image.save(out, format=image_format)
    return out.getvalue()


@pytest.mark.live
@pytest.mark.usefixtures("worker", "imagine_settings")
async def test_a_sent_photo_is_restyled_into_a_picture_of_its_own_with_both_marks(make_user) -> None:
    owner = await sync_to_async(make_user)()
    sent = photo(FINAL_SIDE, FINAL_SIDE)  # already a final render's shape: edited as it is

    edited, _ = await services.edit_photo(
        user_id=owner.pk, conversation_id=None, data=sent, instruction="in watercolour", seed=5
    )

    stored = await ImagineImage.objects.aget(pk=edited.pk)
    assert (stored.owner_id, stored.edited_from_id, stored.kind) == (owner.pk, None, "image")
    assert stored.prompt == "in watercolour, a photo you sent"
    assert (stored.width, stored.height) == (FINAL_SIDE, FINAL_SIDE)
    picture, before = await sync_to_async(_stored)(stored), Image.open(io.BytesIO(sent))
    assert _difference(picture, before) > 1
    # The same edit in this process, unmarked: the worker's file is it with the marks of a final render.
    plain = renderer().edit(before, prompt=stored.prompt, seed=stored.seed, progress=lambda *_: None)
    assert np.abs(_pixels(picture) - _pixels(mark(plain))).max() <= 2  # threads round differently
    assert np.abs(_pixels(picture)[-20:, -60:] - _pixels(plain)[-20:, -60:]).max() > 60  # the visible label


@pytest.mark.live
@pytest.mark.usefixtures("worker", "imagine_settings")
@pytest.mark.parametrize(
    ("width", "height", "shape"),
    [
        (1600, 1200, (448, 320)),  # a phone's 4:3, scaled down to about FINAL_SIDE² pixels
        (2400, 300, (512, 256)),  # a panorama, cropped to 2:1 first
        (300, 2400, (256, 512)),
    ],
)
async def test_a_photo_costs_the_pixels_of_a_final_render(make_user, width, height, shape) -> None:
    owner = await sync_to_async(make_user)()

    edited, _ = await services.edit_photo(
        user_id=owner.pk, conversation_id=None, data=photo(width, height, "JPEG"), instruction="at night", seed=2
    )

    assert (edited.width, edited.height) == shape
    assert (await sync_to_async(_stored)(edited)).size == shape


@pytest.mark.live
@pytest.mark.usefixtures("worker", "imagine_settings")
@pytest.mark.parametrize(
    "data", [b"%PDF-1.7 not a photo", photo(FINAL_SIDE, FINAL_SIDE)[:300]], ids=["another kind", "cut short"]
)
async def test_bytes_that_are_not_a_photo_are_refused_by_the_worker(
    make_user, no_decoding_here: list[str], data: bytes
) -> None:
    owner = await sync_to_async(make_user)()

    with pytest.raises(AssistantError) as refused:
        await services.edit_photo(user_id=owner.pk, conversation_id=None, data=data, instruction="in blue", seed=1)

    assert (refused.value.code, refused.value.detail) == (ErrorCode.BROKEN_FILE, "That photo could not be read.")
    assert no_decoding_here == []  # the worker read the bytes, not this process
    assert not await ImagineImage.objects.filter(owner=owner).aexists()
