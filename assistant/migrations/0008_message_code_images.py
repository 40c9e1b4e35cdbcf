# Pictures the model's code saved (the code interpreter), kept with the answer; existing rows get [].

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assistant', '0007_moderationaction_content_reads'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='code_images',
            field=models.JSONField(blank=True, default=list),
        ),
    ]
