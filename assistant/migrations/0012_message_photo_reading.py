# A photo's reading kept on the user message it was sent with, for the prompts of later turns.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0011_web_attachments"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="photo_reading",
            field=models.TextField(blank=True),
        ),
    ]
