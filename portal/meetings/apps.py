from django.apps import AppConfig


class MeetingsConfig(AppConfig):
    name = "portal.meetings"
    label = "meetings"
    verbose_name = "Meetings and availability"
