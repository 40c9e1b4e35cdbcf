"""The chat page and the health endpoints."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from assistant.chat import selectors, services
from assistant.conf import assistant_settings, model_settings
from assistant.engine.outcome import Grounding
from assistant.models import Message, User
from config.celery import app as celery_app
from core import limits
from core.errors import AssistantError
from imagine.conf import imagine_settings
from media.conf import media_settings

READINESS_TIMEOUT_SECONDS = 2.0


@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    """The web chat. A first-time visitor becomes a guest with a session of their own, unless its
    address started RATE_LIMIT_GUESTS_PER_IP guests already: then it is asked to sign in or up."""
    if not request.user.is_authenticated:
        try:
            _start_guest(request)
        except AssistantError as exc:
            return _guests_refused(request, exc)
    context = {
        "user_label": "Guest" if request.user.is_guest else request.user.get_username(),
        "is_guest": request.user.is_guest,
        "model_name": model_settings().name,
        "max_message_chars": assistant_settings().max_message_chars,
        "imagine_stand_in": imagine_settings().draws_stand_in_pictures,
        "hears_english_only": media_settings().hears_english_only,
    }
    return render(request, "frontend/chat.html", context)


def _start_guest(request: HttpRequest) -> None:
    address = limits.client_address(request)
    limits.admit_new_guest(address)
    guest = services.create_guest()
    limits.bind_guest_to_address(guest.pk, address)
    login(request, guest, backend="django.contrib.auth.backends.ModelBackend")


def _guests_refused(request: HttpRequest, refused: AssistantError) -> HttpResponse:
    """No new guest: a page that says why and offers signing in or up, which need no guest."""
    retry_after = refused.retry_after or 60
    context = {"minutes": math.ceil(retry_after / 60)}
    response = render(request, "frontend/guests_refused.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _too_many_sign_ins(request: HttpRequest) -> HttpResponse | None:
    """429 once this address used up RATE_LIMIT_LOGINS_PER_IP (sign-ins and sign-ups together)."""
    try:
        limits.hit_both("login", user_id=None, ip=limits.client_address(request))
    except AssistantError as exc:
        response = HttpResponse(exc.detail, status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(exc.retry_after)
        return response
    return None


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account. A guest who signs up keeps their conversations: the guest account itself
    gets the name and password. Counted against the sign-in limit per address."""
    guest = request.user if request.user.is_authenticated and request.user.is_guest else None
    if request.method == "POST":
        if refused := _too_many_sign_ins(request):
            return refused
        form = SignUpForm(request.POST, instance=guest)
        if form.is_valid():
            user = form.save(commit=False)
            user.is_guest = False
            user.save()
            limits.unbind_guest(user.pk)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("chat")
    else:
        form = SignUpForm()
    return render(request, "registration/signup.html", {"form": form})


class ThrottledLoginView(LoginView):
    """Django's sign-in, with failed and successful attempts alike counted per client address, so
    password guessing is slowed to RATE_LIMIT_LOGINS_PER_IP whatever the account."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        return _too_many_sign_ins(request) or super().post(request, *args, **kwargs)


SHARE_DESCRIPTION_CHARS = 200


def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """A shared conversation, read-only, for anyone with the link: no names, no other conversations.
    The messages travel as JSON data and the page's script renders them with the chat's renderer, so
    no stored text is ever HTML. A revoked or unknown link is a 404 page."""
    try:
        conversation, messages = selectors.shared_conversation(token=token)
    except AssistantError:
        response = render(request, "frontend/shared.html", {"missing": True}, status=404)
    else:
        context = {
            "title": conversation.title,
            "description": _share_description(messages),
            "page_url": request.build_absolute_uri(),
            "messages_data": [_shared_message(message, token) for message in messages],
        }
        response = render(request, "frontend/shared.html", context)
    response["X-Robots-Tag"] = "noindex"  # shared, not published
    response["Referrer-Policy"] = "no-referrer"  # the link is the secret: never leak it to linked sites
    return response


def _share_description(messages: list[Message]) -> str:
    """The link preview's text: the first question, on one line, cut at a word."""
    question = next((m.content for m in messages if m.role == Message.Role.USER), "")
    words = " ".join(question.split())
    if len(words) <= SHARE_DESCRIPTION_CHARS:
        return words
    return words[:SHARE_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + "…"


def _shared_message(message: Message, token: str) -> dict[str, Any]:
    """What the share page shows of one message: text, status, sources, pictures; no ids or names."""
    grounding = Grounding.stored(message.grounding)
    image = None
    if picture := message.image:
        url = reverse("imagine-shared-file", kwargs={"token": token, "image_id": picture.pk, "name": "image.png"})
        image = {"url": url, "prompt": picture.prompt, "width": picture.width, "height": picture.height}
    return {
        "role": message.role,
        "status": message.status,
        "content": message.content,
        "sources": [source.model_dump() for source in grounding.numbered_sources()] if grounding else [],
        "invalid_citations": grounding.invalid_citations if grounding else [],
        "image": image,
        "code_images": message.code_images,
    }


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "readiness.check", "token": token})
    received = await layer.receive(channel)
    if received.get("token") != token:
        raise RuntimeError("channel layer returned another message")


def _check_cache() -> None:
    # The Redis cache swallows errors (a miss instead of a failed request), so read back a write.
    key, token = "readiness-check", uuid.uuid4().hex
    cache.set(key, token, timeout=10)
    if cache.get(key) != token:
        raise RuntimeError("the cache did not keep a value")


def _check_broker() -> None:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=READINESS_TIMEOUT_SECONDS)


async def _check_model_service() -> str | None:
    """A model server that accepts the connection but answers late is busy generating: that is load,
    not a fault, so the web process stays ready rather than leaving the load balancer in the moments
    it is needed most. llama-server (the embedded engine) and vLLM answer `/models` from their HTTP
    threads while every slot generates (tests/model_service/test_llama_server.py); llama-cpp-python's
    server, the benchmarks' baseline, queues even this request behind the answer it is writing."""
    timeout = httpx.Timeout(READINESS_TIMEOUT_SECONDS, read=READINESS_TIMEOUT_SECONDS / 2)
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.get(model_settings().base_url.rstrip("/") + "/models")
    except httpx.ReadTimeout:
        return "busy"
    response.raise_for_status()
    return None


async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when every dependency answers within READINESS_TIMEOUT_SECONDS (a busy model counts)."""
    checks = {
        "database": sync_to_async(_check_database)(),
        "channel_layer": _check_channel_layer(),
        "cache": sync_to_async(_check_cache)(),
        "broker": sync_to_async(_check_broker, thread_sensitive=False)(),
        "model_service": _check_model_service(),
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            results[name] = await asyncio.wait_for(check, READINESS_TIMEOUT_SECONDS) or "ok"
        except Exception as exc:  # any failure means not ready; the reason is reported
            results[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
    ready = not any(result.startswith("failed") for result in results.values())
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": results}, status=200 if ready else 503)
