"""The operators' console: dashboard figures, conversation privacy, audited moderation actions."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from assistant.chat import moderation, services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome, BlockedTurn
from assistant.models import ModerationAction, ModerationCase, User
from assistant.ops import dashboard
from knowledge.models import Document, MemoryItem

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
    assert "in (prompt): 40</span>" in html  # counts are whole numbers, never "40.0"
    assert "out (answers): 3</span>" in html
    assert "p50: 120</span>" in html
    assert "<rect" in html


def test_charts_have_a_value_axis_with_round_gridlines_and_dated_days() -> None:
    days = dashboard.date_range(dt.date(2026, 11, 1), dt.date(2026, 11, 14))
    chart = dashboard.Chart("Messages", {"web": [0] * 13 + [7], "whatsapp": [1] * 14}, days)
    assert [tick.label for tick in chart.gridlines()] == ["0", "2", "4", "6", "8"]
    bottom, top = chart.gridlines()[0].position, chart.gridlines()[-1].position
    assert bottom == dashboard.CHART_HEIGHT - dashboard.PLOT_BOTTOM
    assert top == dashboard.PLOT_TOP
    dates = [tick.label for tick in chart.date_ticks()]
    assert len(dates) <= dashboard.MAX_DATE_LABELS
    assert dates[-1] == "Nov 14"
    (_, web), (_, whatsapp) = chart.bars()
    assert web[-1].height == pytest.approx(7 / 8 * dashboard.PLOT_HEIGHT)
    assert whatsapp[0].label == "whatsapp, 2026-11-01: 1"
    assert chart.total == {"web": 7, "whatsapp": 14}
    assert dashboard.Chart("Timings", {"p50": [90, 140]}, days[:2], summary="peak").total == {"p50": 140}


def test_a_chart_of_large_numbers_keeps_few_gridlines() -> None:
    chart = dashboard.Chart("Tokens", {"in": [12_345]}, [dt.date(2026, 11, 1)])
    assert [tick.label for tick in chart.gridlines()] == ["0", "5,000", "10,000", "15,000"]


def test_services_list_the_guard_and_imagine_beside_the_model(settings) -> None:
    settings.SAFETY_GUARD_BASE_URL = ""
    client, _ = staff_client(read_content=False, superuser=True)
    html = client.get("/admin/dashboard/").content.decode()
    assert re.findall(r'data-service="(\w+)"', html) == ["model", "guard", "imagine"]
    assert "MiniLM stand-in" in html
    assert "tiny-random" in html
    assert "no render yet" in html


def test_blocked_turns_are_charted_by_hazard_name() -> None:
    user = services.create_guest()
    start = services.start_turn(user=user, conversation_id=None, text="how do I pick a lock", client_id="b")
    blocked = BlockedTurn(stage="input", categories=["S2"], original_text="how do I pick a lock")
    outcome = AnswerOutcome(
        content="I can't help with that.", frame_ends=[23], status="blocked", finish_reason="blocked", blocked=blocked
    )
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)
    client, _ = staff_client(read_content=False, superuser=True)
    html = client.get("/admin/dashboard/").content.decode()
    assert "S2 Non-Violent Crimes: 1</span>" in html
    case = ModerationCase.objects.get()
    row = re.search(rf'<tr data-case="{case.pk}">.*?</tr>', html, re.DOTALL).group(0)
    assert "S2 Non-Violent Crimes" in row
    assert "pick a lock" not in html, "the dashboard lists cases, never what was flagged"


def test_memory_and_documents_are_counted_never_shown() -> None:
    owner = services.create_guest()
    MemoryItem.objects.create(
        owner=owner, text="has a rare condition", embedding=b"", source_channel="web", source_time=timezone.now()
    )
    Document.objects.create(owner=owner, name="lab-results.pdf", media_type="application/pdf", size=1)
    client, _ = staff_client(read_content=False, superuser=True)

    html = client.get("/admin/dashboard/").content.decode()

    assert "Remembered facts and uploaded documents" in html
    assert "facts: 1</span>" in html
    assert "documents: 1</span>" in html
    assert "rare condition" not in html
    assert "lab-results" not in html


def test_the_moderation_queue_names_hazards_in_words() -> None:
    case = ModerationCase.objects.create(
        kind=ModerationCase.Kind.BLOCKED_INPUT, author=services.create_guest(), categories=["S2", "jailbreak"]
    )
    client, _ = staff_client(read_content=False)

    listing = client.get("/admin/assistant/moderationcase/").content.decode()
    page = client.get(f"/admin/assistant/moderationcase/{case.pk}/change/").content.decode()

    assert "S2 Non-Violent Crimes, jailbreak" in listing
    assert "S2 Non-Violent Crimes, jailbreak" in page


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
