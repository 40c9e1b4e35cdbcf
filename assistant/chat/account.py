"""A person's data is theirs: everything they made, as one archive, and the account deleted with
everything in it (rows, files, cache keys). Both are written to the audit log."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

from django.db.models.fields.files import FieldFile
from django.utils import timezone

from assistant.chat.attachments import MessageAttachment
from assistant.models import ModerationAction, User
from core import limits
from core.errors import AssistantError, ErrorCode
from imagine.models import ImagineImage
from knowledge.models import Document, MemoryItem

audit = logging.getLogger("assistant.audit")

ARCHIVE_README = """Everything this assistant keeps about your account, as of {at}:
- account.json: your account and settings
- conversations.json: every conversation with its messages (web, messaging apps, the API)
- memory.json: what the assistant remembers about you, with where each fact came from
- documents.json: your uploaded documents' names and the text read from them, by page
- images/: the pictures you made with Imagine
- attachments/: the photos and voice messages you sent (web chat and messaging apps), and
  attachments.json with what the assistant read from each (its words, a voice message's transcript);
  one the safety check refused is listed without its file, which was not kept
"""


def export_archive(user: User) -> bytes:
    """One ZIP of the person's account, conversations, memory, documents and pictures."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", ARCHIVE_README.format(at=timezone.now().isoformat()))
        for name, rows in (
            ("account.json", _account(user)),
            ("conversations.json", _conversations(user)),
            ("memory.json", _memory(user)),
            ("documents.json", _documents(user)),
        ):
            archive.writestr(name, json.dumps(rows, ensure_ascii=False, indent=1, default=str))
        for image in ImagineImage.objects.filter(owner=user).order_by("pk"):
            for stored in _files_of(image):
                with stored.open("rb") as data:
                    archive.writestr(f"images/{image.pk}-{stored.name.rsplit('/', 1)[-1]}", data.read())
        _write_attachments(archive, user)
    audit.info("account %s exported its data", user.pk)
    return buffer.getvalue()


def _write_attachments(archive: zipfile.ZipFile, user: User) -> None:
    """The photos and voice recordings sent in any channel (assistant/chat/attachments.py), each file and
    one list of what was read."""
    listed = []
    for sent in MessageAttachment.objects.filter(owner=user).select_related("message__conversation"):
        name = None
        if not sent.refused:
            name = f"attachments/{sent.pk}.{sent.media_type.rsplit('/', 1)[-1]}"
            archive.writestr(name, sent.read_file())
        channel = sent.message.conversation.channel if sent.message else None
        listed.append(
            {"file": name, "kind": sent.kind, "channel": channel, "message_id": sent.message_id, "read": sent.reading}
        )
    archive.writestr("attachments/attachments.json", json.dumps(listed, ensure_ascii=False, indent=1))


def delete_account(user: User) -> None:
    """Delete the person and everything that belongs to them. Staff whose moderation actions are on
    the record are refused: that record must outlive them, so an administrator removes them."""
    if ModerationAction.objects.filter(actor=user).exists():
        raise AssistantError(
            ErrorCode.FORBIDDEN,
            "This account has moderation actions on record; an administrator must remove it.",
        )
    user_id = user.pk
    # Conversations, messages, keys, memory, documents, pictures and attachments cascade; their files
    # leave the storage once this commits (assistant/models.py).
    user.delete()
    limits.forget_user(user_id)
    audit.info("account %s deleted itself and everything in it", user_id)


def _account(user: User) -> dict[str, Any]:
    return {
        "username": user.get_username(),
        "guest": user.is_guest,
        "joined": user.date_joined,
        "language": user.language,
        "theme": user.theme,
        "search_mode": user.search_mode,
        "api_keys": [{"name": key.name, "created": key.created_at} for key in user.api_keys.order_by("pk")],
    }


def _conversations(user: User) -> list[dict[str, Any]]:
    # The person's own thumbs up or down on an answer, with its reason and comment; null when none.
    rated = {
        f.message_id: {"rating": f.rating, "reason": f.reason, "comment": f.comment}
        for f in user.message_feedback.all()
    }
    return [
        {
            "id": conversation.pk,
            "title": conversation.title,
            "channel": conversation.channel,
            "created": conversation.created_at,
            "messages": [
                {"role": m.role, "text": m.content, "status": m.status, "at": m.created_at, "feedback": rated.get(m.pk)}
                for m in conversation.messages.order_by("pk")
            ],
        }
        for conversation in user.conversations.order_by("pk").prefetch_related("messages")
    ]


def _memory(user: User) -> list[dict[str, Any]]:
    return [
        {"text": item.text, "channel": item.source_channel, "at": item.source_time}
        for item in MemoryItem.objects.filter(owner=user).order_by("pk")
    ]


def _documents(user: User) -> list[dict[str, Any]]:
    return [
        {
            "name": document.name,
            "status": document.status,
            "uploaded": document.created,
            "passages": [{"page": c.page, "text": c.text} for c in document.chunks.order_by("page", "ordinal")],
        }
        for document in Document.objects.filter(owner=user).order_by("pk")
    ]


def _files_of(image: ImagineImage) -> list[FieldFile]:
    return [stored for stored in (image.file, image.gif) if stored]
