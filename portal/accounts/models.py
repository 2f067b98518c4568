from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Organization(models.Model):
    """A Calendly organization using the portal. Every query starts from one of these."""

    uri = models.URLField(max_length=255, unique=True, help_text="Calendly organization URI")
    name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name or self.uri


class CalendlyRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    USER = "user", "User"


class Role(models.TextChoices):
    """What a person may do in the portal. Calendly owners and admins are always `admin`."""

    ADMIN = "admin", "Admin"
    SALES = "sales", "Sales (link directory)"
    SUPPORT = "support", "Support (single-use links and shares)"
    COMPLIANCE = "compliance", "Compliance (data-deletion requests)"
    VIEWER = "viewer", "Viewer (read-only)"


class User(AbstractUser):
    """A person who signs in to the portal with their Calendly account.

    A project-owned user model from the start, so what the portal learns about a person from
    Calendly lives here without a swap of `AUTH_USER_MODEL`, which Django cannot do on an
    existing database. Break-glass superusers have no organization.
    """

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="people"
    )
    calendly_uri = models.URLField(max_length=255, unique=True, null=True, blank=True)
    calendly_role = models.CharField(max_length=16, choices=CalendlyRole.choices, blank=True)
    # Granted by a portal admin to a plain Calendly member; empty means no portal access.
    portal_role = models.CharField(max_length=16, choices=Role.choices, blank=True)

    @property
    def roles(self) -> frozenset[str]:
        if self.organization_id is None or not self.is_active:
            return frozenset()
        if self.calendly_role in (CalendlyRole.OWNER, CalendlyRole.ADMIN):
            return frozenset({Role.ADMIN.value})
        return frozenset({self.portal_role}) if self.portal_role else frozenset()

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))
