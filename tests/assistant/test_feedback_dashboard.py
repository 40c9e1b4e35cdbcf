"""The dashboard's feedback figures: thumbs up and down per day, the share of each thumbs-down
reason, and the comments, which only staff with the content permission read (each read audited)."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from assistant.chat import services
from assistant.models import MessageFeedback, ModerationAction, User
from assistant.ops import dashboard
from tests.assistant.test_admin_console import staff_client
from tests.assistant.test_sharing_and_reports_api import answered_turn

pytestmark = pytest.mark.django_db

COMMENT = "It said the moon is made of cheese"


@pytest.fixture(autouse=True)
def no_titles(settings):
    settings.ASSISTANT_MODEL_TITLES = False


def answers(user: User, count: int) -> list[int]:
    """`count` finished answers in one conversation of `user`: their ids."""
    first = answered_turn(user, "question 0", "answer 0")
    rest = [answered_turn(user, f"question {n}", f"answer {n}", first.conversation.pk) for n in range(1, count)]
    return [first.answer.pk, *(start.answer.pk for start in rest)]


def rated_yesterday(answer_id: int) -> None:
    yesterday = timezone.now() - dt.timedelta(days=1)
    MessageFeedback.objects.filter(message_id=answer_id).update(updated_at=yesterday)


@pytest.fixture
def ratings() -> User:
    """Today: one up, two down (one "not accurate" with a comment, one without a reason);
    yesterday: one down "not accurate"."""
    person = services.create_guest()
    up, down_commented, down_bare, down_yesterday = answers(person, 4)
    give = services.give_feedback
    give(user=person, message_id=up, rating="up")
    give(user=person, message_id=down_commented, rating="down", reason="not_accurate", comment=COMMENT)
    give(user=person, message_id=down_bare, rating="down")
    give(user=person, message_id=down_yesterday, rating="down", reason="not_accurate")
    rated_yesterday(down_yesterday)
    return person


def test_the_feedback_chart_counts_thumbs_per_day(ratings: User) -> None:
    today = timezone.now().date()
    days = dashboard.date_range(today - dt.timedelta(days=2), today)

    chart = next(chart for chart in dashboard.charts(days) if chart.title == "Answer feedback")

    assert chart.series == {"thumbs up": [0, 0, 1], "thumbs down": [0, 1, 2]}
    assert chart.legend() == [(1, "thumbs up", 1), (2, "thumbs down", 3)]


def test_a_changed_mind_moves_to_its_new_rating_and_day(ratings: User) -> None:
    today = timezone.now().date()
    days = dashboard.date_range(today - dt.timedelta(days=1), today)
    yesterdays = MessageFeedback.objects.get(updated_at__date=today - dt.timedelta(days=1))

    services.give_feedback(user=ratings, message_id=yesterdays.message_id, rating="up")

    chart = next(chart for chart in dashboard.charts(days) if chart.title == "Answer feedback")
    assert chart.series == {"thumbs up": [0, 2], "thumbs down": [0, 2]}


def test_no_feedback_in_the_range_says_so() -> None:
    today = timezone.now().date()
    chart = next(chart for chart in dashboard.charts([today]) if chart.title == "Answer feedback")
    assert chart.series == {}
    assert dashboard.thumbs_down_reasons([today]) == []


def test_thumbs_down_reasons_are_shared_out_in_whole_percents(ratings: User) -> None:
    today = timezone.now().date()

    shares = dashboard.thumbs_down_reasons(dashboard.date_range(today - dt.timedelta(days=1), today))

    assert shares == [
        dashboard.ReasonShare("not accurate", 2, 67),
        dashboard.ReasonShare("no reason given", 1, 33),
    ]


def test_staff_without_the_content_permission_see_counts_only(ratings: User) -> None:
    client, _ = staff_client(read_content=False)

    html = client.get("/admin/dashboard/").content.decode()

    assert "Answer feedback" in html
    assert "thumbs up: 1</span>" in html
    assert "thumbs down: 3</span>" in html
    row = re.search(r'<tr data-reason="not accurate">.*?</tr>', html, re.DOTALL).group(0)
    assert "<td>2</td>" in row
    assert "67%" in row
    assert COMMENT not in html
    assert "need the content permission" in html
    assert not ModerationAction.objects.exists()


def test_staff_with_the_content_permission_read_comments_and_each_read_is_audited(ratings: User) -> None:
    client, staff = staff_client(read_content=True)

    html = client.get("/admin/dashboard/").content.decode()

    assert COMMENT in html
    assert html.count("<tr data-feedback=") == 1  # only ratings with a comment are listed
    audit = ModerationAction.objects.get()
    commented = MessageFeedback.objects.exclude(comment="").get()
    assert (audit.actor, audit.action, audit.target) == (staff, "read_content", ratings)
    assert audit.note == f"feedback comment {commented.pk} on answer {commented.message_id}"
