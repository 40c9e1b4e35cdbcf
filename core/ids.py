"""Row ids as clients send them. A database id is a signed 64-bit integer: a larger number names
no row, so it is answered `not_found` like any other unknown id, never passed to the database
(PostgreSQL refuses it with an error, SQLite with an overflow)."""

from __future__ import annotations

from typing import Annotated

from django.urls import register_converter
from django.urls.converters import IntConverter
from pydantic import AfterValidator

from core.errors import AssistantError, ErrorCode

MAX_ROW_ID = 2**63 - 1


def _a_possible_row(value: int) -> int:
    if not -MAX_ROW_ID <= value <= MAX_ROW_ID:
        raise AssistantError(ErrorCode.NOT_FOUND, "Nothing has that id.")
    return value


# A field of a frame or body naming a row. The refusal propagates through pydantic as is (it is
# not a ValueError), so every parser answers it as `not_found`, not as a malformed field.
RowId = Annotated[int, AfterValidator(_a_possible_row)]


class RowIdConverter(IntConverter):
    """`<id:name>` in a URL: digits that fit a row id; any other number is a 404 (no such page)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ROW_ID:
            raise ValueError("no row has this id")
        return number


# `<id:name>` in the URL confs, registered once when the first of them imports this module.
register_converter(RowIdConverter, "id")
