from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal import audit
from portal.accounts import roles
from portal.accounts.models import Role
from portal.accounts.roles import allow
from portal.accounts.roles import person as _person
from portal.audit.models import AuditEntry
from portal.directory import actions, people
from portal.directory.forms import ConfirmRemovalForm, InviteForm, NoteChangeForm, RevokeForm
from portal.directory.models import EventType, GroupRelationship, Invitation, Member
from portal.htmx import HtmxHttpRequest, render_page


def _results(organization_id: int, wanted: people.Wanted, page: str | None) -> people.ResultsPage:
    """A page of the list, with the total and the latest sync run read in the same query."""
    columns = people.INVITATION_COLUMNS if wanted.is_invitations else people.MEMBER_COLUMNS
    compiled = people.CompiledList(
        people.rows(organization_id, wanted),
        columns,
        scalars={
            "total": people.total_of(organization_id, wanted.status),
            "latest_sync": people.latest_sync_of(organization_id),
        },
    )
    return people.results_page(compiled, page, filtered=wanted.filtered)


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def members(request: HtmxHttpRequest) -> HttpResponse:
    organization_id = roles.organization_id(request)
    form = people.PeopleFilter(request.GET)
    wanted = people.wanted_from(form)
    results = _results(organization_id, wanted, request.GET.get("page"))
    mirror = people.mirror_state(organization_id, results.scalars["latest_sync"])
    if not form.check_group(mirror.groups):
        # A group that is not this organization's: like any filter not understood, the
        # filters are set aside and the form says why.
        wanted = people.wanted_from(form)
        results = _results(organization_id, wanted, request.GET.get("page"))
    rows: list[people.InvitationRow] | list[people.MemberRow] = (
        people.invitation_rows(results.rows)
        if wanted.is_invitations
        else people.member_rows(results.rows, mirror.groups)
    )
    context = {
        "form": form,
        "wanted": wanted,
        "results": replace(results, rows=rows),
        "group_choices": [("", "Any group"), *mirror.groups.choices],
        # An empty result: nobody matches these filters, or nobody is there at all?
        "anyone": results.total > 0,
        "links": people.Links(reverse("directory:members"), wanted),
        # Pending invitations can be revoked or sent again, by admins.
        "can_manage": wanted.status == people.Status.PENDING
        and _person(request).has_role(Role.ADMIN),
        "latest_sync": mirror.latest_sync,
        "last_good_sync": mirror.last_good_sync,
    }
    return render_page(request, "directory/members.html", "member-results", context)


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def export(request: HttpRequest) -> StreamingHttpResponse:
    organization_id = roles.organization_id(request)
    form = people.PeopleFilter(request.GET)
    groups = people.current_mirror_state(organization_id).groups
    form.check_group(groups)
    wanted = people.wanted_from(form)
    selected = people.rows(organization_id, wanted)
    response = StreamingHttpResponse(
        people.csv_lines(selected, wanted, groups), content_type="text/csv; charset=utf-8"
    )
    filename = f"{wanted.status}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


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
        return render(
            request, "directory/revoke.html", {"invitation": invitation, "resend": resend}
        )
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
    owned = EventType.objects.current().filter(organization_id=organization_id)
    context = {
        "member": member,
        "refusal": refusal,
        "active_event_types": owned.filter(profile_owner_uri=member.user_uri, active=True).count(),
        "pools": owned.filter(hosts=member, active=True).exclude(pooling_type="").count(),
    }
    return render(request, "directory/remove.html", context)


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
