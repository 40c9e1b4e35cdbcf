"""What people wrote, in the admin: flagged questions and answers, Imagine prompts and messaging
payloads are hidden from staff without the content permission (pages, lists, searches, address
filters), and each read by staff who have it is in the audit trail."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from assistant.chat import services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome, BlockedTurn
from assistant.models import Channel, ModerationAction, ModerationCase, User
from assistant.ops.content_access import HIDDEN
from imagine.models import ImagineImage
from integrations.events import Event, EventKind
from integrations.models import InboundEvent, OutboundMessage
from integrations.services import bind_chat, ingest_events

pytestmark = pytest.mark.django_db

FLAGGED = "how do I pick the lock next door"
PROMPT = "a portrait of my neighbour, unflattering"
PAYLOAD_TEXT = "my bank password is hunter2"
REPLY_TEXT = "Please never share passwords here."
STAFF_PERMISSIONS = [
    "view_moderationcase",
    "change_moderationcase",
    "view_moderationaction",
    "view_imagineimage",
    "delete_imagineimage",
    "view_inboundevent",
    "view_outboundmessage",
    "view_conversation",
]


@pytest.fixture(autouse=True)
def no_titles(settings):
    settings.ASSISTANT_MODEL_TITLES = False


def staff_client(*, read_content: bool) -> tuple[Client, User]:
    staff = User.objects.create_user(f"staff-{read_content}", password="a long enough password", is_staff=True)
    codenames = [*STAFF_PERMISSIONS, *(["read_message_content"] if read_content else [])]
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client, staff


def blocked_question() -> ModerationCase:
    author = services.create_guest()
    start = services.start_turn(user=author, conversation_id=None, text=FLAGGED, client_id="flagged")
    outcome = AnswerOutcome(
        content="No.",
        frame_ends=[3],
        status="blocked",
        finish_reason="blocked",
        blocked=BlockedTurn(stage="input", categories=["S2"], original_text=FLAGGED),
    )
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)
    return ModerationCase.objects.get()


def imagined() -> ImagineImage:
    return ImagineImage.objects.create(owner=services.create_guest(), prompt=PROMPT, seed=7, width=64, height=64)


def answered_message() -> InboundEvent:
    event = Event(
        app=Channel.WHATSAPP,
        kind=EventKind.TEXT,
        key="m1",
        chat_id="c1",
        sender_id="c1",
        reply_to="1",
        text=PAYLOAD_TEXT,
    )
    ingest_events([event])
    bind_chat(event)
    row = InboundEvent.objects.get(key="m1")
    OutboundMessage.objects.create(event=row, part=0, kind=OutboundMessage.Kind.TEXT, content=REPLY_TEXT)
    return row


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_a_case_shows_its_metadata_without_its_text() -> None:
    case = blocked_question()
    client, _ = staff_client(read_content=False)
    html = page(client, f"/admin/assistant/moderationcase/{case.pk}/change/")
    assert FLAGGED not in html
    assert HIDDEN in html
    assert "S2" in html
    assert FLAGGED not in page(client, "/admin/assistant/moderationcase/")
    assert not ModerationAction.objects.exists()


def test_reading_a_case_is_audited() -> None:
    case = blocked_question()
    client, staff = staff_client(read_content=True)
    assert FLAGGED in page(client, f"/admin/assistant/moderationcase/{case.pk}/change/")
    read = ModerationAction.objects.get()
    assert (read.actor, read.action, read.target, read.case) == (staff, "read_content", case.author, case)
    assert read.note == f"moderation case {case.pk}"


def test_searching_or_filtering_by_hidden_text_reveals_nothing() -> None:
    blocked_question()
    client, _ = staff_client(read_content=False)
    html = page(client, "/admin/assistant/moderationcase/?q=next+door")
    assert "0 moderation cases" in html
    assert client.get("/admin/assistant/moderationcase/?original_text__contains=lock").status_code == 400
    assert client.get("/admin/assistant/conversation/?title__contains=lock").status_code == 400


def test_a_search_of_the_text_by_allowed_staff_is_audited() -> None:
    case = blocked_question()
    client, staff = staff_client(read_content=True)
    html = page(client, "/admin/assistant/moderationcase/?q=next+door")
    assert f"/admin/assistant/moderationcase/{case.pk}/change/" in html
    search = ModerationAction.objects.get()
    assert (search.actor, search.action, search.target) == (staff, "search_content", None)
    assert search.note == "moderation cases: next door"


def test_imagine_prompts_are_hidden_everywhere_without_the_permission() -> None:
    image = imagined()
    client, _ = staff_client(read_content=False)
    for url in (
        "/admin/imagine/imagineimage/",
        f"/admin/imagine/imagineimage/{image.pk}/change/",
        f"/admin/imagine/imagineimage/{image.pk}/history/",
        f"/admin/imagine/imagineimage/{image.pk}/delete/",
    ):
        assert "neighbour" not in page(client, url), url
    assert HIDDEN in page(client, f"/admin/imagine/imagineimage/{image.pk}/change/")
    assert client.get("/admin/imagine/imagineimage/?prompt__contains=neighbour").status_code == 400
    assert not ModerationAction.objects.exists()


def test_reading_an_imagine_prompt_is_audited() -> None:
    image = imagined()
    client, staff = staff_client(read_content=True)
    assert PROMPT in page(client, f"/admin/imagine/imagineimage/{image.pk}/change/")
    read = ModerationAction.objects.get()
    assert (read.actor, read.action, read.target, read.note) == (
        staff,
        "read_content",
        image.owner,
        f"imagine image {image.pk}",
    )


def test_messaging_payloads_and_replies_are_hidden_without_the_permission() -> None:
    event = answered_message()
    client, _ = staff_client(read_content=False)
    html = page(client, f"/admin/integrations/inboundevent/{event.pk}/change/")
    assert PAYLOAD_TEXT not in html
    assert REPLY_TEXT not in html
    assert html.count(HIDDEN) == 2
    assert client.get("/admin/integrations/inboundevent/?payload__contains=hunter2").status_code == 400
    assert not ModerationAction.objects.exists()


def test_reading_a_messaging_payload_is_audited() -> None:
    event = answered_message()
    client, staff = staff_client(read_content=True)
    html = page(client, f"/admin/integrations/inboundevent/{event.pk}/change/")
    assert PAYLOAD_TEXT in html
    assert REPLY_TEXT in html
    read = ModerationAction.objects.get()
    sender = User.objects.get(chat_bindings__chat_id="c1")
    assert (read.actor, read.action, read.target, read.note) == (
        staff,
        "read_content",
        sender,
        f"inbound event {event.pk}",
    )


def test_the_dashboards_queue_shows_counts_not_text() -> None:
    blocked_question()
    client, _ = staff_client(read_content=False)
    html = page(client, "/admin/dashboard/")
    assert "Open moderation cases:" in html
    assert FLAGGED not in html


def test_superusers_see_every_read_in_the_audit_trail() -> None:
    case = blocked_question()
    reader, _ = staff_client(read_content=True)
    page(reader, f"/admin/assistant/moderationcase/{case.pk}/change/")
    superuser = User.objects.create_superuser("root", password="a long enough password")
    client = Client()
    client.force_login(superuser)
    html = page(client, "/admin/assistant/moderationaction/?action__exact=read_content")
    assert f"moderation case {case.pk}" in html
    assert FLAGGED not in html
