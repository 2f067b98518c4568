from __future__ import annotations

from django.http import HttpRequest

from portal.accounts.models import Connection, Role


def connection_alert(request: HttpRequest) -> dict[str, Connection | None]:
    """The organization's Calendly connection when it needs an admin's attention."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_role(Role.ADMIN):
        return {"connection_alert": None}
    connection = Connection.objects.filter(organization_id=user.organization_id).first()
    if connection is not None and connection.needs_attention:
        return {"connection_alert": connection}
    return {"connection_alert": None}
