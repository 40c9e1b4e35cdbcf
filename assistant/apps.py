from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Assistant"

    def ready(self) -> None:
        from assistant import checks  # noqa: F401 (registers the deployment checks)
        from assistant.chat import attachments  # noqa: F401 (its model: photos and voice recordings sent)
        from assistant.web import attachments as web_attachments  # noqa: F401 (answers read aloud)
        from assistant.web import uploads  # noqa: F401 (its models: resumable uploads)
