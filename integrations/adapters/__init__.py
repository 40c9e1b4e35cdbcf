"""One adapter per messaging app, behind the interface in `base`."""

from __future__ import annotations

from assistant.models import Channel
from integrations.adapters.base import MessagingAdapter, PayloadError
from integrations.adapters.messenger import InstagramAdapter, MessengerAdapter
from integrations.adapters.telegram import TelegramAdapter
from integrations.adapters.whatsapp import WhatsAppAdapter

ADAPTERS: dict[Channel, type[WhatsAppAdapter | MessengerAdapter | TelegramAdapter]] = {
    Channel.WHATSAPP: WhatsAppAdapter,
    Channel.MESSENGER: MessengerAdapter,
    Channel.INSTAGRAM: InstagramAdapter,
    Channel.TELEGRAM: TelegramAdapter,
}
MESSAGING_APPS = tuple(ADAPTERS)


def adapter_for(app: Channel) -> MessagingAdapter:
    """The app's adapter, configured from settings (it sends through the process's shared HTTP client)."""
    return ADAPTERS[app].from_settings()


__all__ = ["MESSAGING_APPS", "MessagingAdapter", "PayloadError", "adapter_for"]
