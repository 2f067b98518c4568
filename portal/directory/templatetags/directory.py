"""The members list's rows, rendered in Python.

A 50-row page resolves about a thousand template variables when written as template loops,
which made rendering the largest cost of the page; `format_html` escapes the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.core.templatetags.portal import moment
from portal.directory.models import GroupRelationship, Invitation, Member

register = template.Library()

ROLE_LABELS = dict(Member.Role.choices)


@register.simple_tag
def member_rows(members: Iterable[Member], base_url: str, removed: bool) -> SafeString:
    return format_html_join(
        "\n",
        '<tr><th scope="row"><a href="{}{}">{}</a></th><td>{}</td><td>{}</td><td>{}</td>'
        "<td>{}</td></tr>",
        (
            (
                base_url,
                member.pk,
                member.name,
                member.email,
                ROLE_LABELS.get(member.role, member.role),
                _groups(member),
                moment(member.removed_at if removed else member.calendly_created_at),
            )
            for member in members
        ),
    )


def _groups(member: Member) -> SafeString | str:
    relationships: list[GroupRelationship] = getattr(member, "current_groups", [])
    if not relationships:
        return "—"
    return format_html_join(
        ", ",
        "{}{}",
        (
            (r.group.name, " (group admin)" if r.role == GroupRelationship.Role.ADMIN else "")
            for r in relationships
        ),
    )


@register.simple_tag
def invitation_rows(invitations: Iterable[Invitation], manage: bool) -> SafeString:
    rows = []
    for invitation in invitations:
        actions: SafeString | str = ""
        if manage:
            revoke = reverse("directory:revoke", args=[invitation.pk])
            actions = format_html(
                '<td><a href="{}?then=resend">Resend…</a> · <a href="{}">Revoke…</a></td>',
                revoke,
                revoke,
            )
        rows.append(
            format_html(
                '<tr><th scope="row">{}</th><td>{}</td><td>{}</td>{}</tr>',
                invitation.email,
                moment(invitation.calendly_created_at),
                moment(invitation.last_sent_at),
                actions,
            )
        )
    return SafeString("\n".join(rows))


@register.simple_tag
def sort_header(sorts: dict[str, dict[str, str]], key: str, label: str) -> SafeString:
    link = sorts[key]
    aria = format_html(' aria-sort="{}"', link["aria"]) if link["aria"] else ""
    return format_html(
        '<th scope="col"{}><a href="{}" hx-get="{}" hx-target="#member-results" '
        'hx-push-url="true">{}</a></th>',
        aria,
        link["url"],
        link["url"],
        label,
    )
