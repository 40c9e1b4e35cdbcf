"""Every setting of the messaging channels, read from `django.conf.settings` here and nowhere else.

Credentials (tokens, app secrets, verify tokens) come from the environment through config/settings.py;
the defaults below leave every channel unconfigured, which refuses all webhooks (403) and sends nothing.
Settings are read on every call, so tests and operators can change them without restarting imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


def _text(name: str, default: str = "") -> str:
    return str(getattr(settings, name, default))


def _number(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _secrets(name: str) -> tuple[str, ...]:
    """A list setting (or one string): every listed secret is accepted, so secrets rotate without downtime."""
    value = getattr(settings, name, ())
    values = [value] if isinstance(value, str) else list(value)
    return tuple(str(v) for v in values if v)


@dataclass(frozen=True)
class Delivery:
    """How replies are sent: shared by every app."""

    timeout_seconds: float
    attempts: int  # tries per request, the first included
    backoff_seconds: float  # the first wait; doubled after each transient failure
    max_backoff_seconds: float  # no wait is longer, Retry-After included


@dataclass(frozen=True)
class MetaApp:
    """One of WhatsApp, Messenger, Instagram: Graph API credentials and the webhook's secrets."""

    graph_base_url: str
    graph_version: str
    app_secrets: tuple[str, ...]  # each Meta app's secret, and the old one during a rotation
    verify_token: str
    access_token: str
    sender_id: str  # WhatsApp phone number ID, or the Page / Instagram account ID that sends

    @property
    def configured(self) -> bool:
        return bool(self.app_secrets and self.verify_token and self.access_token and self.sender_id)


@dataclass(frozen=True)
class TelegramBot:
    api_base_url: str
    token: str
    webhook_secrets: tuple[str, ...]  # the first is registered by set_telegram_webhook; others accepted
    username: str  # without "@": group messages are answered only when they mention it

    @property
    def bot_id(self) -> str:
        """A bot token starts with the bot's own user id ("123456:ABC…"); replies to it address the bot."""
        return self.token.partition(":")[0]

    @property
    def configured(self) -> bool:
        return bool(self.token and self.webhook_secrets and self.username)


def delivery() -> Delivery:
    return Delivery(
        timeout_seconds=_number("INTEGRATIONS_SEND_TIMEOUT_SECONDS", 10.0),
        attempts=int(_number("INTEGRATIONS_SEND_ATTEMPTS", 4)),
        backoff_seconds=_number("INTEGRATIONS_SEND_BACKOFF_SECONDS", 1.0),
        max_backoff_seconds=_number("INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS", 30.0),
    )


def _meta_app(prefix: str) -> MetaApp:
    return MetaApp(
        graph_base_url=_text("META_GRAPH_API_BASE_URL", "https://graph.facebook.com").rstrip("/"),
        graph_version=_text("META_GRAPH_API_VERSION", "v26.0"),
        app_secrets=_secrets("META_APP_SECRETS"),
        verify_token=_text(f"{prefix}_VERIFY_TOKEN"),
        access_token=_text(f"{prefix}_ACCESS_TOKEN"),
        sender_id=_text(f"{prefix}_SENDER_ID"),
    )


def whatsapp() -> MetaApp:
    return _meta_app("WHATSAPP")


def messenger() -> MetaApp:
    return _meta_app("MESSENGER")


def instagram() -> MetaApp:
    return _meta_app("INSTAGRAM")


def telegram() -> TelegramBot:
    return TelegramBot(
        api_base_url=_text("TELEGRAM_API_BASE_URL", "https://api.telegram.org").rstrip("/"),
        token=_text("TELEGRAM_BOT_TOKEN"),
        webhook_secrets=_secrets("TELEGRAM_WEBHOOK_SECRETS"),
        username=_text("TELEGRAM_BOT_USERNAME").lstrip("@"),
    )
