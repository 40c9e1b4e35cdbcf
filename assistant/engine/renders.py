"""Imagine inside a conversation: `/imagine <prompt>` answered with a final render (the pipeline's
`imagine` capability), `/imagine edit <instruction>` with an edit of the photo it is the caption of or
of the picture its Edit button named, or else of the conversation's newest picture (a render, or a
photo the person sent), and the link that shows that picture to its owner. The chat engine's
adapter to Imagine: the assistant knows Imagine, never the reverse (it reads a sent photo's bytes
and passes them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from assistant.chat.attachments import kept_photos, picture_shown_by
from assistant.chat.services import PICTURE_GONE
from assistant.engine.capabilities import ImageRequest
from assistant.models import Message
from core.db import database_sync_to_async
from core.errors import AssistantError, ErrorCode
from core.images import ImageRef
from imagine import selectors as imagine_selectors
from imagine import services
from imagine.commands import EDIT_WORD, edit_instruction
from imagine.models import ImagineImage
from imagine.moderation import clean_instruction, clean_prompt

# The codes a chat client knows for a render's refusal (docs/protocol.md): in a chat the prompt is
# the message's text, and a render's own failures are the service being unavailable.
_CHAT_CODES = {
    ErrorCode.EMPTY_PROMPT: ErrorCode.EMPTY_TEXT,
    ErrorCode.PROMPT_TOO_LONG: ErrorCode.TEXT_TOO_LONG,
    ErrorCode.RATE_LIMITED: ErrorCode.RATE_LIMITED,
    ErrorCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    ErrorCode.GPU_OUT_OF_MEMORY: ErrorCode.SERVICE_UNAVAILABLE,
    ErrorCode.WORKER_UNAVAILABLE: ErrorCode.SERVICE_UNAVAILABLE,
}
IMAGE_FILE = "image.png"


def _as_chat_error(exc: AssistantError) -> AssistantError:
    return AssistantError(_CHAT_CODES.get(exc.code, ErrorCode.INTERNAL), exc.detail, retry_after=exc.retry_after)


class FinalRenders:
    """Renders like the Imagine panel's Create button: the default size, a fresh seed, the same
    per-user limits, kept in the gallery and tied to the conversation."""

    def clean(self, prompt: str) -> str:
        try:
            instruction = edit_instruction(prompt)
            if instruction is None:
                return clean_prompt(prompt)
            return f"{EDIT_WORD} {clean_instruction(instruction)}"
        except AssistantError as exc:
            raise _as_chat_error(exc) from None

    async def render(self, request: ImageRequest) -> ImageRef:
        try:
            # No client address here: the chat message that asked was limited per address already.
            await sync_to_async(services.check_render_limits)(request.owner_id, None)
            image = await _make(request, seed=secrets.randbelow(2**31))
        except AssistantError as exc:
            raise _as_chat_error(exc) from None
        return image_ref(image)


async def _make(request: ImageRequest, *, seed: int) -> ImagineImage:
    """For `edit <instruction>` an edit of the picture it names (`_EditSource`), else a new picture."""
    instruction = edit_instruction(request.prompt)
    if instruction is None:
        image, _ = await services.render_final(
            user_id=request.owner_id,
            prompt=request.prompt,
            size=services.size_named(None),
            seed=seed,
            conversation_id=request.conversation_id,
        )
        return image
    source = await database_sync_to_async(_edit_source)(request)
    if source.image_id is not None:
        image, _ = await services.edit(
            user_id=request.owner_id, image_id=source.image_id, instruction=instruction, seed=seed
        )
    elif source.photo is not None:
        image, _ = await services.edit_photo(
            user_id=request.owner_id,
            conversation_id=request.conversation_id,
            data=source.photo,
            instruction=instruction,
            seed=seed,
        )
    else:
        image, _ = await services.edit_latest(
            user_id=request.owner_id, conversation_id=request.conversation_id, instruction=instruction, seed=seed
        )
    return image


@dataclass(frozen=True)
class _EditSource:
    """What an edit restyles: a render (`image_id`), a photo the person sent (its bytes), or neither:
    the conversation's newest render."""

    image_id: int | None = None
    photo: bytes | None = None


def _edit_source(request: ImageRequest) -> _EditSource:
    if request.picture_message_id is not None:
        return _picture_of(owner_id=request.owner_id, message_id=request.picture_message_id)
    return _newest_picture(request)


def _picture_of(*, owner_id: int, message_id: int) -> _EditSource:
    """The picture one message shows: an answer's render, or the photo sent with a user message."""
    message = Message.objects.filter(pk=message_id, conversation__owner_id=owner_id).first()
    shown = picture_shown_by(message, owner_id=owner_id) if message is not None else None
    if shown is None:
        raise AssistantError(ErrorCode.NOT_FOUND, PICTURE_GONE)
    return _EditSource(image_id=shown.image_id, photo=shown.photo.read_file() if shown.photo else None)


def _newest_picture(request: ImageRequest) -> _EditSource:
    """The newest photo the person sent in the conversation unless a render there is newer (then that
    render). Newest by time, on any branch, as Imagine picks its newest render: the picture the person
    last sent or was shown."""
    photo = (
        kept_photos(request.owner_id)
        .filter(message__conversation_id=request.conversation_id)
        .select_related("message")
        .order_by("-message__created_at", "-message_id")
        .first()
    )
    if photo is None:
        return _EditSource()
    render = imagine_selectors.newest_image(user_id=request.owner_id, conversation_id=request.conversation_id)
    if render is not None and render.created > photo.message.created_at:
        return _EditSource()  # a web upload is stored before it is sent: its message's time is when it was sent
    return _EditSource(photo=photo.read_file())


def image_ref(image: ImagineImage) -> ImageRef:
    """The picture as an answer shows it to its owner (a share page links it by its share token)."""
    url = services.file_url(image, IMAGE_FILE)
    return ImageRef(id=image.pk, url=url, prompt=image.prompt, width=image.width, height=image.height)


def answer_image(answer: Message) -> ImageRef | None:
    """The picture a stored answer shows, for its owner (reads the database: call it off the loop)."""
    return image_ref(answer.image) if answer.image is not None else None
