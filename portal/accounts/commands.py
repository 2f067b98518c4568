"""What the portal's management commands share: which organizations they work on."""

from __future__ import annotations

from django.core.management.base import CommandError

from portal.accounts.models import Organization


def organizations_for(uri: str | None) -> list[Organization]:
    """The organization `--org URI` names (an error when none uses the portal), or, without
    one, every connected organization by name; empty when none is connected."""
    if uri:
        named = list(Organization.objects.filter(uri=uri))
        if not named:
            raise CommandError(f"No organization with URI {uri} uses the portal.")
        return named
    return list(Organization.objects.filter(connection__isnull=False).order_by("name", "uri"))


def the_organization(uri: str | None) -> Organization:
    """The one organization a command that changes things works on: `--org URI`, or the only
    connected one."""
    organizations = organizations_for(uri)
    if not organizations:
        raise CommandError("No organization is connected; connect one first (manage.py connect).")
    if len(organizations) > 1:
        raise CommandError(
            "Several organizations are connected; say which with --org URI: "
            + ", ".join(o.uri for o in organizations)
        )
    return organizations[0]
