"""The web chat's uploads become every channel's attachments (MessageAttachment, assistant/chat/attachments.py),
their bytes moved from the database into Django's default storage. Reversible: going back reads each file
into the row again and removes it from the storage."""

import hashlib

import django.db.models.deletion
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import migrations, models

import assistant.chat.attachments


def _into_storage(apps, schema_editor):
    attachments = apps.get_model("assistant", "MessageAttachment")
    for attachment in attachments.objects.iterator(chunk_size=100):
        data = bytes(attachment.data)
        attachment.sha256 = hashlib.sha256(data).hexdigest()
        attachment.file.save(f"sent.{attachment.media_type.split('/')[-1]}", ContentFile(data), save=False)
        attachment.save(update_fields=["file", "sha256"])


def _into_rows(apps, schema_editor):
    attachments = apps.get_model("assistant", "MessageAttachment")
    for attachment in attachments.objects.exclude(file="").iterator(chunk_size=100):
        with attachment.file.open("rb") as stored:
            attachment.data = stored.read()
        name = attachment.file.name
        attachment.save(update_fields=["data"])
        attachment.file.storage.delete(name)


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0012_message_photo_reading"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel(old_name="WebAttachment", new_name="MessageAttachment"),
        migrations.AlterField(
            model_name="messageattachment",
            name="owner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="message_attachments",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="messageattachment",
            name="message",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="attachment",
                to="assistant.message",
            ),
        ),
        migrations.AddField(
            model_name="messageattachment",
            name="file",
            field=models.FileField(blank=True, upload_to=assistant.chat.attachments._file_path),
        ),
        migrations.AddField(
            model_name="messageattachment",
            name="sha256",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="messageattachment",
            name="refused",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(_into_storage, _into_rows),
        # A default only so that going back can add the column to rows that have it no more.
        migrations.AlterField(model_name="messageattachment", name="data", field=models.BinaryField(default=b"")),
        migrations.RemoveField(model_name="messageattachment", name="data"),
        migrations.AddIndex(
            model_name="messageattachment",
            index=models.Index(fields=["owner", "client_id"], name="attachment_owner_client_id"),
        ),
    ]
