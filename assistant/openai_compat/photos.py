"""A photo sent to `/v1/chat/completions` as an OpenAI `image_url` content part, made the turn's
attachment exactly as a photo sent in a messaging app is (integrations/media.py).

A `data:` URL is decoded here; an http(s) link is downloaded by search's SSRF-safe fetcher (every hop's
address checked, the fetch deadline kept). Either way the bytes pass media intake's caps in this process
(read with the photo byte cap, the type sniffed from the content, a declared type of another kind
refused), and the photo is cleaned and read on the `media` worker: this process decodes no image.
"""

from __future__ import annotations

import base64
import binascii
import re

import httpx

from assistant.door import Attachment, AttachmentKind
from assistant.openai_compat.protocol import ApiError, ImageUrl
from core.errors import AssistantError
from media.intake import Kind, MediaBuffer, MediaType, accept
from media.service import prepare_photo_on_worker
from search.fetch import FetchError, SafeFetcher

PARAM = "messages"  # where the image is, for the error object: the last message's content parts
# data:[<media type>][;<parameter>…];base64,<data> (RFC 2397); only base64 data carries binary safely.
_DATA_URL = re.compile(r"data:(?P<media_type>[^;,]*)(?:;[^;,]*)*?;base64,(?P<data>.*)", re.DOTALL | re.IGNORECASE)
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})  # what intake reads


async def photo_attachment(image: ImageUrl) -> Attachment:
    """The photo's reading, as the turn's attachment. Raises ApiError: `invalid_image_url`,
    `image_download_failed`, or intake's and the worker's refusals (`file_too_large`,
    `unsupported_file_type`, `file_type_mismatch`, `image_too_many_pixels`, `broken_file`,
    `worker_unavailable`)."""
    try:
        data, media_type = _decoded(image.url) if image.url.startswith("data:") else await _downloaded(image.url)
        photo = await prepare_photo_on_worker(data, declared=media_type.mime)
    except AssistantError as error:
        raise ApiError.of(error, param=PARAM) from None
    printed = "\n".join(line.text for line in photo.reading.lines)
    return Attachment(
        AttachmentKind.PHOTO,
        photo.reading.description(),
        photo_text=printed,
        image=photo.data,  # for a vision model (MODEL_VISION_BASE_URL)
        image_type=photo.media_type.mime,
    )


def _decoded(url: str) -> tuple[bytes, MediaType]:
    found = _DATA_URL.fullmatch(url)
    if found is None:
        raise ApiError(
            400,
            "The image's data URL must be base64: data:image/png;base64,….",
            code="invalid_image_url",
            param=PARAM,
        )
    try:
        # Line breaks are allowed in base64 (MIME wraps it); any other stray character is an error.
        data = base64.b64decode("".join(found["data"].split()), validate=True)
    except binascii.Error:
        raise ApiError(
            400, "The image's data URL is not valid base64.", code="invalid_image_url", param=PARAM
        ) from None
    return data, accept(data, Kind.PHOTO, declared=found["media_type"])


async def _downloaded(url: str) -> tuple[bytes, MediaType]:
    async with SafeFetcher() as fetcher:
        try:
            return await fetcher.fetch_with(url, PHOTO_TYPES, _read_photo)
        except FetchError as error:
            raise ApiError(
                400, f"The image could not be downloaded: {error}.", code="image_download_failed", param=PARAM
            ) from None


async def _read_photo(url: httpx.URL, response: httpx.Response) -> tuple[bytes, MediaType]:
    """The body read with the photo cap (stopped just past it) and judged by its content; the
    content type the server declared is only compared with it."""
    if response.status_code >= 400:
        raise FetchError(f"{url.host} answered with HTTP {response.status_code}")
    buffer = MediaBuffer(Kind.PHOTO)
    async for chunk in response.aiter_bytes():
        buffer.add(chunk)
    data, _ = buffer.finish()
    declared = response.headers.get("content-type", "").partition(";")[0].strip()
    return data, accept(data, Kind.PHOTO, declared=declared)
