"""The messaging channels' settings: one `IntegrationsSettings`, read from Django settings by
`integrations_settings()`, and the per-app views of it the adapters and the sender take.

Each field is the Django setting of its name in upper case (an app's own settings start with the app's
name, the shared ones with INTEGRATIONS_); its default is stated here only, and config/settings.py takes
its defaults from this class (INTEGRATIONS_WEBHOOK_FAST_PATH, which only config/asgi.py reads, has its
default there). The defaults leave every channel unconfigured, which refuses all webhooks (403) and sends nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


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


_APPS = ("meta", "whatsapp", "messenger", "instagram", "telegram")


def _setting_name(field: str) -> str:
    return field.upper() if field.partition("_")[0] in _APPS else f"INTEGRATIONS_{field.upper()}"


def _secret_list(value: str | Iterable[str]) -> tuple[str, ...]:
    """A list setting (or one string): every listed secret is accepted, so secrets rotate without downtime."""
    values = [value] if isinstance(value, str) else value
    return tuple(str(v) for v in values if v)


# Secrets stay out of the settings object's repr, so a logged object shows none.
_Secrets = Annotated[tuple[str, ...], BeforeValidator(_secret_list), Field(repr=False)]
_Secret = Annotated[str, Field(repr=False)]
_BaseUrl = Annotated[str, AfterValidator(lambda url: url.rstrip("/"))]


class IntegrationsSettings(BaseModel):
    model_config = ConfigDict(alias_generator=_setting_name, from_attributes=True, frozen=True)

    # Meta's Graph API (WhatsApp Cloud API, Messenger and Instagram Send API).
    meta_graph_api_base_url: _BaseUrl = "https://graph.facebook.com"
    meta_graph_api_version: str = "v26.0"  # Graph API version in every send URL
    meta_app_secrets: _Secrets = ()  # every Meta app's secret, and the old one while a secret is rotated
    whatsapp_verify_token: _Secret = ""  # the webhook handshake token
    whatsapp_access_token: _Secret = ""  # the Cloud API token
    whatsapp_sender_id: str = ""  # the phone number ID that sends
    messenger_verify_token: _Secret = ""
    messenger_access_token: _Secret = ""
    messenger_sender_id: str = ""  # the Page ID
    instagram_verify_token: _Secret = ""
    instagram_access_token: _Secret = ""
    instagram_sender_id: str = ""  # the linked Page or Instagram account ID
    telegram_api_base_url: _BaseUrl = "https://api.telegram.org"  # the Bot API
    telegram_bot_token: _Secret = ""  # the bot's token from BotFather
    telegram_webhook_secrets: _Secrets = ()  # the first is registered by set_telegram_webhook; all are accepted
    telegram_bot_username: Annotated[str, AfterValidator(lambda name: name.lstrip("@"))] = ""
    send_timeout_seconds: float = 10.0  # one send request to an app
    send_attempts: int = 4  # tries per send (429, 5xx and network errors are retried; other 4xx are not)
    send_backoff_seconds: float = 1.0  # the first wait between tries, doubled each time
    send_max_backoff_seconds: float = 30.0  # the longest wait between tries, Retry-After included
    # Events still unanswered this long after they arrived get their reply task queued again (a lost
    # task), for as long as the apps let a bot reply (WhatsApp: 24 hours after the user's message).
    requeue_after_seconds: int = 600
    requeue_within_seconds: int = 24 * 3600

    @property
    def delivery(self) -> Delivery:
        return Delivery(
            timeout_seconds=self.send_timeout_seconds,
            attempts=self.send_attempts,
            backoff_seconds=self.send_backoff_seconds,
            max_backoff_seconds=self.send_max_backoff_seconds,
        )

    @property
    def whatsapp(self) -> MetaApp:
        return self._meta_app(self.whatsapp_verify_token, self.whatsapp_access_token, self.whatsapp_sender_id)

    @property
    def messenger(self) -> MetaApp:
        return self._meta_app(self.messenger_verify_token, self.messenger_access_token, self.messenger_sender_id)

    @property
    def instagram(self) -> MetaApp:
        return self._meta_app(self.instagram_verify_token, self.instagram_access_token, self.instagram_sender_id)

    @property
    def telegram(self) -> TelegramBot:
        return TelegramBot(
            api_base_url=self.telegram_api_base_url,
            token=self.telegram_bot_token,
            webhook_secrets=self.telegram_webhook_secrets,
            username=self.telegram_bot_username,
        )

    def _meta_app(self, verify_token: str, access_token: str, sender_id: str) -> MetaApp:
        return MetaApp(
            graph_base_url=self.meta_graph_api_base_url,
            graph_version=self.meta_graph_api_version,
            app_secrets=self.meta_app_secrets,
            verify_token=verify_token,
            access_token=access_token,
            sender_id=sender_id,
        )


@functools.cache
def integrations_settings() -> IntegrationsSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return IntegrationsSettings.model_validate(settings)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    integrations_settings.cache_clear()
