"""Webhook endpoints, one per app: check the handshake or signature, parse, store, answer 200.

Nothing slow happens here: the apps expect an answer within seconds and retry otherwise, so events
are stored in one transaction and each reply is left to a Celery task once the transaction commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from kombu.exceptions import OperationalError as BrokerError

from assistant.models import Channel
from integrations import services, tasks
from integrations.adapters import PayloadError, adapter_for

logger = logging.getLogger(__name__)


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "?")


def _handshake(request: HttpRequest, app: Channel) -> HttpResponse:
    with adapter_for(app) as adapter:
        challenge = adapter.handshake(request.GET)
    if challenge is None:
        logger.warning("%s webhook: subscription check refused (from %s)", app, _client(request))
        return HttpResponseForbidden("Verification failed.", content_type="text/plain")
    return HttpResponse(challenge, content_type="text/plain")


def _delivery(request: HttpRequest, app: Channel) -> HttpResponse:
    with adapter_for(app) as adapter:
        if not adapter.signature_valid(request.body, request.headers):
            logger.warning("%s webhook: bad or missing signature (from %s); nothing stored", app, _client(request))
            return HttpResponseForbidden("Invalid signature.", content_type="text/plain")
        try:
            events = adapter.parse(json.loads(request.body))
        except (ValueError, PayloadError) as exc:  # json.JSONDecodeError is a ValueError
            logger.warning("%s webhook: malformed delivery: %s", app, exc)
            return HttpResponseBadRequest(f"Malformed payload: {exc}", content_type="text/plain")
    keys = services.ingest_events(app=app, events=events)
    for index, key in enumerate(keys):
        try:
            tasks.reply_to_event.delay(app.value, key)
        except (BrokerError, OSError):
            # Forget what has no task yet and fail: the app redelivers, and those events are new again.
            logger.exception("%s webhook: could not queue replies; asking the app to redeliver", app)
            services.forget_events(app=app, keys=keys[index:])
            return HttpResponse("Try again later.", status=503, content_type="text/plain")
    return HttpResponse("OK", content_type="text/plain")


def webhook_view(app: Channel) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @require_http_methods(["GET", "POST"])
    def webhook(request: HttpRequest) -> HttpResponse:
        return _handshake(request, app) if request.method == "GET" else _delivery(request, app)

    webhook.__name__ = f"{app}_webhook"
    return webhook
