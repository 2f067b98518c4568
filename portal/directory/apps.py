from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "portal.directory"
    label = "directory"
    verbose_name = "Organization directory"

    def ready(self) -> None:
        # Registers the bulk invitation kind of job with the job engine.
        from portal.directory import bulk  # noqa: F401
