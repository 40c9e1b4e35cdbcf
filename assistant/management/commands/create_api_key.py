"""Create an API key from the command line, for a service account or any existing user.

People create their own keys in the web app; operators use this for programs that act on their
own (a bot, a batch job). The secret is printed once and never stored.
"""

from __future__ import annotations

from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from assistant.chat import api_keys
from assistant.models import User
from core.errors import AssistantError


class Command(BaseCommand):
    help = "Create an API key for USERNAME (created as a service account without a password if absent)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the key is for (shown in key lists)")

    def handle(self, *args: object, username: str, name: str, **options: object) -> None:
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            try:
                new = api_keys.create_key(user=user, name=name)
            except AssistantError as exc:
                raise CommandError(exc.detail) from None
        if created:
            self.stderr.write(f"Created the service account {username!r}.")
        self.stdout.write(new.secret)
