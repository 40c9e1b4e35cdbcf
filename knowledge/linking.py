"""Memory that follows a person from the web to the messaging apps: a web account issues a one-time
code, the person sends `/link CODE` in a messaging chat, and from then on that messaging identity
reads, keeps and forgets the account's memory (what it had remembered on its own moves there).

A code is 8 characters of an alphabet without look-alikes (32⁸ ≈ 10¹² codes), lives
`LINK_CODE_SECONDS`, is stored as its SHA-256 only and works once; an account has one live code
(a new one replaces it). Guessing is bounded by the messaging channels' rate limits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.errors import AssistantError, ErrorCode
from knowledge.models import LinkCode, MemoryItem, MemoryLink

LINK_CODE_SECONDS = 600
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def issue_code(*, account_id: int) -> tuple[str, dt.datetime]:
    """A new code for the account (its previous one stops working), and when it expires."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = timezone.now() + dt.timedelta(seconds=LINK_CODE_SECONDS)
    LinkCode.objects.update_or_create(account_id=account_id, defaults={"digest": _digest(code), "expires": expires})
    return code, expires


def redeem_code(*, code: str, member_id: int) -> int:
    """Link the messaging identity `member_id` to the account that issued `code`; the account's id.
    Raises AssistantError(NOT_FOUND) for a code that is unknown, used or expired."""
    with transaction.atomic():
        issued = LinkCode.objects.select_for_update().filter(digest=_digest(code), expires__gt=timezone.now()).first()
        if issued is None or issued.account_id == member_id:
            raise AssistantError(ErrorCode.NOT_FOUND, "That code is not valid or has expired.")
        account_id = issued.account_id
        issued.delete()
        MemoryLink.objects.update_or_create(member_id=member_id, defaults={"account_id": account_id})
        MemoryItem.objects.filter(owner_id=member_id).update(owner_id=account_id)
    return account_id


def memory_owner(*, user_id: int) -> int:
    """Whose memory `user_id` uses: the account it is linked to, else its own."""
    link = MemoryLink.objects.filter(member_id=user_id).values_list("account_id", flat=True).first()
    return link if link is not None else user_id


def memory_owner_in_sql(*, user_id: int) -> Coalesce:
    """`memory_owner` as an expression, for a query that reads the memory in the same statement."""
    link = MemoryLink.objects.filter(member_id=user_id).values("account_id")[:1]
    return Coalesce(Subquery(link), Value(user_id))
