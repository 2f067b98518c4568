from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Django's admin, with the portal's site (portal/admin.py) as `admin.site`, so every
    `admin.register` and the /django-admin/ URLs use it."""

    default_site = "portal.admin.PortalAdminSite"
