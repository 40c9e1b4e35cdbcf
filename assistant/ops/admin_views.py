"""Admin pages beyond Django's model admin: the operators' dashboard."""

from __future__ import annotations

import asyncio
import datetime as dt

from asgiref.sync import async_to_sync
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from assistant.conf import model_settings
from assistant.models import ModerationCase
from assistant.ops import dashboard
from assistant.ops.content_access import can_read_content, record_read
from safety.conf import safety_settings

DEFAULT_DAYS = 14
OPEN_CASES_SHOWN = 10
FEEDBACK_COMMENTS_SHOWN = 10


def _requested_range(request: HttpRequest) -> tuple[dt.date, dt.date, str]:
    """The ?start=&end= dates (ISO), or the last DEFAULT_DAYS days with the reason when invalid."""
    today = timezone.now().date()
    default = (today - dt.timedelta(days=DEFAULT_DAYS - 1), today, "")
    if not request.GET.get("start") and not request.GET.get("end"):
        return default
    try:
        start = dt.date.fromisoformat(request.GET.get("start", ""))
        end = dt.date.fromisoformat(request.GET.get("end", "")) if request.GET.get("end") else today
    except ValueError:
        return (*default[:2], _("Dates must look like 2026-11-28; showing the last 14 days."))
    if (end - start).days >= dashboard.MAX_DAYS:
        too_long = _("At most %(days)d days are shown.") % {"days": dashboard.MAX_DAYS}
        return end - dt.timedelta(days=dashboard.MAX_DAYS - 1), end, too_long
    return start, end, ""


async def _servers() -> list[dashboard.ServiceStatus]:
    """The model server and, when the guard runs as a server, the guard: asked at once."""
    model, safety = model_settings(), safety_settings()
    checks = [dashboard.service_status("model", model.base_url, model.api_key)]
    if safety.guard_base_url:
        checks.append(dashboard.service_status("guard", safety.guard_base_url, safety.guard_api_key))
    return list(await asyncio.gather(*checks))


def _services() -> list[dashboard.ServiceStatus]:
    """Every service a turn or a picture needs: the model, the guard, Imagine."""
    safety = safety_settings()
    services = async_to_sync(_servers)()
    if not safety.guard_base_url:
        services.append(dashboard.guard_in_process(safety))
    imagine = dashboard.imagine_status()
    return [*services, imagine] if imagine else services


def _feedback_comments(request: HttpRequest, days: list[dt.date]) -> list[dashboard.FeedbackComment] | None:
    """The newest comments given with ratings, each read audited; None for staff without the
    content permission, who see the counts only."""
    if not can_read_content(request.user):
        return None
    comments = dashboard.feedback_comments(days, FEEDBACK_COMMENTS_SHOWN)
    for shown in comments:
        note = f"feedback comment {shown.id} on answer {shown.answer_id}"
        record_read(reader=request.user, note=note, author=shown.author)
    return comments


@staff_member_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    start, end, range_error = _requested_range(request)
    days = dashboard.date_range(start, end)
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "start": days[0],
        "end": days[-1],
        "range_error": range_error,
        "charts": dashboard.charts(days),
        "thumbs_down_reasons": dashboard.thumbs_down_reasons(days),
        "feedback_comments": _feedback_comments(request, days),
        "services": _services(),
        "open_case_count": ModerationCase.objects.filter(state=ModerationCase.State.OPEN).count(),
        "open_cases": dashboard.open_cases(OPEN_CASES_SHOWN),
        "width": dashboard.CHART_WIDTH,
        "height": dashboard.CHART_HEIGHT,
        "plot": {
            "left": dashboard.PLOT_LEFT,
            "right": dashboard.CHART_WIDTH - dashboard.PLOT_RIGHT,
            "bottom": dashboard.CHART_HEIGHT - dashboard.PLOT_BOTTOM,
        },
    }
    return render(request, "admin/dashboard.html", context)


@staff_member_required
def dashboard_css(request: HttpRequest) -> HttpResponse:
    """The dashboard's few styles, served as a file: the Content Security Policy forbids inline ones."""
    response = HttpResponse(render_to_string("admin/dashboard.css"), content_type="text/css")
    response["Cache-Control"] = "private, max-age=3600"
    return response
