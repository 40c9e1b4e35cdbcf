"""A person's data is theirs: the export holds everything of theirs and nothing of anyone else's;
deleting the account leaves no row, file or cache key behind."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from assistant.chat import services
from assistant.chat.attachments import MessageAttachment, store
from assistant.models import Conversation, Message, ModerationAction, User
from core import limits
from imagine.models import ImagineImage
from knowledge.models import Document, DocumentChunk, MemoryItem

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"picture bytes"
JPEG = b"\xff\xd8\xff\xe0" + b"photo bytes"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return tmp_path


def person_with_everything(name: str) -> User:
    user = User.objects.create_user(name, password="correct horse battery staple")
    services.start_turn(user=user, conversation_id=None, text=f"{name}'s question about tides", client_id=f"{name}-1")
    MemoryItem.objects.create(
        owner=user, text=f"{name} lives in Lisbon", embedding=b"", source_channel="web", source_time=timezone.now()
    )
    document = Document.objects.create(
        owner=user, name=f"{name}-report.pdf", media_type="application/pdf", size=10, pages=3, status="ready"
    )
    DocumentChunk.objects.create(
        document=document, page=3, ordinal=0, text=f"{name}'s page three", tokens=4, embedding=b""
    )
    image = ImagineImage(owner=user, prompt=f"{name}'s lighthouse", seed=1, width=64, height=64)
    image.file.save("picture.png", ContentFile(PNG))
    store(
        owner=user, kind=MessageAttachment.Kind.PHOTO, data=JPEG, media_type="image/jpeg", reading=f"{name}'s receipt"
    )
    return user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_export_holds_everything_of_the_person_and_nothing_of_anyone_else() -> None:
    ana = person_with_everything("ana")
    person_with_everything("bruno")

    response = signed_in(ana).get("/api/account/export")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode("utf-8", "replace")

    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment;")
    conversations = json.loads(archive.read("conversations.json"))
    assert conversations[0]["messages"][0]["text"] == "ana's question about tides"
    assert json.loads(archive.read("memory.json"))[0]["text"] == "ana lives in Lisbon"
    assert json.loads(archive.read("documents.json"))[0]["passages"] == [{"page": 3, "text": "ana's page three"}]
    assert [archive.read(n) for n in archive.namelist() if n.startswith("images/")] == [PNG]
    [photo] = json.loads(archive.read("attachments/attachments.json"))
    assert (photo["kind"], photo["channel"], photo["read"]) == ("photo", None, "ana's receipt")
    assert archive.read(photo["file"]) == JPEG
    assert "bruno" not in everything  # bruno has the same kinds of data, and none of it is here


def test_deleting_the_account_leaves_no_row_file_or_cache_key(
    media_root: Path, django_capture_on_commit_callbacks
) -> None:
    ana, bruno = person_with_everything("ana"), person_with_everything("bruno")
    limits.record_tokens(ana.pk, 50)
    limits.hit("message", f"user:{ana.pk}", limits.Rate.parse("100/60"))
    client = signed_in(ana)

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the rows are gone
        response = client.delete("/api/account", data={"confirm": "ana"}, content_type="application/json")

    assert response.status_code == 204
    assert not User.objects.filter(username="ana").exists()
    for model in (Conversation, MemoryItem, Document, ImagineImage, MessageAttachment):
        assert model.objects.count() == 1, model  # bruno's only
    assert Message.objects.exclude(conversation__owner=bruno).count() == 0
    assert DocumentChunk.objects.exclude(document__owner=bruno).count() == 0
    assert sorted(p.parent.name for p in media_root.rglob("*.png")) == [str(bruno.pk)]
    assert sorted(p.parent.name for p in media_root.rglob("*.jpeg")) == [str(bruno.pk)]
    assert limits.tokens_used_today(ana.pk) == 0
    assert not [key for key in _user_keys(ana.pk) if cache.get(key) is not None]
    assert client.get("/api/settings").status_code == 401  # the session ended


def test_a_deletion_must_name_the_account() -> None:
    ana = person_with_everything("ana")

    response = signed_in(ana).delete("/api/account", data={"confirm": "someone"}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_frame"
    assert User.objects.filter(pk=ana.pk).exists()
    assert Conversation.objects.filter(owner=ana).exists()


def test_staff_with_moderation_actions_on_record_are_refused_and_lose_nothing() -> None:
    moderator = person_with_everything("mod")
    ModerationAction.objects.create(actor=moderator, action=ModerationAction.Action.READ_CONTENT, note="case 1")

    response = signed_in(moderator).delete("/api/account", data={"confirm": "mod"}, content_type="application/json")

    assert response.status_code == 403
    assert User.objects.filter(pk=moderator.pk).exists()
    assert (
        ImagineImage.objects.filter(owner=moderator)
        .get()
        .file.storage.exists(ImagineImage.objects.get(owner=moderator).file.name)
    )


def _user_keys(user_id: int) -> list[str]:
    return [f"quota:{user_id}:{timezone.now().date().isoformat()}", f"guest-ip:{user_id}"]
