from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from portal.accounts.crypto import EncryptedTextField


class Organization(models.Model):
    """A Calendly organization using the portal. Every query starts from one of these."""

    # Text columns: Calendly's strings have no documented length limit.
    uri = models.TextField(unique=True, help_text="Calendly organization URI")
    name = models.TextField(blank=True)
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


# What an admin may give a plain Calendly member. Portal admin is never given: it comes only
# from the person's Calendly role (owner or admin), so nobody can raise anyone to it here.
GRANTABLE_ROLES = (Role.SALES, Role.SUPPORT, Role.COMPLIANCE, Role.VIEWER)


class User(AbstractUser):
    """A person who signs in to the portal with their Calendly account.

    A project-owned user model from the start, so what the portal learns about a person from
    Calendly lives here without a swap of `AUTH_USER_MODEL`, which Django cannot do on an
    existing database. Break-glass superusers have no organization.
    """

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="people"
    )
    # Calendly's values, of any length (AbstractUser's 254-character email column included).
    email = models.TextField("email address", blank=True)
    calendly_uri = models.TextField(unique=True, null=True, blank=True)
    calendly_role = models.TextField(choices=CalendlyRole.choices, blank=True)
    # Granted by a portal admin to a plain Calendly member; empty means no portal access.
    portal_role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    # The person's IANA time zone in Calendly ("America/New_York"), kept at sign-in: pages show
    # times in it. Empty, or a name this machine does not know, shows UTC.
    timezone = models.TextField(blank=True)

    @property
    def roles(self) -> frozenset[str]:
        if self.organization_id is None or not self.is_active:
            return frozenset()
        if self.calendly_role in (CalendlyRole.OWNER, CalendlyRole.ADMIN):
            return frozenset({Role.ADMIN.value})
        # A stored value outside what can be given (an "admin" written before this rule, a
        # retired role) grants nothing.
        if self.portal_role in GRANTABLE_ROLES:
            return frozenset({self.portal_role})
        return frozenset()

    @property
    def portal_role_label(self) -> str:
        """The stored portal role in words, including one that grants nothing."""
        if not self.portal_role:
            return "No portal access"
        label = dict(Role.choices).get(self.portal_role, repr(self.portal_role))
        if self.portal_role in GRANTABLE_ROLES:
            return label
        return f"{label}: stored, but not a role the portal gives, so no access"

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))


class Connection(models.Model):
    """The grant the portal uses to act on Calendly for an organization.

    An owner's or admin's OAuth grant (from signing in and choosing "connect"), or a personal
    access token given to `manage.py connect`. Tokens are encrypted at rest. `token_version`
    goes up with every refresh so two processes can never both store a refresh: the second
    compare-and-swap finds the version moved and re-reads instead.
    """

    class Kind(models.TextChoices):
        OAUTH = "oauth", "OAuth grant"
        PERSONAL_ACCESS_TOKEN = "personal_access_token", "Personal access token"

    class Status(models.TextChoices):
        HEALTHY = "healthy", "Healthy"
        NEEDS_REAUTHORIZATION = "needs_reauthorization", "Needs to be connected again"
        MISSING_SCOPES = "missing_scopes", "Missing permissions"

    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="connection"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # The Calendly user whose grant this is: Calendly's rate limit is counted against them.
    owner_uri = models.TextField()
    owner_label = models.TextField(blank=True)
    connected_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.TextField(blank=True)
    token_version = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.HEALTHY)
    status_detail = models.TextField(blank=True)
    missing_scopes = models.JSONField(default=list, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.organization} via {self.owner_label or self.owner_uri}"

    @property
    def needs_attention(self) -> bool:
        return self.status != self.Status.HEALTHY
