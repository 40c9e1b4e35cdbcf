"""The pictures on a conversation's share page: served to anyone with the link while it is shared,
and only those answering a message the page shows (nothing else of the owner's gallery). Imagine
serves the file; which picture a share link reaches is the conversation's business, so it is here."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from assistant.chat.selectors import shared_conversation
from core.errors import AssistantError
from imagine.views import file_response


@require_GET
def shared_image_file(request: HttpRequest, token: str, image_id: int, name: str) -> FileResponse:
    try:
        _, messages = shared_conversation(token=token)
    except AssistantError:
        raise Http404 from None
    answer = next((message for message in messages if message.image_id == image_id), None)
    if answer is None:
        raise Http404
    return file_response(answer.image, name)
