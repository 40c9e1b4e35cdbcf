# Resumable uploads of photos and voice messages from the web chat (assistant/web/uploads.py).

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0013_message_attachments_in_storage"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ResumableUpload",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("kind", models.CharField(choices=[("photo", "photo"), ("audio", "audio")], max_length=8)),
                ("declared", models.CharField(max_length=255)),
                ("size", models.PositiveBigIntegerField()),
                ("offset", models.PositiveBigIntegerField(default=0)),
                (
                    "status",
                    models.CharField(
                        choices=[("receiving", "Receiving"), ("finishing", "Finishing"), ("finished", "Finished")],
                        default="receiving",
                        max_length=12,
                    ),
                ),
                ("finishing_since", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                (
                    "attachment",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="upload",
                        to="assistant.messageattachment",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="resumable_uploads",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["expires_at"], name="upload_expiry")],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(offset__lte=models.F("size")), name="offset_within_size")
                ],
            },
        ),
        migrations.CreateModel(
            name="UploadChunk",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("offset", models.PositiveBigIntegerField()),
                ("data", models.BinaryField()),
                (
                    "upload",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="chunks",
                        to="assistant.resumableupload",
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("upload", "offset"), name="one_chunk_per_offset")],
            },
        ),
    ]
