"""What people wrote, in the admin: flagged questions and answers, Imagine prompts, messaging
payloads and replies. Staff without the content permission see the metadata with the text
replaced by HIDDEN, and cannot search or filter by it; each read by staff who have it, and each
search that matches against it, is a row of the audit trail (ModerationAction).

Lists never show such text, so every read is the opening of one object, recorded with its name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from assistant.models import ModerationAction, ModerationCase, User

CONTENT_PERMISSION = "assistant.read_message_content"
HIDDEN = "hidden: needs the content permission"

StandIn = Callable[[Model], str]


def can_read_content(user: Any) -> bool:
    return user.has_perm(CONTENT_PERMISSION)


def record_read(*, reader: User, note: str, author: User | None, case: ModerationCase | None = None) -> None:
    """Staff with the content permission opened `note` (e.g. "moderation case 12"), written by `author`."""
    ModerationAction.objects.create(
        actor=reader, action=ModerationAction.Action.READ_CONTENT, target=author, case=case, note=note[:500]
    )


def record_search(*, reader: User, note: str) -> None:
    """Staff with the content permission searched what people wrote: which matched is itself a read."""
    ModerationAction.objects.create(actor=reader, action=ModerationAction.Action.SEARCH_CONTENT, note=note[:500])


def _stand_in(label: str) -> StandIn:
    @admin.display(description=label)
    def hidden(obj: Model) -> str:
        return HIDDEN

    return hidden


class ContentGuard:
    """For a model admin or inline whose `content_fields` hold what people wrote. The admin lists
    its shown fields in `fields`, content ones among its read-only fields; without the permission
    each content field becomes a read-only stand-in of the same label, so the form never has it."""

    model: type[Model]
    content_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stand_ins = {
            name: _stand_in(str(self.model._meta.get_field(name).verbose_name).capitalize())
            for name in self.content_fields
        }

    def _guarded(self, request: HttpRequest, fields: Sequence[Any]) -> list[Any]:
        if can_read_content(request.user):
            return list(fields)
        return [self._stand_ins.get(field, field) if isinstance(field, str) else field for field in fields]

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        return self._guarded(request, super().get_fields(request, obj))  # type: ignore[misc]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        return self._guarded(request, super().get_readonly_fields(request, obj))  # type: ignore[misc]


class ContentGuardedAdmin(ContentGuard, admin.ModelAdmin):
    """A model admin of such text: searching it needs the permission and is audited, filtering by
    it through the address (`?original_text__contains=…`) is refused to everyone, and each opening
    of an object by staff allowed to read it is audited through `record_opened`."""

    def record_opened(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def _searches_content(self, field: str) -> bool:
        return field.lstrip("^=@").split("__")[0] in self.content_fields

    def get_search_fields(self, request: HttpRequest) -> Sequence[str]:
        fields = super().get_search_fields(request)
        if can_read_content(request.user):
            return fields
        return [field for field in fields if not self._searches_content(field)]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        searched = self.get_search_fields(request)
        if search_term and any(self._searches_content(field) for field in searched):
            record_search(reader=request.user, note=f"{self.model._meta.verbose_name_plural}: {search_term}")
        return super().get_search_results(request, queryset, search_term)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.split("__")[0] in self.content_fields:
            return False
        return super().lookup_allowed(lookup, value, request)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        obj = self.get_object(request, object_id)
        if obj is not None and can_read_content(request.user):
            self.record_opened(request, obj)
        return super().change_view(request, object_id, form_url, extra_context)
