"""The "Calendly connection" page, where the accounts app and the directory meet.

Connecting stores the organization's connection (accounts) and then asks for the first sync of
its mirror (directory). The accounts app may not import the directory, so the one page that
needs both lives here, above the apps; `portal/urls.py` routes it among the accounts pages.
`manage.py connect` does the same from the directory app.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal.accounts import actions
from portal.accounts.models import Connection, Role
from portal.accounts.roles import allow, person
from portal.directory.models import SyncRun
from portal.directory.tasks import request_sync


@require_http_methods(["GET", "POST"])
@allow(Role.ADMIN)
def connect(request: HttpRequest) -> HttpResponse:
    admin = person(request)
    connection = Connection.objects.filter(organization=admin.organization).first()
    if request.method == "POST":
        try:
            connection = actions.connect_organization(request, user=admin)
        except actions.NoGrantToConnect:
            messages.warning(
                request,
                "To connect, sign in with Calendly again: the portal keeps your permission "
                "only for the session in which you gave it.",
            )
            return redirect(f"{reverse('accounts:sign_in')}?next={request.path}")
        request_sync(connection.organization, trigger=SyncRun.Trigger.CONNECTED)
        if connection.status == Connection.Status.MISSING_SCOPES:
            messages.warning(
                request,
                "Connected, but Calendly did not grant everything the portal needs: "
                + ", ".join(connection.missing_scopes),
            )
        else:
            messages.success(request, "Connected. The portal now works with your organization.")
        return redirect("home")
    return render(
        request,
        "accounts/connect.html",
        {
            "connection": connection,
            "can_connect": actions.PENDING_GRANT in request.session,
            "person": admin,
        },
    )
