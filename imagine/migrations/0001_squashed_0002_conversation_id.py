from django.conf import settings
from django.db import migrations, models

import imagine.models


class Migration(migrations.Migration):
    """Imagine's schema for a new database, built without assistant's tables: assistant's migrations
    come after Imagine's (Message.image), never between them. Databases that applied 0001 and 0002
    keep them; one that applied only 0001 runs 0002."""

    replaces = [("imagine", "0001_initial"), ("imagine", "0002_conversation_id")]

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ImagineImage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("conversation_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                (
                    "kind",
                    models.CharField(choices=[("image", "Image"), ("clip", "Clip")], default="image", max_length=8),
                ),
                ("prompt", models.TextField()),
                ("seed", models.BigIntegerField()),
                ("width", models.PositiveIntegerField()),
                ("height", models.PositiveIntegerField()),
                ("file", models.FileField(upload_to=imagine.models._file_path)),
                ("gif", models.FileField(blank=True, upload_to=imagine.models._file_path)),
                ("frames", models.PositiveIntegerField(default=1)),
                ("fps", models.PositiveIntegerField(default=0)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=models.deletion.CASCADE,
                        related_name="imagine_images",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=models.deletion.CASCADE,
                        related_name="clips",
                        to="imagine.imagineimage",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["owner", "-created"], name="imagine_ima_owner_i_7dcf23_idx")],
            },
        ),
    ]
