from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Assistant"

    def ready(self) -> None:
        from assistant import checks  # noqa: F401 (registers the deployment checks)
        from assistant.web import attachments  # noqa: F401 (its models: web uploads, answers read aloud)
