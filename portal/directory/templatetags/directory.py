"""The members list's rows, rendered in Python.

A 50-row page resolves about a thousand template variables when written as template loops,
which made rendering the largest cost of the page. The rows are plain values (MemberRow), so
each cell is escaped once with the standard library's `html.escape`, the same escaping Django
applies, without a lazy-string check per value.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from portal.core.templatetags.portal import moment
from portal.directory.models import Member
from portal.directory.people import (
    InvitationRow,
    Links,
    MemberRow,
    ResultsPage,
    Wanted,
    group_label,
)

register = template.Library()

ROLE_LABELS = dict(Member.Role.choices)


@register.simple_tag
def member_rows(rows: Iterable[MemberRow], base_url: str, removed: bool) -> SafeString:
    base = escape(base_url)
    return SafeString(
        "\n".join(
            f'<tr><th scope="row"><a href="{base}{row.pk}">{escape(row.name)}</a></th>'
            f"<td>{escape(row.email)}</td><td>{ROLE_LABELS.get(row.role) or escape(row.role)}</td>"
            f"<td>{_groups(row)}</td><td>{moment(row.removed if removed else row.joined)}</td></tr>"
            for row in rows
        )
    )


def _groups(row: MemberRow) -> str:
    if not row.groups:
        return "—"
    return ", ".join(escape(group_label(group)) for group in row.groups)


@register.simple_tag
def invitation_rows(invitations: Iterable[InvitationRow], manage: bool) -> SafeString:
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
                moment(invitation.invited),
                moment(invitation.last_sent),
                actions,
            )
        )
    return SafeString("\n".join(rows))


@register.simple_tag
def options(choices: Iterable[tuple[object, str]], selected: object) -> SafeString:
    """A select's options, the `selected` value marked: one tag instead of a template loop."""
    return SafeString(
        "".join(
            f'<option value="{escape(str(value))}"{" selected" if value == selected else ""}>'
            f"{escape(str(label))}</option>"
            for value, label in choices
        )
    )


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


@register.filter
def count_line(results: ResultsPage, wanted: Wanted) -> str:
    """ "1,317 members", "42 of 1,317 members", "More than 500 of 10,000 members match; ..." """
    total = f"{results.total:,} {_plural(wanted.status_noun, results.total)}"
    if not wanted.filtered:
        return total
    if results.more:
        return f"More than {results.count:,} of {total} match; type more to narrow the list"
    return f"{results.count:,} of {total}"


def _plural(noun: str, count: int) -> str:
    return noun if count == 1 else f"{noun}s"


@register.simple_tag
def pager(results: ResultsPage, links: Links) -> SafeString | str:
    """Previous / "Page 2 of 7" / Next, each link swapping the results in place."""
    if not results.has_other_pages:
        return ""
    base = f"{links.base}?{links.page_query}page="

    def link(number: int, label: str) -> str:
        url = escape(f"{base}{number}")
        return (
            f'<a href="{url}" hx-get="{url}" hx-target="#member-results" hx-push-url="true">'
            f"{label}</a>"
        )

    of = f" of {results.num_pages}" if results.num_pages else ""
    return SafeString(
        '<nav class="pagination" aria-label="Pages">'
        + (link(results.previous_page_number, "Previous") if results.has_previous else "")
        + f"<span>Page {results.number}{of}</span>"
        + (link(results.next_page_number, "Next") if results.has_next else "")
        + "</nav>"
    )
