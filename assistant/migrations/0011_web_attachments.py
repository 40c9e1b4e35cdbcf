# Photos and voice messages sent from the web chat, answers read aloud, and the voice-replies switch.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assistant', '0010_message_versions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='user',
            name='voice_replies',
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name='AnswerSpeech',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('data', models.BinaryField()),
                ('media_type', models.CharField(max_length=32)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('message', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='speech', to='assistant.message')),
            ],
        ),
        migrations.CreateModel(
            name='WebAttachment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('photo', 'Photo'), ('voice', 'Voice')], max_length=8)),
                ('data', models.BinaryField()),
                ('media_type', models.CharField(max_length=32)),
                ('reading', models.TextField()),
                ('photo_text', models.TextField(blank=True)),
                ('language', models.CharField(blank=True, max_length=8)),
                ('language_detected', models.BooleanField(default=False)),
                ('duration', models.FloatField(blank=True, null=True)),
                ('client_id', models.CharField(blank=True, max_length=64, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('message', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='web_attachment', to='assistant.message')),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='web_attachments', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['id'],
            },
        ),
    ]
