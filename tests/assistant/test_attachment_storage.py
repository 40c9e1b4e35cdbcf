"""Photos and voice recordings kept in Django's storage (assistant/chat/attachments.py): one file per
attachment under its owner's folder, served to its owner only, gone from the disk with its row however
the row goes (its conversation over REST, its account, a temporary chat ending), kept when the deletion
rolls back, and dropped when the input check refuses its turn (the reading and the SHA-256 stay). The
data migration moves bytes kept in the database into the storage and back."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from pytest_django.fixtures import Settings

from assistant.chat import services
from assistant.chat.account import delete_account
from assistant.chat.attachments import MessageAttachment, drop_refused, keep_with, keep_with_turn, store
from assistant.door import TurnRequest, answer_in_full
from assistant.engine.capabilities import default_capabilities
from assistant.engine.pipeline import Attachment, AttachmentKind
from assistant.engine.recorder import mark_interrupted
from assistant.models import Channel, Message, ModerationCase, User
from safety.guard import content_guard
from tests.assistant.test_door import Socket
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

JPEG = b"\xff\xd8\xff\xe0" + b"a cleaned photo"
OGG = b"OggS" + b"a voice note"
READING = "[Photo, read by OCR]\nText found in the photo:\nGate B22"
BEFORE, AFTER = ("assistant", "0012_message_photo_reading"), ("assistant", "0013_message_attachments_in_storage")


@pytest.fixture(autouse=True)
def media_root(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return tmp_path


@pytest.fixture
def person() -> User:
    return services.create_guest()


def photo_of(user: User, client_id: str | None = None) -> MessageAttachment:
    return store(
        owner=user,
        kind=MessageAttachment.Kind.PHOTO,
        data=JPEG,
        media_type="image/jpeg",
        reading=READING,
        photo_text="Gate B22",
        client_id=client_id,
    )


def on_disk(media_root: Path, attachment: MessageAttachment) -> Path:
    return media_root / attachment.file.name


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sent_in_a_conversation(user: User, client_id: str = "q1") -> tuple[MessageAttachment, int]:
    """A photo kept with a stored user message whose answer has ended; the conversation's id."""
    start = services.start_turn(user=user, conversation_id=None, text="[photo] where?", client_id=client_id)
    mark_interrupted(answer_id=start.answer.pk)
    attachment = photo_of(user)
    keep_with(attachment, message_id=start.user_message.pk)
    attachment.refresh_from_db()
    return attachment, start.conversation.pk


def delete_then_fail(user: User, conversation_id: int) -> None:
    with transaction.atomic():
        services.delete_conversation(user=user, conversation_id=conversation_id)
        raise RuntimeError("the request failed after the deletion")


def files_in(media_root: Path) -> list[Path]:
    return [path for path in media_root.rglob("*") if path.is_file()]


# --- kept -------------------------------------------------------------------------------------------------


def test_a_file_is_kept_under_its_owner_with_an_unguessable_name(person: User, media_root: Path) -> None:
    attachment = photo_of(person)
    again = photo_of(person)

    folder, name = attachment.file.name.rsplit("/", 1)
    assert folder == f"attachments/{person.pk}"
    assert name.endswith(".jpeg")
    assert len(name.removesuffix(".jpeg")) == 32  # 128 random bits in hex
    assert again.file.name != attachment.file.name
    assert on_disk(media_root, attachment).read_bytes() == JPEG
    assert attachment.sha256 == hashlib.sha256(JPEG).hexdigest()


def test_a_client_id_kept_before_gives_the_same_attachment(person: User, media_root: Path) -> None:
    first = photo_of(person, client_id="evt-1")
    again = photo_of(person, client_id="evt-1")  # a messaging reply run again

    assert again.pk == first.pk
    assert [p.name for p in media_root.rglob("*.jpeg")] == [first.file.name.rsplit("/", 1)[1]]


def test_kept_with_the_turn_it_started_or_deleted_when_none_was_stored(person: User, media_root: Path) -> None:
    start = services.start_turn(user=person, conversation_id=None, text="[photo]", client_id="evt-1")
    answered = photo_of(person, client_id="evt-1")
    refused = photo_of(person, client_id="evt-2")  # its turn was refused before it was stored (a limit)

    keep_with_turn(answered, conversation_id=start.conversation.pk)
    keep_with_turn(refused, conversation_id=start.conversation.pk)

    answered.refresh_from_db()
    assert answered.message_id == start.user_message.pk
    assert not MessageAttachment.objects.filter(pk=refused.pk).exists()
    assert files_in(media_root) == [on_disk(media_root, answered)]


def test_the_file_is_served_to_its_owner_only(person: User) -> None:
    attachment = photo_of(person)
    url = f"/api/attachments/{attachment.pk}/file"

    served = signed_in(person).get(url)
    stranger = signed_in(services.create_guest()).get(url)

    assert (served.status_code, served["Content-Type"], served["X-Content-Type-Options"]) == (
        200,
        "image/jpeg",
        "nosniff",
    )
    assert served["Cache-Control"] == "private, max-age=3600"
    assert b"".join(served.streaming_content) == JPEG
    assert (stranger.status_code, stranger.json()["error"]["code"]) == (404, "not_found")


# --- deleted with its row ---------------------------------------------------------------------------------


def test_deleting_the_conversation_over_rest_deletes_the_file(person: User, media_root: Path) -> None:
    attachment, conversation_id = sent_in_a_conversation(person)
    kept = on_disk(media_root, attachment)
    assert kept.exists()

    response = signed_in(person).delete(f"/api/conversations/{conversation_id}")

    assert response.status_code == 204
    assert not MessageAttachment.objects.exists()
    assert not kept.exists()


def test_deleting_the_account_deletes_its_files_and_no_one_elses(person: User, media_root: Path) -> None:
    attachment, _ = sent_in_a_conversation(person)
    unsent = photo_of(person)
    other = photo_of(services.create_guest())

    delete_account(person)

    assert not on_disk(media_root, attachment).exists()
    assert not on_disk(media_root, unsent).exists()
    assert on_disk(media_root, other).exists()
    assert list(MessageAttachment.objects.values_list("pk", flat=True)) == [other.pk]


def test_a_deletion_rolled_back_keeps_the_file(person: User, media_root: Path) -> None:
    attachment, conversation_id = sent_in_a_conversation(person)

    with pytest.raises(RuntimeError):
        delete_then_fail(person, conversation_id)

    assert MessageAttachment.objects.filter(pk=attachment.pk).exists()
    assert on_disk(media_root, attachment).read_bytes() == JPEG


async def test_a_temporary_chat_ending_deletes_its_files(model: FakeOpenAI, media_root: Path) -> None:
    person = await sync_to_async(services.create_guest)()
    async with Socket(person) as socket:
        await socket.send({"type": "message", "text": "[photo] where?", "client_id": "t1", "temporary": True})
        ack = (await socket.until_done())[0]
        attachment = await sync_to_async(photo_of)(person)
        await sync_to_async(keep_with)(attachment, message_id=ack["user_message_id"])
        assert files_in(media_root) != []
    for _ in range(50):  # the deletion runs on after the socket is gone
        if not files_in(media_root):
            break
        await asyncio.sleep(0.1)

    assert files_in(media_root) == []
    assert not await MessageAttachment.objects.aexists()


# --- refused by the input check ----------------------------------------------------------------------------


def test_a_refused_turn_drops_the_file_found_by_message_or_by_claim(person: User, media_root: Path) -> None:
    linked, _ = sent_in_a_conversation(person, client_id="q1")
    claimed = photo_of(person, client_id="q2")  # the channel has not linked it yet
    start = services.start_turn(user=person, conversation_id=None, text="[photo]", client_id="q2")
    elsewhere = photo_of(services.create_guest(), client_id="q2")  # someone else's client id

    drop_refused(question=Message.objects.get(pk=linked.message_id))
    drop_refused(question=start.user_message)

    for attachment in (linked, claimed):
        attachment.refresh_from_db()
        assert (attachment.refused, attachment.file.name) == (True, "")
        assert (attachment.reading, attachment.sha256) == (READING, hashlib.sha256(JPEG).hexdigest())
    assert sorted(p.name for p in media_root.rglob("*.jpeg")) == [elsewhere.file.name.rsplit("/", 1)[1]]
    served = signed_in(person).get(f"/api/attachments/{linked.pk}/file")
    assert (served.status_code, served.json()["error"]["code"]) == (404, "not_found")


async def test_a_photo_the_input_check_refuses_is_not_kept(
    model: FakeOpenAI, settings: Settings, media_root: Path
) -> None:
    person = await sync_to_async(services.create_guest)()
    attachment = await sync_to_async(photo_of)(person, client_id="g1")
    turn = Attachment(AttachmentKind.PHOTO, READING, photo_text="Gate B22", image=JPEG, image_type="image/jpeg")
    request = TurnRequest.with_attachment(turn, channel=Channel.WHATSAPP, user=person, client_id="g1")
    async with FakeGuard(default=GuardReply(text="unsafe\nS1")) as guard:
        settings.SAFETY_CHECKS = True
        settings.SAFETY_GUARD_BASE_URL = guard.base_url
        content_guard.cache_clear()
        default_capabilities.cache_clear()
        try:
            outcome = await answer_in_full(request)
        finally:
            content_guard.cache_clear()

    assert outcome.status == Message.Status.BLOCKED
    case = await ModerationCase.objects.select_related("message").aget()
    assert (case.kind, case.categories) == (ModerationCase.Kind.BLOCKED_INPUT, ["S1"])
    await attachment.arefresh_from_db()
    assert attachment.refused
    assert attachment.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert case.message.photo_reading == READING
    assert files_in(media_root) == []


# --- the data migration ------------------------------------------------------------------------------------


def test_the_migration_moves_bytes_into_the_storage_and_back(media_root: Path) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old_state = executor.loader.project_state([BEFORE]).apps
    owner = old_state.get_model("assistant", "User").objects.create(username="ana")
    old_state.get_model("assistant", "WebAttachment").objects.create(
        owner=owner, kind="voice", data=OGG, media_type="audio/ogg", reading="hello"
    )

    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    moved = executor.loader.project_state([AFTER]).apps.get_model("assistant", "MessageAttachment").objects.get()
    file = media_root / moved.file.name
    assert (moved.file.name.startswith(f"attachments/{owner.pk}/"), file.read_bytes()) == (True, OGG)
    assert moved.sha256 == hashlib.sha256(OGG).hexdigest()

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    back = executor.loader.project_state([BEFORE]).apps.get_model("assistant", "WebAttachment").objects.get()
    assert bytes(back.data) == OGG
    assert not file.exists()

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
