"""Register this deployment's Telegram webhook: `manage.py set_telegram_webhook https://host/webhooks/telegram`."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrations.adapters.telegram import ALLOWED_UPDATES, TelegramAdapter
from integrations.delivery import SendError


class Command(BaseCommand):
    help = "Point Telegram at this deployment's webhook, with the first TELEGRAM_WEBHOOK_SECRETS as secret token."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("url", help="the public HTTPS URL of /webhooks/telegram")
        parser.add_argument(
            "--drop-pending-updates", action="store_true", help="discard updates Telegram queued meanwhile"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["url"]
        if not url.startswith("https://"):
            raise CommandError("Telegram only delivers to HTTPS URLs.")
        telegram = TelegramAdapter.from_settings()
        if not telegram.configured:
            raise CommandError("Set TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRETS and TELEGRAM_BOT_USERNAME first.")
        try:
            telegram.set_webhook(url, drop_pending_updates=options["drop_pending_updates"])
        except SendError as exc:
            raise CommandError(f"Telegram refused the webhook: {exc.failure.code} {exc.failure.detail}") from exc
        self.stdout.write(f"Telegram now sends {', '.join(ALLOWED_UPDATES)} to {url}.")
