from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal import audit
from portal.accounts import actions as account_actions
from portal.accounts import roles
from portal.accounts.forms import ROLE_CHOICES, PortalRoleForm
from portal.accounts.models import Role, User
from portal.accounts.roles import allow
from portal.accounts.roles import person as _person
from portal.audit.models import AuditEntry
from portal.directory import actions
from portal.directory import members as members_list
from portal.directory.forms import ConfirmRemovalForm, InviteForm, NoteChangeForm, RevokeForm
from portal.directory.mirror import member_groups, mirror_state
from portal.directory.models import EventType, GroupRelationship, Invitation, Member
from portal.htmx import HtmxHttpRequest, render_page
from portal.lists import ListContext, csv_response, read_page


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def members(request: HtmxHttpRequest) -> HttpResponse:
    organization_id = roles.organization_id(request)
    mirror = mirror_state(organization_id)
    form = members_list.MembersFilter(request.GET, groups=list(mirror.groups.items()))
    page = read_page(
        form.rows(organization_id),
        fields=form.fields_read,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=members_list.total(organization_id, form.chosen_status),
    )
    if form.is_invitations:
        # Pending invitations can be revoked or sent again, by admins.
        can_manage = form.chosen_status == members_list.Status.PENDING and _person(
            request
        ).has_role(Role.ADMIN)
        columns = members_list.invitation_columns(can_manage)
    else:
        in_groups = member_groups(organization_id, mirror)
        removed = form.chosen_status == members_list.Status.REMOVED
        can_offboard = form.chosen_status == members_list.Status.ACTIVE and _person(
            request
        ).has_role(Role.ADMIN)
        columns = members_list.member_columns(removed, in_groups, selectable=can_offboard)
    context = {
        "form": form,
        "group_choices": form.fields["group"].choices,  # type: ignore[attr-defined]
        "list": ListContext(
            form=form,
            page=page,
            columns=columns,
            base_url=reverse("directory:members"),
            export_url=reverse("directory:export"),
            noun=form.noun,
            target="member-results",
            empty=_empty_words(form.chosen_status, mirror.last_good_sync is not None),
        ),
        "latest_sync": mirror.latest_sync,
        "last_good_sync": mirror.last_good_sync,
        "selection_form": members_list.SELECTION_FORM,
    }
    return render_page(request, "directory/members.html", "member-results", context)


def _empty_words(status: str, synced: bool) -> str:
    if status != members_list.Status.ACTIVE:
        return "Nobody here."
    if synced:
        return "No members yet."
    return (
        "No members yet. They appear here after the organization's first sync with Calendly, "
        "which starts right after an admin connects the organization."
    )


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def export(request: HttpRequest) -> StreamingHttpResponse:
    organization_id = roles.organization_id(request)
    mirror = mirror_state(organization_id)
    form = members_list.MembersFilter(request.GET, groups=list(mirror.groups.items()))
    header, rows = members_list.csv_rows(
        form, organization_id, member_groups(organization_id, mirror)
    )
    return csv_response(form.chosen_status, header, rows)


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def member(request: HttpRequest, pk: int) -> HttpResponse:
    organization_id = roles.organization_id(request)
    # Another organization's member is simply not found.
    person = get_object_or_404(Member, pk=pk, organization_id=organization_id)
    relationships = (
        GroupRelationship.objects.current()
        .filter(member=person)
        .select_related("group")
        .order_by("group__name")
    )
    event_types = (
        EventType.objects.current()
        .filter(Q(hosts=person) | Q(profile_owner_uri=person.user_uri))
        .filter(organization_id=organization_id)
        .distinct()
        .order_by("-active", "name")
    )
    invitations = Invitation.objects.filter(
        organization_id=organization_id, email__iexact=person.email
    ).order_by("-calendly_created_at")
    audit_entries = AuditEntry.objects.filter(organization_id=organization_id).filter(
        Q(target_type="directory.member", target_id=str(person.pk))
        | Q(target_label__icontains=person.email)
    )[:50]
    return render(
        request,
        "directory/member.html",
        {
            "person": person,
            "relationships": relationships,
            "event_types": event_types,
            "invitations": invitations,
            "audit_entries": audit_entries,
            "admin_center": CALENDLY_ADMIN_CENTER,
            "removal_refusal": actions.removal_refusal(member=person, actor=_person(request)),
            # Their portal account, if they signed in or were given a role ahead of it.
            "account": User.objects.filter(
                organization_id=organization_id, calendly_uri=person.user_uri
            ).first(),
            "roles": ROLE_CHOICES,
        },
    )


# -- actions (admins) -------------------------------------------------------------------------

CALENDLY_ADMIN_CENTER = "https://calendly.com/app/admin/users"


@allow(Role.ADMIN)
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(map(str, form.errors["emails"])))
        return redirect("directory:members")
    emails, invalid = actions.parse_emails(form.cleaned_data["emails"])
    for result in invalid:
        messages.error(request, f"{result.email}: {result.message}")
    if not emails:
        if not invalid:
            messages.error(request, "Type at least one email address to invite.")
        return redirect("directory:members")
    try:
        results = actions.invite(
            organization=person.organization,  # type: ignore[arg-type]
            actor=person,
            emails=emails,
            request=request,
        )
    except actions.ActionRefused as refused:
        messages.error(request, refused.message)
        return redirect("directory:members")
    invited = [r.email for r in results if r.ok]
    if invited:
        messages.success(request, f"Invited {len(invited)}: {', '.join(invited)}.")
    for result in results:
        if not result.ok:
            level = messages.ERROR if result.outcome is actions.Outcome.FAILED else messages.INFO
            messages.add_message(request, level, f"{result.email}: {result.message}")
    return redirect(f"{reverse('directory:members')}?status=pending")


@allow(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def revoke_invitation(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(request)
    invitation = get_object_or_404(
        Invitation, pk=pk, organization_id=roles.organization_id(request), removed_at__isnull=True
    )
    form = RevokeForm(request.POST if request.method == "POST" else request.GET)
    resend = form.is_valid() and form.cleaned_data["then"] == "resend"
    if request.method == "GET":
        # Read fresh: an invitation accepted or revoked since the last sync has nothing to revoke.
        live = actions.invitation_now(
            organization=person.organization,  # type: ignore[arg-type]
            invitation=invitation,
        )
        context = {"invitation": invitation, "resend": resend, "live": live}
        return render(request, "directory/revoke.html", context)
    try:
        if resend:
            result = actions.resend(
                organization=person.organization,  # type: ignore[arg-type]
                actor=person,
                invitation=invitation,
                request=request,
            )
            level = messages.SUCCESS if result.ok else messages.ERROR
            text = (
                f"Sent a new invitation to {invitation.email}."
                if result.ok
                else f"The old invitation was revoked, but a new one could not be sent: "
                f"{result.message}"
            )
            messages.add_message(request, level, text)
        else:
            actions.revoke(
                organization=person.organization,  # type: ignore[arg-type]
                actor=person,
                invitation=invitation,
                request=request,
            )
            messages.success(request, f"Revoked the invitation of {invitation.email}.")
    except actions.ActionRefused as refused:
        messages.error(request, refused.message)
    return redirect(f"{reverse('directory:members')}?status=pending")


@allow(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def remove_member(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(request)
    organization_id = roles.organization_id(request)
    member = get_object_or_404(Member, pk=pk, organization_id=organization_id)
    refusal = actions.removal_refusal(member=member, actor=person)
    if request.method == "POST" and refusal is None:
        form = ConfirmRemovalForm(request.POST)
        if not form.is_valid() or form.cleaned_data["confirm"] != member.email:
            messages.error(request, "Nothing was removed: type the person's email to confirm.")
            return redirect("directory:remove", pk=member.pk)
        try:
            actions.remove(
                organization=person.organization,  # type: ignore[arg-type]
                actor=person,
                member=member,
                request=request,
            )
        except actions.ActionRefused as refused:
            messages.error(request, refused.message)
            return redirect("directory:member", pk=member.pk)
        messages.success(
            request,
            f"Removed {member.name} from the organization. Their Calendly account stays, and "
            "the paid seat is still billed until you remove it on Calendly's billing page.",
        )
        return redirect("directory:members")
    live = None
    if refusal is None:
        # Read fresh, so the question is not asked about someone Calendly already let go.
        live = actions.membership_now(
            organization=person.organization,  # type: ignore[arg-type]
            member=member,
        )
        refusal = actions.removal_refusal(member=member, actor=person, live=live)
    owned = EventType.objects.current().filter(organization_id=organization_id)
    context = {
        "member": member,
        "refusal": refusal,
        "live": live,
        "active_event_types": owned.filter(profile_owner_uri=member.user_uri, active=True).count(),
        "pools": owned.filter(hosts=member, active=True).exclude(pooling_type="").count(),
    }
    return render(request, "directory/remove.html", context)


@allow(Role.ADMIN)
@require_POST
def give_role(request: HttpRequest, pk: int) -> HttpResponse:
    """A portal role for a member, whether or not they have signed in yet: it applies from
    their first sign-in."""
    admin = _person(request)
    member = get_object_or_404(
        Member, pk=pk, organization_id=roles.organization_id(request), removed_at__isnull=True
    )
    form = PortalRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(map(str, form.errors["portal_role"])))
        return redirect("directory:member", pk=member.pk)
    try:
        account = account_actions.account_for_member(
            organization=admin.organization,  # type: ignore[arg-type]
            calendly_uri=member.user_uri,
            name=member.name,
            email=member.email,
            calendly_role=member.role,
        )
        changed = account_actions.set_portal_role(
            person=account, role=form.cleaned_data["portal_role"], actor=admin, request=request
        )
    except account_actions.RoleRefused as refused:
        messages.error(request, refused.message)
        return redirect("directory:member", pk=member.pk)
    if changed:
        when = " from their first sign-in" if account.last_login is None else ""
        messages.success(request, f"{member.name} has: {account.portal_role_label}{when}.")
    return redirect("directory:member", pk=member.pk)


@allow(Role.ADMIN)
@require_POST
def note_change(request: HttpRequest, pk: int) -> HttpResponse:
    """Roles and groups change only in Calendly's admin center; the portal records the intent."""
    person = _person(request)
    member = get_object_or_404(Member, pk=pk, organization_id=roles.organization_id(request))
    form = NoteChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(map(str, form.errors["change"])))
        return redirect("directory:member", pk=member.pk)
    change = form.cleaned_data["change"]
    audit.record(
        action=audit.Action.CHANGE_REQUESTED,
        organization=person.organization,
        actor=person,
        target=member,
        target_label=f"{member.name} ({member.email})",
        after={"change": change},
        request=request,
    )
    messages.success(
        request,
        "Recorded. Make the change in Calendly's admin center; the portal shows it after the "
        "next sync.",
    )
    return redirect("directory:member", pk=member.pk)
