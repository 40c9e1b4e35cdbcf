from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from assistant.models import User
from assistant.ops import content_access
from assistant.ops.content_access import ContentGuard, ContentGuardedAdmin
from integrations.models import ChatBinding, InboundEvent, OutboundMessage
from integrations.selectors import channel_statuses


class OutboundMessageInline(ContentGuard, admin.TabularInline):
    """The reply's parts; their text, the assistant's answer, needs the content permission."""

    model = OutboundMessage
    fields = readonly_fields = ("part", "kind", "content", "external_id", "sent_at")
    content_fields = ("content",)
    extra = 0
    can_delete = False


@admin.register(InboundEvent)
class InboundEventAdmin(ContentGuardedAdmin):
    """Every event the apps delivered; the list starts with each channel's status. The payload holds
    what the sender wrote: it needs the content permission, and opening an event with it is audited."""

    change_list_template = "admin/integrations/inboundevent/change_list.html"
    list_display = ("received_at", "app", "kind", "chat_id", "sender_id", "handled_at", "reply_error")
    list_filter = ("app", "kind", ("handled_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "chat_id", "sender_id")
    fields = readonly_fields = [f.name for f in InboundEvent._meta.fields]
    content_fields = ("payload",)
    inlines = [OutboundMessageInline]

    def record_opened(self, request: HttpRequest, event: InboundEvent) -> None:
        sender = User.objects.filter(
            chat_bindings__app=event.app, chat_bindings__chat_id=event.chat_id, chat_bindings__sender_id=event.sender_id
        ).first()
        content_access.record_read(reader=request.user, note=f"inbound event {event.pk}", author=sender)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events come from the apps only

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "channel_statuses": channel_statuses()})


@admin.register(ChatBinding)
class ChatBindingAdmin(admin.ModelAdmin):
    list_display = ("app", "chat_id", "sender_id", "user", "conversation", "created_at")
    list_filter = ("app",)
    search_fields = ("chat_id", "sender_id", "user__username")
    readonly_fields = ("app", "chat_id", "sender_id", "user", "conversation", "created_at")
