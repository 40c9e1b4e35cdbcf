"""The operators' dashboard: daily figures from the database, drawn as server-side SVG bar charts.

Everything is computed from stored rows (messages, moderation cases, Imagine renders), so the
figures are the same whichever process serves the page, and need no metrics store. Charts are
plain SVG in the template: no script, so the strict Content Security Policy holds in the admin.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from django.apps import apps
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from assistant.models import Message, ModerationCase

MAX_DAYS = 366
CHART_WIDTH = 720
CHART_HEIGHT = 160


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day and value, shown as the bar's tooltip


@dataclass(frozen=True)
class Chart:
    title: str
    series: dict[str, list[float]]  # name → one value per day
    days: list[dt.date]

    @property
    def total(self) -> dict[str, float]:
        return {name: round(sum(values), 1) for name, values in self.series.items()}

    def bars(self) -> list[tuple[str, list[Bar]]]:
        """Grouped bars per day, scaled to the chart's largest value."""
        peak = max((v for values in self.series.values() for v in values), default=0) or 1
        slot = CHART_WIDTH / max(len(self.days), 1)
        width = max(slot / max(len(self.series), 1) - 1, 1)
        drawn = []
        for index, (name, values) in enumerate(self.series.items()):
            bars = []
            for day_index, (day, value) in enumerate(zip(self.days, values, strict=True)):
                height = CHART_HEIGHT * value / peak
                x = day_index * slot + index * (width + 1)
                bars.append(Bar(x, CHART_HEIGHT - height, width, height, f"{day.isoformat()}: {value:g}"))
            drawn.append((name, bars))
        return drawn


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        start, end = end, start
    days = min((end - start).days + 1, MAX_DAYS)
    return [start + dt.timedelta(days=n) for n in range(days)]


def _by_day(rows: Iterable[dict], key: str, value: str, days: list[dt.date]) -> dict[str, list[float]]:
    table: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for row in rows:
        table[str(row[key])][row["day"]] = float(row[value] or 0)
    return {name: [per_day.get(day, 0.0) for day in days] for name, per_day in sorted(table.items())}


def _percentile(values: list[int], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)])


def _in_range(days: list[dt.date], field: str = "created_at") -> Q:
    return Q(**{f"{field}__date__gte": days[0], f"{field}__date__lte": days[-1]})


def _daily_active_users(users: QuerySet[Message], days: list[dt.date]) -> dict[str, list[float]]:
    rows = users.values("day").annotate(n=Count("conversation__owner", distinct=True))
    return _by_day(({**row, "series": "users"} for row in rows), "series", "n", days)


def _tokens(answers: QuerySet[Message], days: list[dt.date]) -> dict[str, list[float]]:
    rows = answers.values("day").annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    flat = [
        {"day": row["day"], "series": series, "n": row[field]}
        for row in rows
        for series, field in (("in (prompt)", "prompt"), ("out (answers)", "completion"))
    ]
    return _by_day(flat, "series", "n", days)


def _time_to_first_token(answers: QuerySet[Message], days: list[dt.date]) -> dict[str, list[float]]:
    per_day: dict[dt.date, list[int]] = defaultdict(list)
    for day, ms in answers.filter(first_token_ms__isnull=False).values_list("day", "first_token_ms"):
        per_day[day].append(ms)
    return {
        "p50": [_percentile(per_day[day], 0.50) for day in days],
        "p99": [_percentile(per_day[day], 0.99) for day in days],
    }


def _blocked(days: list[dt.date]) -> dict[str, list[float]]:
    cases = ModerationCase.objects.filter(_in_range(days)).exclude(kind=ModerationCase.Kind.REPORT)
    counted: dict[tuple[dt.date, str], int] = defaultdict(int)
    for day, categories in cases.annotate(day=TruncDate("created_at")).values_list("day", "categories"):
        for category in categories or ["unknown"]:
            counted[(day, category)] += 1
    return _by_day(({"day": d, "series": c, "n": n} for (d, c), n in counted.items()), "series", "n", days)


def _imagine_renders(days: list[dt.date]) -> dict[str, list[float]]:
    try:  # looked up by name: the core app does not depend on Imagine, which a deployment may leave out
        model = apps.get_model("imagine", "ImagineImage")
    except LookupError:
        return {}
    images = model.objects.filter(_in_range(days, "created"))
    rows = images.annotate(day=TruncDate("created")).values("day", "kind").annotate(n=Count("id"))
    return _by_day(rows, "kind", "n", days)


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
        Chart(_("Time to first token (ms)"), _time_to_first_token(answers, days), days),
        Chart(_("Blocked turns by hazard category"), _blocked(days), days),
        Chart(_("Failed answers"), _by_day(errors, "status", "n", days), days),
    ]
    return [*result, Chart(_("Imagine renders"), _imagine_renders(days), days)]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    models: list[str]
    error: str = ""


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
