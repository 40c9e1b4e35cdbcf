"""The gallery in the admin. A prompt is what a person wrote: it needs the chat app's content
permission, and each reading is sent as `prompt_read` for the chat app's audit trail (Imagine
imports no chat code). Images are evidence, so the admin views and deletes them, never edits."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse

from imagine.models import ImagineImage

CONTENT_PERMISSION = "assistant.read_message_content"
HIDDEN = "hidden: needs the content permission"
# Sent with reader=, author= and note= ("imagine image 12") when staff allowed to read a prompt open it.
prompt_read = Signal()


@admin.register(ImagineImage)
class ImagineImageAdmin(admin.ModelAdmin):
    """Lists never show prompts; an image's page shows its prompt to staff with the permission."""

    list_display = ("id", "owner", "kind", "width", "height", "created")
    list_filter = ("kind",)
    search_fields = ("owner__username",)
    fields = readonly_fields = (
        "owner",
        "kind",
        "prompt",
        "source_image",
        "conversation_id",
        "seed",
        "width",
        "height",
        "file",
        "gif",
        "frames",
        "fps",
        "created",
    )

    @admin.display(description="Source")
    def source_image(self, image: ImagineImage) -> str:
        """By number: the source's own name would show its prompt."""
        return f"image {image.source_id}" if image.source_id else "—"

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> ImagineImage | None:
        # Every page of one image (change, history, delete) names it with a str() that holds the prompt.
        image = super().get_object(request, object_id, from_field)
        if image is not None and not request.user.has_perm(CONTENT_PERMISSION):
            image.prompt = HIDDEN
        return image

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # An action's checkbox and its confirmation page name each image with its prompt.
        return super().get_actions(request) if request.user.has_perm(CONTENT_PERMISSION) else {}

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        return not lookup.startswith("prompt") and super().lookup_allowed(lookup, value, request)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        image = self.get_object(request, object_id)
        if image is not None and request.user.has_perm(CONTENT_PERMISSION):
            prompt_read.send(ImagineImage, reader=request.user, author=image.owner, note=f"imagine image {image.pk}")
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # images are made by people, through Imagine

    def has_change_permission(self, request: HttpRequest, obj: ImagineImage | None = None) -> bool:
        return False
