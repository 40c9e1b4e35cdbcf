"""Imagine over HTTP: `POST /api/imagine` and `POST /api/imagine/edit` for non-web channels, and the
files of the gallery.
Thin views: authenticate, parse, call one service or selector, serialise."""

from __future__ import annotations

import mimetypes
import secrets
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from pydantic import ValidationError

from core import auth
from core.errors import AssistantError, ErrorCode
from core.http import error_response, refusal, shape_response
from imagine import selectors, services
from imagine.conf import imagine_settings
from imagine.models import ImagineImage
from imagine.moderation import check_prompt, clean_instruction
from imagine.protocol import load_json
from imagine.schemas import ImagineBody, ImagineEditBody, ImagineGallery, ImagineRendered

NO_CALLER = "Send an API key ('Authorization: Bearer <key>') or use a session."


def _user_id(request: HttpRequest) -> int | None:
    """A bearer API key, else the session (whose POSTs must carry the CSRF token)."""
    secret = auth.bearer_secret(request)
    if secret is not None:
        key = auth.find_api_key(secret)
        return key.owner_id if key else None
    user = getattr(request, "user", AnonymousUser())
    if not user.is_authenticated:
        return None
    if CsrfViewMiddleware(lambda _request: HttpResponse()).process_view(request, None, (), {}) is not None:
        return None
    return user.pk


Body = TypeVar("Body", ImagineBody, ImagineEditBody)


def _parse(request: HttpRequest, shape: type[Body], expected: str) -> Body:
    data = load_json(request.body or b"{}")
    try:
        return shape.model_validate(data)
    except ValidationError:
        raise AssistantError(ErrorCode.INVALID_FRAME, f"Send JSON: {expected}.") from None


GALLERY_PAGE = 60


@csrf_exempt  # checked in _user_id for session callers; bearer keys are not sent by browsers
async def imagine(request: HttpRequest) -> JsonResponse:
    """GET: the caller's gallery, newest first; POST: render a prompt in full quality and keep it."""
    if request.method == "GET":
        return await gallery(request)
    if request.method != "POST":
        return error_response(ErrorCode.METHOD_NOT_ALLOWED, "Use GET or POST.")
    return await render(request)


async def gallery(request: HttpRequest) -> JsonResponse:
    user_id = await sync_to_async(_user_id)(request)
    if user_id is None:
        return error_response(ErrorCode.UNAUTHENTICATED, NO_CALLER)
    images = await sync_to_async(list)(selectors.gallery(user_id=user_id)[:GALLERY_PAGE])
    return shape_response(ImagineGallery(images=[services.image_shape(image) for image in images]))


async def render(request: HttpRequest) -> JsonResponse:
    """Render a prompt in full quality and keep it: 201 with the image."""
    user_id = await sync_to_async(_user_id)(request)
    if user_id is None:
        return error_response(ErrorCode.UNAUTHENTICATED, NO_CALLER)
    try:
        body = _parse(request, ImagineBody, "{'prompt': text, 'size': name (optional)}")
        size = services.size_named(body.size)
        prompt = await check_prompt(body.prompt, submitted_by=user_id)
        await sync_to_async(services.check_render_limits)(user_id, request.META.get("REMOTE_ADDR"))
        image, ms = await services.render_final(
            user_id=user_id,
            prompt=prompt,
            size=size,
            seed=secrets.randbelow(2**31),
            conversation_id=body.conversation_id,
        )
    except AssistantError as exc:
        return refusal(exc)
    return _created(image, ms)


@csrf_exempt  # checked in _user_id for session callers; bearer keys are not sent by browsers
async def edit(request: HttpRequest) -> JsonResponse:
    """POST: restyle one of the caller's images by an instruction and keep it: 201 with the edit."""
    if request.method != "POST":
        return error_response(ErrorCode.METHOD_NOT_ALLOWED, "Use POST.")
    user_id = await sync_to_async(_user_id)(request)
    if user_id is None:
        return error_response(ErrorCode.UNAUTHENTICATED, NO_CALLER)
    try:
        body = _parse(request, ImagineEditBody, "{'image_id': id, 'instruction': text}")
        instruction = await check_prompt(clean_instruction(body.instruction), submitted_by=user_id)
        await sync_to_async(services.check_render_limits)(user_id, request.META.get("REMOTE_ADDR"))
        image, ms = await services.edit(
            user_id=user_id, image_id=body.image_id, instruction=instruction, seed=secrets.randbelow(2**31)
        )
    except AssistantError as exc:
        return refusal(exc)
    return _created(image, ms)


def _created(image: ImagineImage, ms: float) -> JsonResponse:
    rendered = ImagineRendered(**services.image_shape(image).model_dump(), ms=ms)
    return shape_response(rendered, status=201)


def file_response(image: ImagineImage, name: str) -> FileResponse:
    """One of an image's files (`name`: image.png, clip.mp4 or clip.gif), cacheable privately."""
    field_name = services.FILE_FIELDS[image.kind].get(name)
    if field_name is None:
        raise Http404
    response = FileResponse(getattr(image, field_name).open("rb"), content_type=mimetypes.guess_type(name)[0])
    response["Cache-Control"] = f"private, max-age={imagine_settings().cache_seconds}, immutable"
    return response


@require_GET
def public_file(request: HttpRequest, token: str) -> FileResponse:
    """A file named by a signed link (sent to a messaging app), without a session."""
    try:
        image, name = services.file_for_public_link(token)
    except AssistantError:
        raise Http404 from None
    return file_response(image, name)


@require_GET
def image_file(request: HttpRequest, image_id: int, name: str) -> FileResponse:
    """A gallery file, to its owner only (everyone else gets 404); cacheable privately, never changing.
    Owners are recognised by session or API key, as for POST."""
    user_id = _user_id(request)
    if user_id is None:
        raise Http404
    try:
        image = selectors.image_for(user_id=user_id, image_id=image_id)
    except AssistantError:
        raise Http404 from None
    return file_response(image, name)
