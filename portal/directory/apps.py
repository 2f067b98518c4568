from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "portal.directory"
    label = "directory"
    verbose_name = "Organization directory"

    def ready(self) -> None:
        # Register the bulk invitation and offboarding kinds of job with the job engine.
        from portal.directory import bulk, offboarding  # noqa: F401
