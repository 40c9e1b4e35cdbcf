"""Webhook endpoints, one per app, through Django: the handshake, and deliveries where the ASGI fast
path (`integrations.asgi`) does not take them first. The work is in `integrations.intake`."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from assistant.models import Channel
from integrations import intake


def _response(ack: intake.Ack) -> HttpResponse:
    return HttpResponse(ack.text, status=ack.status, content_type="text/plain")


def _delivery(request: HttpRequest, app: Channel) -> intake.Ack:
    events = intake.read_delivery(app, request.body, request.headers, request.META.get("REMOTE_ADDR", "?"))
    return events if isinstance(events, intake.Ack) else intake.store_deliveries([events])


def webhook_view(app: Channel) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @require_http_methods(["GET", "POST"])
    def webhook(request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return _response(intake.handshake(app, request.GET, request.META.get("REMOTE_ADDR", "?")))
        return _response(_delivery(request, app))

    webhook.__name__ = f"{app}_webhook"
    return webhook
