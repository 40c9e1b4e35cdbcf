import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Edits (`imagine.edit`) name the picture they restyled."""

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("imagine", "0001_squashed_0002_conversation_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="imagineimage",
            name="edited_from",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="edits",
                to="imagine.imagineimage",
            ),
        ),
    ]
