# The picture a web `/imagine edit …` names with its Edit button (assistant/engine/renders.py).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0014_resumable_uploads"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="edits_picture_of",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="assistant.message",
            ),
        ),
    ]
