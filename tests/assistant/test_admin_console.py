"""The operators' console: dashboard figures, conversation privacy, audited moderation actions."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from assistant.chat import moderation, services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome
from assistant.models import ModerationAction, ModerationCase, User

pytestmark = pytest.mark.django_db

SECRET_WORDS = "my private diary entry"


@pytest.fixture(autouse=True)
def no_titles(settings):
    settings.ASSISTANT_MODEL_TITLES = False


def staff_client(*, read_content: bool, superuser: bool = False) -> tuple[Client, User]:
    staff = User.objects.create_user(f"staff{read_content}{superuser}", password="x" * 20, is_staff=True)
    staff.is_superuser = superuser
    staff.save()
    permissions = ["view_conversation", "view_message", "view_moderationcase", "change_moderationcase"]
    if read_content:
        permissions.append("read_message_content")
    staff.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    client = Client()
    client.force_login(staff)
    return client, staff


def conversation_with_answer(first_token_ms: int = 120) -> services.TurnStart:
    user = services.create_guest()
    start = services.start_turn(user=user, conversation_id=None, text=SECRET_WORDS, client_id="a")
    outcome = AnswerOutcome(
        content="Noted.",
        frame_ends=[6],
        status="complete",
        finish_reason="stop",
        prompt_tokens=40,
        completion_tokens=3,
        first_token_ms=first_token_ms,
    )
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)
    return start


def test_dashboard_draws_the_days_figures() -> None:
    conversation_with_answer()
    client, _ = staff_client(read_content=False, superuser=True)
    page = client.get("/admin/dashboard/")
    html = page.content.decode()
    assert page.status_code == 200
    for title in (
        "Daily active users",
        "Messages per channel",
        "Tokens in / out",
        "Time to first token (ms)",
        "Blocked turns by hazard category",
        "Imagine renders",
    ):
        assert title in html
    assert "in (prompt): 40.0" in html
    assert "out (answers): 3.0" in html
    assert "p50: 120.0" in html
    assert "<rect" in html


def test_dashboard_refuses_a_bad_range_with_a_reason() -> None:
    client, _ = staff_client(read_content=False, superuser=True)
    html = client.get("/admin/dashboard/?start=yesterday").content.decode()
    assert "Dates must look like" in html


def test_dashboard_is_for_staff_only() -> None:
    assert Client().get("/admin/dashboard/").status_code == 302  # to the admin's sign-in


def test_staff_without_the_permission_see_no_content() -> None:
    start = conversation_with_answer()
    client, _ = staff_client(read_content=False)
    html = client.get(f"/admin/assistant/conversation/{start.conversation.pk}/change/").content.decode()
    assert SECRET_WORDS not in html
    assert not ModerationAction.objects.exists()


def test_reading_a_conversation_is_audited() -> None:
    start = conversation_with_answer()
    client, staff = staff_client(read_content=True)
    html = client.get(f"/admin/assistant/conversation/{start.conversation.pk}/change/").content.decode()
    assert SECRET_WORDS in html
    audit = ModerationAction.objects.get()
    assert (audit.actor, audit.action, audit.target) == (staff, "view_conversation", start.conversation.owner)


def test_queue_actions_are_audited() -> None:
    start = conversation_with_answer()
    case = moderation.report_answer(user=start.conversation.owner, message_id=start.answer.pk, reason="")
    client, staff = staff_client(read_content=True, superuser=True)
    response = client.post(
        "/admin/assistant/moderationcase/", {"action": "warn", "_selected_action": [case.pk]}, follow=True
    )
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.state == ModerationCase.State.ACTIONED
    assert ModerationAction.objects.filter(actor=staff, action="warn", case=case).exists()
