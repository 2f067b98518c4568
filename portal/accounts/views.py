from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal import audit
from portal.accounts import actions
from portal.accounts.forms import ROLE_CHOICES, CallbackForm, PortalRoleForm, SignInForm
from portal.accounts.models import Connection, Role, User
from portal.accounts.roles import allow, signed_in
from portal.accounts.roles import person as _person


@login_not_required
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request.POST if request.method == "POST" else request.GET)
    # A next page that is not even a plausible URL is dropped: sign-in still works.
    next_url = form.cleaned_data["next"] if form.is_valid() else ""
    if request.method == "POST":
        # Starting from a POST keeps third-party pages from starting sign-ins in your browser.
        return redirect(actions.begin_sign_in(request, next_url=next_url))
    return render(request, "accounts/sign_in.html", {"next": next_url})


@login_not_required
@require_safe
def callback(request: HttpRequest) -> HttpResponse:
    try:
        form = CallbackForm(request.GET)
        signed_in = actions.finish_sign_in(request, form.cleaned_data if form.is_valid() else None)
    except actions.SignInFailed as failure:
        # Fail closed: the pending sign-in is already used up. The rest of the session stays:
        # otherwise any link to this URL would sign the person out.
        return render(
            request, "accounts/sign_in_failed.html", {"reason": failure.message}, status=400
        )
    organization = signed_in.user.organization
    if signed_in.may_connect and not Connection.objects.filter(organization=organization).exists():
        return redirect("accounts:connect")
    return redirect(signed_in.next_url)


@require_POST
@signed_in
def sign_out(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    grant = actions.discard_pending_grant(request, user=person)
    audit.record(
        action=audit.Action.SIGN_OUT,
        organization=person.organization,
        actor=person,
        target=person,
        after={"sign_in_grant": grant} if grant else None,
        request=request,
    )
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:sign_in")


@require_POST
@allow(Role.ADMIN)
def disconnect(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "disconnect":
        messages.error(request, "Nothing was changed: tick the confirmation to disconnect.")
        return redirect("accounts:connect")
    revoked = actions.disconnect_organization(request, user=_person(request))
    messages.success(
        request,
        "Disconnected. Pages keep showing the last synced data; background work that needs "
        "Calendly stops until an admin connects again.",
    )
    if revoked is False:
        messages.warning(
            request,
            "Calendly could not be reached to end the portal's access, so it may still list "
            "the portal as connected. Remove it in Calendly under Integrations & apps.",
        )
    elif revoked is None:
        messages.info(
            request,
            "The connection used a personal access token; only its owner can delete it in "
            "Calendly, under Integrations & apps > API and webhooks.",
        )
    return redirect("accounts:connect")


@require_safe
@allow(Role.ADMIN)
def people(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    members = User.objects.filter(organization=person.organization).order_by(
        "first_name", "last_name", "email"
    )
    return render(
        request,
        "accounts/people.html",
        {"people": members, "roles": ROLE_CHOICES, "me": person},
    )


@require_POST
@allow(Role.ADMIN)
def set_role(request: HttpRequest, pk: int) -> HttpResponse:
    admin = _person(request)
    # Scoped to the admin's organization: anyone else's id is simply not found.
    person = get_object_or_404(User, pk=pk, organization=admin.organization)
    form = PortalRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(map(str, form.errors["portal_role"])))
        return redirect("accounts:people")
    try:
        changed = actions.set_portal_role(
            person=person, role=form.cleaned_data["portal_role"], actor=admin, request=request
        )
    except actions.RoleRefused as refused:
        messages.error(request, refused.message)
        return redirect("accounts:people")
    if changed:
        name = person.get_full_name() or person.email
        messages.success(request, f"{name} now has: {person.portal_role_label}.")
    return redirect("accounts:people")
