from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "portal.directory"
    label = "directory"
    verbose_name = "Organization directory"

    def ready(self) -> None:
        # Register the bulk invitation, offboarding and data-deletion kinds of job with the engine.
        from portal.directory import bulk, deletion, offboarding  # noqa: F401
