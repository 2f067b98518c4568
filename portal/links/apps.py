from django.apps import AppConfig


class LinksConfig(AppConfig):
    name = "portal.links"
    label = "links"
    verbose_name = "Scheduling links"

    def ready(self) -> None:
        # Registers the bulk single-use links kind of job with the job engine.
        from portal.links import bulk  # noqa: F401
