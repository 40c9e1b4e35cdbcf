"""Imagine's operations, shared by the WebSocket consumer, the REST API and the chat: check a prompt,
render a final image and keep it, edit (restyle) an image or a photo the person sent, animate an
image. Renders run on the imagine worker (imagine/tasks.py), which also decodes every picture it edits:
this process never decodes an image. Files are written here, through Django's storage API, so the
worker needs no database or storage.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.core import signing
from django.core.files.base import ContentFile
from django.urls import reverse

from core import limits
from core.db import database_sync_to_async
from core.errors import AssistantError, ErrorCode
from imagine import selectors
from imagine.conf import imagine_settings
from imagine.models import ImagineImage
from imagine.scheduler import run_task
from imagine.schemas import ImagineImageOut
from imagine.sizes import round_to_multiple


@dataclass(frozen=True)
class Size:
    name: str
    width: int
    height: int

    def final(self) -> Size:
        scale = imagine_settings().final_scale
        return Size(self.name, round_to_multiple(self.width * scale), round_to_multiple(self.height * scale))


def size_named(name: str | None) -> Size:
    name = name or imagine_settings().default_size
    sizes = imagine_settings().sizes
    if name not in sizes:
        known = ", ".join(sorted(sizes))
        raise AssistantError(ErrorCode.UNKNOWN_SIZE, f"Unknown size {name!r}; choose one of: {known}.")
    width, height = sizes[name]
    return Size(name, width, height)


def take_rate_token(user_id: int) -> float:
    """0 when the user may send a prompt now, else seconds until the next one may be sent.
    A fixed one-second window per user in the shared cache (atomic add + incr)."""
    now = time.time()
    window = math.floor(now)
    prompts = limits.count(f"imagine:{user_id}:rate:{window}", timeout=2)
    if prompts is None or prompts <= imagine_settings().prompts_per_second:
        return 0.0
    return window + 1 - now


def check_render_limits(user_id: int, ip: str | None) -> None:
    """Final renders and animations count against the site's per-user and per-IP Imagine limits
    (RATE_LIMIT_IMAGINE_*; previews have their own per-second latest-wins limit above)."""
    limits.hit_both("imagine", user_id=user_id, ip=ip)


def file_url(image: ImagineImage, name: str) -> str:
    return reverse("imagine-file", kwargs={"image_id": image.pk, "name": name})


PUBLIC_LINK_SALT = "imagine.public-file"
PUBLIC_LINK_SECONDS = 7 * 24 * 3600  # messaging apps fetch the file once, soon after it is sent


def public_file_url(image: ImagineImage, name: str, base_url: str) -> str:
    """An absolute, signed link to one file, for apps that fetch it without a session (WhatsApp,
    Messenger, Instagram, Telegram). Valid for PUBLIC_LINK_SECONDS; nothing else is reachable by it."""
    token = signing.dumps([image.pk, name], salt=PUBLIC_LINK_SALT)  # URL-safe: no "/" in it
    return base_url.rstrip("/") + reverse("imagine-public-file", kwargs={"token": token})


def file_for_public_link(token: str) -> tuple[ImagineImage, str]:
    """The image and file name a public link names; AssistantError NOT_FOUND when forged or expired."""
    try:
        image_id, name = signing.loads(token, salt=PUBLIC_LINK_SALT, max_age=PUBLIC_LINK_SECONDS)
        return ImagineImage.objects.get(pk=int(image_id)), str(name)
    except (signing.BadSignature, ValueError, TypeError, ImagineImage.DoesNotExist):
        raise AssistantError(ErrorCode.NOT_FOUND, "That link does not exist or has expired.") from None


# The files of each kind: name in the URL → model field.
FILE_FIELDS = {
    ImagineImage.Kind.IMAGE: {"image.png": "file"},
    ImagineImage.Kind.CLIP: {"clip.mp4": "file", "clip.gif": "gif"},
}


def image_shape(image: ImagineImage) -> ImagineImageOut:
    common: dict[str, Any] = {
        "id": image.pk,
        "kind": image.kind,
        "prompt": image.prompt,
        "seed": image.seed,
        "width": image.width,
        "height": image.height,
        "created": image.created.isoformat(),
        "edited_from": image.edited_from_id,
    }
    if image.kind == ImagineImage.Kind.CLIP:
        return ImagineImageOut(**common, mp4_url=file_url(image, "clip.mp4"), gif_url=file_url(image, "clip.gif"))
    return ImagineImageOut(**common, url=file_url(image, "image.png"))


async def render_final(
    *, user_id: int, prompt: str, size: Size, seed: int, conversation_id: int | None = None
) -> tuple[ImagineImage, float]:
    """Render in full quality, store it in the user's gallery; (image, render ms)."""
    from imagine.tasks import render_final as render_final_task

    final = size.final()
    request = {"prompt": prompt, "seed": seed, "width": final.width, "height": final.height}
    request["steps"] = imagine_settings().final_steps
    result = _checked(await run_task(render_final_task, request, wait_seconds=imagine_settings().final_timeout_seconds))
    image = await database_sync_to_async(_store_image)(
        user_id=user_id,
        conversation_id=conversation_id,
        prompt=prompt,
        seed=seed,
        result=result,
    )
    return image, result["ms"]


def _checked(result: dict[str, Any]) -> dict[str, Any]:
    if not result["ok"]:
        raise AssistantError(ErrorCode(result["code"]), result["detail"])
    return result


def _store_image(
    *,
    user_id: int,
    conversation_id: int | None,
    prompt: str,
    seed: int,
    result: dict[str, Any],
    edited_from: ImagineImage | None = None,
) -> ImagineImage:
    if conversation_id is not None:
        selectors.require_conversation(user_id=user_id, conversation_id=conversation_id)
    image = ImagineImage(
        owner_id=user_id,
        conversation_id=conversation_id,
        edited_from=edited_from,
        prompt=prompt,
        seed=seed,
        width=result["width"],
        height=result["height"],
    )
    image.file.save("image.png", ContentFile(base64.b64decode(result["image"])), save=False)
    image.save()
    return image


async def animate(
    *, user_id: int, image_id: int, on_progress: Callable[[int, int], Awaitable[None]]
) -> tuple[ImagineImage, float]:
    """A looping clip (MP4 + GIF) of one of the user's images, stored beside it; (clip, ms)."""
    from imagine.tasks import animate as animate_task

    source = await database_sync_to_async(selectors.image_for)(user_id=user_id, image_id=image_id)
    if source.kind != ImagineImage.Kind.IMAGE:
        raise AssistantError(ErrorCode.NOT_FOUND, "Only images can be animated.")
    request = {"prompt": source.prompt, "seed": source.seed, "image": await sync_to_async(_read_base64)(source)}
    result = _checked(
        await run_task(
            animate_task,
            request,
            wait_seconds=imagine_settings().animate_timeout_seconds,
            on_progress=_reporting(on_progress),
        )
    )
    clip = await database_sync_to_async(_store_clip)(source=source, result=result)
    return clip, result["ms"]


async def edit(
    *,
    user_id: int,
    image_id: int,
    instruction: str,
    seed: int,
    on_progress: Callable[[int, int], Awaitable[None]] | None = None,
) -> tuple[ImagineImage, float]:
    """One of the user's images restyled by a checked `instruction` ("make it watercolour"), kept in
    the gallery beside it (same size and conversation, `edited_from` the original); (edit, ms)."""
    source = await database_sync_to_async(selectors.image_for)(user_id=user_id, image_id=image_id)
    return await _edit(await _picture_original(source), instruction=instruction, seed=seed, on_progress=on_progress)


async def edit_latest(*, user_id: int, conversation_id: int, instruction: str, seed: int) -> tuple[ImagineImage, float]:
    """The conversation's newest picture restyled, as `edit` does (`/imagine edit <instruction>`)."""
    source = await database_sync_to_async(selectors.latest_image)(user_id=user_id, conversation_id=conversation_id)
    return await _edit(await _picture_original(source), instruction=instruction, seed=seed, on_progress=None)


SENT_PHOTO_PROMPT = "a photo you sent"  # the end of an edited photo's prompt, where a picture's own prompt goes


async def edit_photo(
    *, user_id: int, conversation_id: int | None, data: bytes, instruction: str, seed: int
) -> tuple[ImagineImage, float]:
    """A photo the person sent (its stored bytes: Imagine keeps no chat files) restyled as `edit`
    restyles a picture, at about a default final render's pixels, and kept in the gallery as a picture
    of its own (`edited_from` None; the prompt ends with SENT_PHOTO_PROMPT); (edit, ms). The worker
    decodes and fits the photo; one it cannot read is refused there with BROKEN_FILE."""
    final = size_named(None).final()
    # The stored bytes, not a storage name: the imagine worker has no storage. They are few: the media
    # worker kept the photo scaled to MEDIA_PHOTO_MAX_SIDE, mostly as JPEG (a 4032×3024 phone photo:
    # 77 kB, against 345 kB for the PNG fitted from it that crossed the broker before).
    photo = {"photo": base64.b64encode(data).decode(), "pixels": final.width * final.height}
    original = _Original(owner_id=user_id, conversation_id=conversation_id, prompt=SENT_PHOTO_PROMPT, source=photo)
    return await _edit(original, instruction=instruction, seed=seed, on_progress=None)


@dataclass(frozen=True)
class _Original:
    """What an edit starts from: one of the owner's pictures (`picture`), or a photo they sent."""

    owner_id: int
    conversation_id: int | None
    prompt: str
    # What the edit task starts from (imagine/tasks.py): {"image"} a picture edited at its own size, or
    # {"photo", "pixels"} a sent photo it fits to about that many pixels first; both base64.
    source: dict[str, Any]
    picture: ImagineImage | None = None


async def _picture_original(source: ImagineImage) -> _Original:
    if source.kind != ImagineImage.Kind.IMAGE:
        raise AssistantError(ErrorCode.NOT_FOUND, "Only images can be edited.")
    image = {"image": await sync_to_async(_read_base64)(source)}
    return _Original(source.owner_id, source.conversation_id, source.prompt, image, picture=source)


async def _edit(
    original: _Original,
    *,
    instruction: str,
    seed: int,
    on_progress: Callable[[int, int], Awaitable[None]] | None,
) -> tuple[ImagineImage, float]:
    from imagine.tasks import edit as edit_task

    prompt = edited_prompt(original.prompt, instruction)
    request = {"prompt": prompt, "seed": seed, **original.source}
    result = _checked(
        await run_task(
            edit_task,
            request,
            wait_seconds=imagine_settings().final_timeout_seconds,
            on_progress=_reporting(on_progress) if on_progress else None,
        )
    )
    image = await database_sync_to_async(_store_image)(
        user_id=original.owner_id,
        conversation_id=original.conversation_id,
        prompt=prompt,
        seed=seed,
        result=result,
        edited_from=original.picture,
    )
    return image, result["ms"]


def edited_prompt(prompt: str, instruction: str) -> str:
    """What an edit renders: the instruction first, so a text encoder that reads only the first 77
    tokens (CLIP) never drops it, then the picture's own prompt, which keeps its subject. Repeated
    edits cut the oldest words to stay within IMAGINE_MAX_PROMPT_CHARS."""
    return f"{instruction}, {prompt}"[: imagine_settings().max_prompt_chars]


def _reporting(on_progress: Callable[[int, int], Awaitable[None]]) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """A task's PROGRESS states (done, total) as calls of `on_progress`."""

    async def report(info: dict[str, Any]) -> None:
        await on_progress(info["done"], info["total"])

    return report


def _read_base64(image: ImagineImage) -> str:
    with image.file.open("rb") as file:
        return base64.b64encode(file.read()).decode()


def _store_clip(*, source: ImagineImage, result: dict[str, Any]) -> ImagineImage:
    clip = ImagineImage(
        owner_id=source.owner_id,
        conversation_id=source.conversation_id,
        source=source,
        kind=ImagineImage.Kind.CLIP,
        prompt=source.prompt,
        seed=source.seed,
        width=result["width"],
        height=result["height"],
        frames=result["frames"],
        fps=result["fps"],
    )
    clip.file.save("clip.mp4", ContentFile(base64.b64decode(result["mp4"])), save=False)
    clip.gif.save("clip.gif", ContentFile(base64.b64decode(result["gif"])), save=False)
    clip.save()
    return clip
