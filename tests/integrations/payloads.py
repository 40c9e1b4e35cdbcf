"""Webhook payloads in the exact shapes the apps document (Meta's WhatsApp `messages` webhook
reference and Messenger Platform webhook events, Telegram's `Update`), written for these tests."""

from __future__ import annotations

from typing import Any

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
CUSTOMER_PHONE = "16505551234"
CUSTOMER_BSUID = "US.13491208655302741918"
BUSINESS_NUMBER = "15550783881"  # the business's display phone number, as `metadata` and mentions give it
WHATSAPP_GROUP_ID = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"
PAGE_ID = "108922345678901"
IG_ACCOUNT_ID = "17841400000000001"
PSID = "6789012345678901"
IGSID = "5432109876543210"
BOT_TOKEN = "7012345678:AAFakeTokenForTestsOnly-abcdefghij"
BOT_ID = 7012345678
BOT_USERNAME = "meta_ai_test_bot"


# --- WhatsApp ------------------------------------------------------------------------------------


def whatsapp_delivery(*values: dict[str, Any]) -> dict[str, Any]:
    """One delivery; each value becomes one change of its own entry (Meta batches both ways)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]} for value in values],
    }


def whatsapp_value(*messages: dict[str, Any], bsuid: bool = True, phone: bool = True) -> dict[str, Any]:
    contact: dict[str, Any] = {"profile": {"name": "Sheena Nelson"}}
    if phone:
        contact["wa_id"] = CUSTOMER_PHONE
    if bsuid:
        contact["user_id"] = CUSTOMER_BSUID
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [contact],
        "messages": list(messages),
    }


def whatsapp_message(message_id: str, message_type: str, content: Any, **extra: Any) -> dict[str, Any]:
    """A message from the customer; `phone=False` is a username user known by BSUID only."""
    phone = extra.pop("phone", True)
    message = {"from_user_id": CUSTOMER_BSUID, "id": message_id, "timestamp": "1749416383", "type": message_type}
    if phone:
        message["from"] = CUSTOMER_PHONE
    if content is not None:
        message[message_type] = content
    return {**message, **extra}


def whatsapp_text(message_id: str, body: str, **extra: Any) -> dict[str, Any]:
    return whatsapp_message(message_id, "text", {"body": body}, **extra)


def whatsapp_status(message_id: str, status: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": "1750857384",
        "recipient_id": CUSTOMER_PHONE,
        "recipient_user_id": CUSTOMER_BSUID,
    }
    if status != "failed":
        entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if errors:
        entry["errors"] = errors
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [entry],
    }


WHATSAPP_MEDIA = {
    "image": {"caption": "What is this?", "mime_type": "image/jpeg", "sha256": "c0ffee", "id": "1003383421387256"},
    "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "c0ffee", "id": "1003383421387257", "voice": True},
    "video": {"mime_type": "video/mp4", "sha256": "c0ffee", "id": "1003383421387258"},
    "document": {"filename": "menu.pdf", "mime_type": "application/pdf", "sha256": "c0ffee", "id": "1003383421387259"},
    "sticker": {"mime_type": "image/webp", "sha256": "c0ffee", "id": "1003383421387260", "animated": False},
    "location": {"latitude": 37.4847, "longitude": -122.1473, "name": "Philz Coffee", "address": "101 Forest Ave"},
    "contacts": [{"name": {"formatted_name": "Barbara Johnson", "first_name": "Barbara"},
                  "phones": [{"phone": "+1 650-555-1235", "wa_id": "16505551235", "type": "MOBILE"}]}],
}  # fmt: skip


# --- Messenger and Instagram ------------------------------------------------------------------------------


def messaging_delivery(app_object: str, *items: dict[str, Any], page: str = PAGE_ID) -> dict[str, Any]:
    """`object` is "page" (Messenger) or "instagram"; each item becomes its own entry."""
    return {"object": app_object, "entry": [{"id": page, "time": 1458692752478, "messaging": [i]} for i in items]}


def messaging_item(sender: str, recipient: str, **event: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": 1762902671, **event}


# --- Telegram ----------------------------------------------------------------------------------------


def telegram_user(user_id: int = 1111111, first_name: str = "Ada", is_bot: bool = False) -> dict[str, Any]:
    return {"id": user_id, "is_bot": is_bot, "first_name": first_name, "username": first_name.lower()}


def telegram_message(
    message_id: int, text: str | None, *, chat_id: int = 1111111, chat_type: str = "private", **extra: Any
) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    chat.update({"first_name": "Ada"} if chat_type == "private" else {"title": "Book club"})
    message = {"message_id": message_id, "from": telegram_user(), "chat": chat, "date": 1441645532}
    if text is not None:
        message["text"] = text
    return {**message, **extra}


def telegram_update(update_id: int, **update: Any) -> dict[str, Any]:
    return {"update_id": update_id, **update}
