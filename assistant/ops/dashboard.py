"""The operators' dashboard: daily figures from the database, drawn as server-side SVG bar charts
with a value axis, gridlines, dates and values, and a table of the same figures.

Everything is computed from stored rows (messages, feedback, moderation cases, Imagine renders), so the
figures are the same whichever process serves the page, and need no metrics store. Charts are
plain SVG in the template: no script, so the strict Content Security Policy holds in the admin.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import httpx
from django.apps import apps
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from assistant.models import Message, MessageFeedback, ModerationCase, User
from knowledge.models import Document, MemoryItem
from safety.conf import SafetySettings
from safety.llama_guard import hazard_name

MAX_DAYS = 366
CHART_WIDTH = 760
CHART_HEIGHT = 220
# The plot inside the chart: room on the left for the value axis, below for the dates.
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 56, 8, 14, 28
PLOT_WIDTH = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT
PLOT_HEIGHT = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
MAX_GRIDLINES = 5  # gridlines above the zero line, at most
MAX_DATE_LABELS = 10  # dates under the axis, at most; the others are every so many days
MAX_VALUE_LABELS = 40  # bars that carry their value above them, at most (beyond: tooltips and the table)
SERIES_COLOURS = 5  # dashboard.css's --series-1 … --series-5, reused in turn beyond five series


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str  # the series, day and value, shown as the bar's tooltip

    @property
    def centre(self) -> float:
        return self.x + self.width / 2

    @property
    def value_y(self) -> float:
        """The baseline of the value written above the bar."""
        return self.y - 3


@dataclass(frozen=True)
class Tick:
    position: float  # y of a gridline, or x of a date's centre
    label: str


def _colour(series_index: int) -> int:
    return series_index % SERIES_COLOURS + 1


def _nice_step(peak: int) -> int:
    """The gridlines' spacing: 1, 2 or 5 times a power of ten, so that at most MAX_GRIDLINES fit."""
    rough = max(peak, 1) / MAX_GRIDLINES
    magnitude = 10 ** max(math.floor(math.log10(rough)), 0)
    return next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= rough)


@dataclass(frozen=True)
class Chart:
    """One chart's figures: every value is a whole number (a count, tokens, milliseconds)."""

    title: str
    series: dict[str, list[int]]  # name → one value per day
    days: list[dt.date]
    summary: str = "total"  # what the legend states per series: the range's `total`, or its `peak` day

    @property
    def total(self) -> dict[str, int]:
        combine = max if self.summary == "peak" else sum
        return {name: combine(values) for name, values in self.series.items()}

    @cached_property
    def _axis(self) -> tuple[int, int]:
        """(step, top): a gridline every `step`; `top`, the largest value rounded up to a gridline."""
        peak = max((v for values in self.series.values() for v in values), default=0)
        step = _nice_step(peak)
        return step, max(step * math.ceil(peak / step), step)

    def _y(self, value: int) -> float:
        return PLOT_TOP + PLOT_HEIGHT * (1 - value / self._axis[1])

    def gridlines(self) -> list[Tick]:
        step, top = self._axis
        return [Tick(self._y(value), f"{value:,}") for value in range(0, top + 1, step)]

    def _slot(self) -> float:
        return PLOT_WIDTH / max(len(self.days), 1)

    def date_ticks(self) -> list[Tick]:
        """Dates under the axis, centred under their day; the last day always among them."""
        every = math.ceil(len(self.days) / MAX_DATE_LABELS)
        shown = range(len(self.days) - 1, -1, -every)
        return [Tick(PLOT_LEFT + (i + 0.5) * self._slot(), date_format(self.days[i], "M j")) for i in sorted(shown)]

    def legend(self) -> list[tuple[int, str, int]]:
        """(colour, name, total) per series; `colour` numbers the CSS variable --series-N."""
        return [(_colour(index), name, total) for index, (name, total) in enumerate(self.total.items())]

    def bars(self) -> list[tuple[int, list[Bar]]]:
        """(colour, bars) per series: bars grouped by day, scaled to the axis."""
        slot = self._slot()
        width = max((slot - 2) / max(len(self.series), 1) - 1, 1)
        drawn = []
        for index, (name, values) in enumerate(self.series.items()):
            bars = []
            for day_index, (day, value) in enumerate(zip(self.days, values, strict=True)):
                x = PLOT_LEFT + day_index * slot + 1 + index * (width + 1)
                top = self._y(value)
                label = f"{name}, {day.isoformat()}: {value:,}"
                bars.append(Bar(x, top, width, PLOT_TOP + PLOT_HEIGHT - top, value, label))
            drawn.append((_colour(index), bars))
        return drawn

    @property
    def shows_values(self) -> bool:
        """Values written above the bars, when there are few enough bars to read them."""
        return len(self.days) * max(len(self.series), 1) <= MAX_VALUE_LABELS

    def rows(self) -> list[tuple[dt.date, list[int]]]:
        """The figures as a table, a day per row (the chart's text alternative)."""
        return [(day, [values[i] for values in self.series.values()]) for i, day in enumerate(self.days)]


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        start, end = end, start
    days = min((end - start).days + 1, MAX_DAYS)
    return [start + dt.timedelta(days=n) for n in range(days)]


def _by_day(rows: Iterable[dict], key: str, value: str, days: list[dt.date]) -> dict[str, list[int]]:
    table: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for row in rows:
        table[str(row[key])][row["day"]] = int(row[value] or 0)
    return {name: [per_day.get(day, 0) for day in days] for name, per_day in sorted(table.items())}


def _percentile(values: list[int], share: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def _in_range(days: list[dt.date], field: str = "created_at") -> Q:
    return Q(**{f"{field}__date__gte": days[0], f"{field}__date__lte": days[-1]})


def _daily_active_users(users: QuerySet[Message], days: list[dt.date]) -> dict[str, list[int]]:
    rows = users.values("day").annotate(n=Count("conversation__owner", distinct=True))
    return _by_day(({**row, "series": "users"} for row in rows), "series", "n", days)


def _tokens(answers: QuerySet[Message], days: list[dt.date]) -> dict[str, list[int]]:
    rows = answers.values("day").annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    flat = [
        {"day": row["day"], "series": series, "n": row[field]}
        for row in rows
        for series, field in (("in (prompt)", "prompt"), ("out (answers)", "completion"))
    ]
    return _by_day(flat, "series", "n", days)


def _time_to_first_token(answers: QuerySet[Message], days: list[dt.date]) -> dict[str, list[int]]:
    per_day: dict[dt.date, list[int]] = defaultdict(list)
    for day, ms in answers.filter(first_token_ms__isnull=False).values_list("day", "first_token_ms"):
        per_day[day].append(ms)
    return {
        "p50": [_percentile(per_day[day], 0.50) for day in days],
        "p99": [_percentile(per_day[day], 0.99) for day in days],
    }


@dataclass(frozen=True)
class OpenCase:
    """An open moderation case as the dashboard lists it: what and who, never the flagged text (the
    case's own page shows that, to staff with the content permission, and audits the read)."""

    id: int
    kind: str
    hazards: str
    author: str
    created_at: dt.datetime


def open_cases(limit: int) -> list[OpenCase]:
    """The newest open cases, hazards by name ("S2 Non-Violent Crimes")."""
    cases = ModerationCase.objects.filter(state=ModerationCase.State.OPEN).select_related("author")
    return [
        OpenCase(
            case.pk,
            case.get_kind_display(),
            ", ".join(hazard_name(code) for code in case.categories) or "—",
            case.author.get_username(),
            case.created_at,
        )
        for case in cases.order_by("-created_at")[:limit]
    ]


def _blocked(days: list[dt.date]) -> dict[str, list[int]]:
    cases = ModerationCase.objects.filter(_in_range(days)).exclude(kind=ModerationCase.Kind.REPORT)
    counted: dict[tuple[dt.date, str], int] = defaultdict(int)
    for day, categories in cases.annotate(day=TruncDate("created_at")).values_list("day", "categories"):
        for category in categories or ["unknown"]:
            counted[(day, hazard_name(category))] += 1
    return _by_day(({"day": d, "series": c, "n": n} for (d, c), n in counted.items()), "series", "n", days)


def _imagine_renders(days: list[dt.date]) -> dict[str, list[int]]:
    try:  # looked up by name: the core app does not depend on Imagine, which a deployment may leave out
        model = apps.get_model("imagine", "ImagineImage")
    except LookupError:
        return {}
    images = model.objects.filter(_in_range(days, "created"))
    rows = images.annotate(day=TruncDate("created")).values("day", "kind").annotate(n=Count("id"))
    return _by_day(rows, "kind", "n", days)


def _knowledge(days: list[dt.date]) -> dict[str, list[int]]:
    """Counts only: what a fact or a document says needs the content permission, here as elsewhere."""
    facts = MemoryItem.objects.filter(_in_range(days, "created")).annotate(day=TruncDate("created"))
    documents = Document.objects.filter(_in_range(days, "created")).annotate(day=TruncDate("created"))
    rows = [
        *({**row, "series": "facts"} for row in facts.values("day").annotate(n=Count("id"))),
        *({**row, "series": "documents"} for row in documents.values("day").annotate(n=Count("id"))),
    ]
    return _by_day(rows, "series", "n", days)


def _feedback(days: list[dt.date]) -> dict[str, list[int]]:
    """Thumbs up and down by the day they were last given (a changed mind counts on its new day)."""
    ratings = MessageFeedback.objects.filter(_in_range(days, "updated_at")).annotate(day=TruncDate("updated_at"))
    rows = list(ratings.values("day", "rating").annotate(n=Count("id")))
    if not rows:
        return {}
    by_rating = _by_day(rows, "rating", "n", days)
    zeros = [0] * len(days)
    return {_rating_name(rating): by_rating.get(rating, zeros) for rating in MessageFeedback.Rating.values}


@dataclass(frozen=True)
class ReasonShare:
    """One reason people gave for a thumbs down: how many, and their share of every thumbs down."""

    reason: str
    count: int
    percent: int  # rounded to a whole number


def thumbs_down_reasons(days: list[dt.date]) -> list[ReasonShare]:
    """The reasons of the thumbs down given in `days`, most given first; counts only, never a comment."""
    downs = MessageFeedback.objects.filter(_in_range(days, "updated_at"), rating=MessageFeedback.Rating.DOWN)
    counts = {row["reason"]: row["n"] for row in downs.values("reason").annotate(n=Count("id"))}
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [ReasonShare(_reason_name(reason), n, round(100 * n / total)) for reason, n in ordered]


def _reason_name(reason: str) -> str:
    names = {
        MessageFeedback.Reason.NOT_ACCURATE: _("not accurate"),
        MessageFeedback.Reason.NOT_HELPFUL: _("not helpful"),
        MessageFeedback.Reason.UNSAFE: _("unsafe"),
        MessageFeedback.Reason.OTHER: _("other"),
    }
    return names.get(reason, _("no reason given"))


def _rating_name(rating: str) -> str:
    return _("thumbs up") if rating == MessageFeedback.Rating.UP else _("thumbs down")


@dataclass(frozen=True)
class FeedbackComment:
    """A comment someone wrote with a rating: shown only to staff with the content permission."""

    id: int
    rating: str
    reason: str
    comment: str
    author: User
    answer_id: int
    updated_at: dt.datetime


def feedback_comments(days: list[dt.date], limit: int) -> list[FeedbackComment]:
    """The newest comments given with ratings in `days` (the caller audits each one shown)."""
    rated = MessageFeedback.objects.filter(_in_range(days, "updated_at")).exclude(comment="").select_related("user")
    return [
        FeedbackComment(
            row.pk,
            _rating_name(row.rating),
            _reason_name(row.reason) if row.reason else "—",
            row.comment,
            row.user,
            row.message_id,
            row.updated_at,
        )
        for row in rated.order_by("-updated_at", "-id")[:limit]
    ]


def charts(days: list[dt.date]) -> list[Chart]:
    """Every chart of the dashboard for `days` (consecutive, oldest first)."""
    messages = Message.objects.filter(_in_range(days)).annotate(day=TruncDate("created_at"))
    questions = messages.filter(role=Message.Role.USER)
    answers = messages.filter(role=Message.Role.ASSISTANT)
    per_channel = questions.values("day", "conversation__channel").annotate(n=Count("id"))
    failed = answers.filter(status__in=[Message.Status.ERROR, Message.Status.INTERRUPTED])
    errors = failed.values("day", "status").annotate(n=Count("id"))
    result = [
        Chart(_("Daily active users"), _daily_active_users(questions, days), days),
        Chart(_("Messages per channel"), _by_day(per_channel, "conversation__channel", "n", days), days),
        Chart(_("Tokens in / out"), _tokens(answers, days), days),
        Chart(_("Time to first token (ms)"), _time_to_first_token(answers, days), days, summary="peak"),
        Chart(_("Blocked turns by hazard category"), _blocked(days), days),
        Chart(_("Failed answers"), _by_day(errors, "status", "n", days), days),
        Chart(_("Answer feedback"), _feedback(days), days),
        Chart(_("Remembered facts and uploaded documents"), _knowledge(days), days),
    ]
    return [*result, Chart(_("Imagine renders"), _imagine_renders(days), days)]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    serves: list[str]
    error: str = ""  # why it did not answer; "" when it did, or when it is not asked (see `note`)
    note: str = ""  # the state of a service that is not asked over the network


async def service_status(name: str, base_url: str, api_key: str = "") -> ServiceStatus:
    """What an OpenAI-compatible server (the model, the guard) says it serves, or why it did not answer."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            response = await client.get(base_url.rstrip("/") + "/models", headers=headers)
            response.raise_for_status()
            return ServiceStatus(name, base_url, [m["id"] for m in response.json().get("data", [])])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        return ServiceStatus(name, base_url, [], f"{type(error).__name__}: {error}"[:200])


def guard_in_process(configured: SafetySettings) -> ServiceStatus:
    """The content guard when no guard server is configured: loaded by each process that checks."""
    serves = f"Llama Guard 3 GGUF ({configured.guard_gguf})" if configured.guard_gguf else "MiniLM stand-in"
    return ServiceStatus("guard", _("in each process"), [serves], note=_("loaded where it is used"))


def imagine_status() -> ServiceStatus | None:
    """Imagine's pipeline and its latest render (its worker takes jobs from a queue; nobody is asked)."""
    try:
        model = apps.get_model("imagine", "ImagineImage")
    except LookupError:
        return None
    from imagine.conf import imagine_settings  # only once the app is known to be installed

    latest = model.objects.order_by("-created").values_list("created", flat=True).first()
    note = _("no render yet")
    if latest:
        note = _("last render %(when)s") % {"when": date_format(latest, "DATETIME_FORMAT")}
    return ServiceStatus("imagine", _("queue %(queue)s") % {"queue": "imagine"}, [imagine_settings().model], note=note)
