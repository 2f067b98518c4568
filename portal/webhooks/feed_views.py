"""Team calendar feeds: the admins' pages (list, new, revoke) and the address calendar apps
fetch (`/feeds/<secret>.ics`, mounted at the site root by `portal/urls.py`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.cache import get_conditional_response
from django.utils.html import format_html
from django.utils.http import http_date
from django.views.decorators.http import require_http_methods, require_safe

from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.directory.models import EventType
from portal.htmx import HtmxHttpRequest, render_page
from portal.lists import Cell, Column, Copy, Hint, Lines, Link, ListContext, read_page
from portal.webhooks import feeds
from portal.webhooks.feed_forms import FeedFilter, FeedForm
from portal.webhooks.models import Feed

# What the list reads of each feed: what it shows and sorts by.
FIELDS = (
    "pk",
    "name",
    "kind",
    "group__name",
    "team__name",
    "event_type_uris",
    "created_at",
    "created_by_label",
    "revoked_at",
    "token",
)
# Calendar apps fetch often; five minutes of reuse costs nothing and spares the database.
CACHE_CONTROL = "private, max-age=300"
# One answer for a revoked and an unknown address: neither says whether the other exists.
NOT_FOUND = "No calendar feed at this address."


# -- the address calendar apps fetch ---------------------------------------------------------


@login_not_required
@require_safe
def feed_ics(request: HttpRequest, token: str) -> HttpResponse:
    feed = feeds.feed_for_token(token)
    if feed is None:
        return HttpResponse(NOT_FOUND, status=404, content_type="text/plain; charset=utf-8")
    chosen = feeds.selection(feed)
    meetings = feeds.meetings_of(feed, chosen)
    version = feeds.version_of(feed, meetings, chosen)
    modified = int(version.last_modified.timestamp())
    response = HttpResponse(content_type=feeds.CONTENT_TYPE)
    response["ETag"] = version.etag
    response["Last-Modified"] = http_date(modified)
    response["Cache-Control"] = CACHE_CONTROL
    response["Content-Disposition"] = 'inline; filename="calendar.ics"'
    answer = get_conditional_response(
        request, etag=version.etag, last_modified=modified, response=response
    )
    if answer is not None and answer is not response:
        return answer  # 304 (the app's copy is current) without reading a meeting
    response.content = feeds.calendar_of(feed, meetings)
    return response


# -- the admins' pages -----------------------------------------------------------------------


def _covers(row: Any, event_type_names: dict[str, str]) -> Cell:
    if row.kind == Feed.Kind.GROUP:
        return Lines(("Group", row.group__name or Hint("removed")))
    if row.kind == Feed.Kind.TEAM:
        return Lines(("Team", row.team__name or Hint("removed")))
    uris = [uri for uri in row.event_type_uris or [] if isinstance(uri, str)]
    names = [event_type_names.get(uri) or "an event type no longer in Calendly" for uri in uris]
    count = len(uris)
    return Lines((f"{count} event type{'' if count == 1 else 's'}", Hint(", ".join(names))))


def _address(row: Any, request: HttpRequest) -> Cell:
    if row.revoked_at is not None:
        return Hint("No longer answers")
    url = feeds.feed_url(row.token, request)
    return Lines((Hint(url), Copy(url, f"Copy the address of {row.name}")))


def _status(row: Any) -> Cell:
    if row.revoked_at is None:
        return "Live"
    return Lines(("Revoked", row.revoked_at))


def _actions(row: Any) -> Cell:
    if row.revoked_at is not None:
        return None
    return Link("Revoke…", reverse("webhooks:feed_revoke", args=[row.pk]))


def columns(request: HttpRequest, event_type_names: dict[str, str]) -> list[Column]:
    return [
        Column("Name", lambda row: row.name, sort="name"),
        Column("Covers", lambda row: _covers(row, event_type_names)),
        Column(
            "Made",
            lambda row: Lines((row.created_at, Hint(f"by {row.created_by_label or 'someone'}"))),
            sort="made",
        ),
        Column("Status", _status),
        Column("Address", lambda row: _address(row, request)),
        Column("Actions", _actions),
    ]


def _event_type_names(organization_id: int, rows: list[Any]) -> dict[str, str]:
    """Names of the event types the page's feeds chose, in one query."""
    uris = {uri for row in rows for uri in row.event_type_uris or [] if isinstance(uri, str)}
    if not uris:
        return {}
    found = EventType.objects.filter(organization_id=organization_id, uri__in=uris)
    return {uri: name or uri for uri, name in found.values_list("uri", "name")}


def _empty() -> str:
    return format_html(
        "<p>No feeds yet. A feed is a secret address that Google Calendar, Outlook or any "
        "calendar app subscribes to, listing the meetings of a group, a team or chosen event "
        "types.</p><p>Feeds fill from the <code>invitee.created</code> and "
        "<code>invitee.canceled</code> deliveries Calendly sends, so your organization needs a "
        '<a href="{}">webhook subscription</a> to those events.</p>',
        reverse("webhooks:subscriptions"),
    )


def _just_made(request: HttpRequest, org_id: int) -> tuple[Feed | None, str]:
    """The feed named by `?made=` after creating it, if it is this organization's and live."""
    made = request.GET.get("made", "")
    if not (made.isascii() and made.isdigit()) or len(made) > 18:
        return None, ""
    feed = Feed.objects.filter(pk=int(made), organization_id=org_id, revoked_at=None).first()
    return (feed, feeds.feed_url(feed.token, request)) if feed else (None, "")


@allow(Role.ADMIN)
@require_safe
def feed_list(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    rows = Feed.objects.filter(organization_id=org_id)
    form = FeedFilter(request.GET)
    page = read_page(
        form.filter_rows(rows),
        fields=FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=rows.count,
    )
    made, made_url = _just_made(request, org_id)
    context = {
        "form": form,
        "made": made,
        "made_url": made_url,
        "missing_events": feeds.missing_events(org_id),
        "list": ListContext(
            form=form,
            page=page,
            columns=columns(request, _event_type_names(org_id, page.rows)),
            base_url=reverse("webhooks:feeds"),
            noun=("feed", "feeds"),
            target="feed-results",
            empty=_empty(),
        ),
    }
    return render_page(request, "webhooks/feeds.html", "feed-results", context)


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def feed_new(request: HttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    posted = request.method == "POST"
    form = FeedForm(request.POST if posted else None, organization_id=org_id)
    if posted and form.is_valid():
        data = form.cleaned_data
        feed, _token = feeds.create_feed(
            organization=Organization.objects.get(pk=org_id),
            name=data["name"],
            kind=data["kind"],
            group=data.get("group"),
            team=data.get("team"),
            event_types=data.get("event_types") or (),
            actor=person(request),
            request=request,
        )
        messages.success(request, f"Feed “{feed.name}” made. Copy its address below.")
        return redirect(f"{reverse('webhooks:feeds')}?made={feed.pk}")
    context = {"form": form, "missing_events": feeds.missing_events(org_id)}
    return render(request, "webhooks/feed_form.html", context, status=400 if posted else 200)


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def feed_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation, naming the feed; POST revokes it."""
    # Another organization's feed is simply not found.
    feed = get_object_or_404(
        Feed.objects.select_related("group", "team", "organization"),
        pk=pk,
        organization_id=organization_id(request),
    )
    if request.method != "POST":
        return render(
            request, "webhooks/feed_revoke.html", {"feed": feed, "covers": feeds.covers(feed)}
        )
    if feeds.revoke_feed(feed=feed, actor=person(request), request=request):
        messages.success(
            request, f"Revoked “{feed.name}”: its address answers “not found” from now on."
        )
    else:
        messages.info(request, f"“{feed.name}” was already revoked.")
    return redirect("webhooks:feeds")


urls: list[URLPattern] = [
    path("feeds", feed_list, name="feeds"),
    path("feeds/new", feed_new, name="feed_new"),
    path("feeds/<int:pk>/revoke", feed_revoke, name="feed_revoke"),
]
public_urls: list[URLPattern] = [
    # The secret is the whole of the access check: no sign-in, nothing that redirects.
    path("feeds/<str:token>.ics", feed_ics, name="feed_ics"),
]
