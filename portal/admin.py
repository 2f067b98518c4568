"""The Django admin as the portal runs it: the break-glass door for superusers, whose every
password sign-in, good or bad, is written to the audit log.

django-axes counts the failures and refuses a username at an address once it has failed too
often (settings `AXES_*`); this site records what became of each attempt. It records in the
view, not from Django's or axes' signals, because every audit row is written by the action it
describes (portal/audit/__init__.py). `portal.apps.PortalAdminConfig` makes it `admin.site`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.decorators import login_not_required
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from portal.accounts.models import User
from portal.audit import LABEL_LENGTH, Action, record


class AdminSignInForm(AdminAuthenticationForm):
    """Refuses a username longer than any account's before a password is checked: axes keeps
    the username of each failure in a 255-character column and a longer one fails its write
    (a 500), while Django's form puts the user model's limit only on the input box."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        assert isinstance(username, forms.CharField)
        assert username.max_length is not None
        username.validators.append(MaxLengthValidator(username.max_length))


class PortalAdminSite(admin.AdminSite):
    login_form = AdminSignInForm

    # Marked again: an override loses AdminSite.login's mark, and LoginRequiredMiddleware would
    # then send people signing in here to the Calendly sign-in.
    @login_not_required
    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().login(request, extra_context)
        if request.method == "POST":
            record_sign_in_attempt(request, response)
        return response


def record_sign_in_attempt(request: HttpRequest, response: HttpResponse) -> None:
    """One audit row for a password sign-in posted to the admin; the password is never read."""
    user = request.user
    if isinstance(response, HttpResponseRedirect) and isinstance(user, User):
        record(
            action=Action.ADMIN_SIGN_IN,
            organization=user.organization,
            actor=user,
            target=user,
            request=request,
        )
        return
    # What was typed, for the label only: cut before repr() so a huge value costs nothing, and
    # without NUL bytes, which PostgreSQL refuses in text.
    typed = request.POST.get("username", "")[:LABEL_LENGTH].replace("\x00", "")
    # axes marks the request when this attempt reached the limit or came while locked. A
    # failure it counted carries the new count; an attempt refused while locked was not counted
    # (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off) and so has none. The axes
    # middleware turns both into the lockout page after this returns.
    locked = bool(getattr(request, "axes_locked_out", False))
    failures: int | None = getattr(request, "axes_failures_since_start", None)
    if locked and failures is None:
        action, details = Action.ADMIN_LOCKED_OUT, None
    else:
        # A form refused before any password check (a NUL byte, an overlong username) has no
        # count either, and is a failure all the same.
        action = Action.ADMIN_SIGN_IN_FAILED
        details = {"failures": failures, "locked": locked} if failures is not None else None
    record(
        action=action,
        organization=None,
        actor_label=f"username {typed!r}",
        after=details,
        request=request,
    )
