"""Webhook subscriptions: reading them from Calendly, and making, deleting and re-creating them.

Calendly has no update and no re-enable. A change, or reviving a disabled subscription, is a
new subscription made first and the old one deleted after, so no event is missed in between;
when the delete fails both exist, and the person is told so. A subscription
that delivers to the portal itself gets a receiving address of its own (`Endpoint`) and a
signing key it hands Calendly, so the new one never has the old one's URL (Calendly answers 409
for a URL it already has).

Reading them takes one listing per scope: the organization's, each current group's and each
current member's (`refresh`). That is many calls in a big organization, so pages queue it as a
task. A pass that fails anywhere changes nothing; only a complete pass marks the rows it did
not see as removed. A user-scope subscription of someone who is no longer a member here is not
asked about, so a complete pass marks it removed.

Every change calls Calendly through the organization's connection, then writes the row and its
audit row in one transaction: a refusal leaves nothing behind, not even a receiving address.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from portal import audit
from portal.accounts.connections import ConnectionUnavailable, client_for, note_failure
from portal.accounts.models import Organization, User
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.calendly.schemas import WebhookSubscription
from portal.core.text import storable
from portal.directory.models import Group, Member
from portal.webhooks.models import Endpoint, Subscription

log = logging.getLogger(__name__)

# Who the audit log names when no person asked.
TASK_ACTOR = "background refresh of webhook subscriptions"
REFRESH_COMMAND_ACTOR = "manage.py webhook_refresh"
SUBSCRIBE_COMMAND_ACTOR = "manage.py webhook_subscribe"
UNSUBSCRIBE_ALL_COMMAND_ACTOR = "manage.py webhook_unsubscribe_all"

ORGANIZATION = Subscription.Scope.ORGANIZATION.value
USER = Subscription.Scope.USER.value
GROUP = Subscription.Scope.GROUP.value
ANY_SCOPE = (ORGANIZATION, USER, GROUP)

# The receiving address of an Endpoint ends in this; `reverse("webhook_receiver")` makes it.
RECEIVER_PATH = re.compile(r"/hooks/calendly/(?P<token>[^/]+)\Z")

NO_BASE_URL = (
    "The portal does not know the address Calendly can reach it at, so it cannot subscribe its "
    "own receiver. Set PORTAL_BASE_URL in the deployment's environment (for example "
    "https://portal.example.com) and restart it, or give a callback URL of your own."
)


class SubscriptionRefused(Exception):
    """The portal or Calendly would not do it; `message` says why and what to do next."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# -- the events Calendly sends, their scopes and plans --------------------------------------


@dataclass(frozen=True)
class Event:
    """A webhook event: what it tells, the scopes a subscription to it may have, and what the
    organization's plan must include besides webhooks."""

    name: str
    about: str
    scopes: tuple[str, ...] = ANY_SCOPE
    plan: str = ""

    @property
    def terms(self) -> str:
        """ "any scope", or "organization scope only; needs a plan with routing forms" """
        where = "any scope" if self.scopes == ANY_SCOPE else f"{_scopes(self.scopes)} only"
        return f"{where}; needs {self.plan}" if self.plan else where


EVENTS: dict[str, Event] = {
    event.name: event
    for event in (
        Event("invitee.created", "a meeting was booked (also the new booking of a reschedule)"),
        Event("invitee.canceled", "a meeting was canceled (also the old booking of a reschedule)"),
        Event("invitee_no_show.created", "an invitee was marked as a no-show"),
        Event("invitee_no_show.deleted", "a no-show mark was taken back"),
        Event("event_type.created", "an event type was made"),
        Event("event_type.updated", "an event type was changed"),
        Event("event_type.deleted", "an event type was deleted"),
        Event(
            "routing_form_submission.created",
            "a routing form was submitted, whether or not a meeting was booked",
            (ORGANIZATION,),
            "a plan with routing forms",
        ),
        Event(
            "meeting_recap.created",
            "Notetaker made a meeting recap",
            (USER,),
            "a paid plan with Notetaker",
        ),
        Event(
            "meeting_recap.updated",
            "a meeting recap was changed",
            (USER,),
            "a paid plan with Notetaker",
        ),
        Event(
            "meeting_recap.deleted",
            "a meeting recap was deleted",
            (USER,),
            "a paid plan with Notetaker",
        ),
        Event("contact.created", "a contact was added", plan="a plan with contacts"),
        Event("contact.updated", "a contact was changed", plan="a plan with contacts"),
        Event("contact.deleted", "a contact was deleted", plan="a plan with contacts"),
    )
}


def _scopes(scopes: Sequence[str]) -> str:
    return " or ".join(scopes) + " scope"


def scope_problem(events: Iterable[str], scope: str) -> str | None:
    """Why these events cannot be in one subscription of `scope`, naming each with the scope
    it needs; None when they can."""
    wrong = [EVENTS[name] for name in events if name in EVENTS and scope not in EVENTS[name].scopes]
    if not wrong:
        return None
    needs = "; ".join(f"{event.name} needs {_scopes(event.scopes)}" for event in wrong)
    return (
        f"Not available in a subscription with {scope} scope: {needs}. Calendly takes events "
        "that need different scopes in separate subscriptions, one per scope."
    )


@dataclass(frozen=True)
class Wanted:
    """A subscription as it is to be made; an empty `callback_url` is the portal's receiver."""

    events: tuple[str, ...]
    scope: str
    user_uri: str = ""
    group_uri: str = ""
    callback_url: str = ""

    @property
    def to_portal(self) -> bool:
        return not self.callback_url

    @property
    def where(self) -> str:
        return "this portal's receiver" if self.to_portal else self.callback_url


def _checked(
    organization: Organization,
    *,
    events: Iterable[str],
    scope: str,
    user_uri: str,
    group_uri: str,
    callback_url: str,
    known_events_only: bool = True,
) -> Wanted:
    """What is asked for, refused when Calendly would refuse it or it names what is not this
    organization's. `known_events_only=False` keeps events Calendly listed that the portal
    does not know yet (re-creating what Calendly already had)."""
    names = list(dict.fromkeys(name.strip() for name in events if name.strip()))
    if not names:
        raise SubscriptionRefused("Choose at least one event to subscribe to.")
    unknown = [name for name in names if name not in EVENTS]
    if unknown and known_events_only:
        raise SubscriptionRefused(
            f"Calendly has no webhook event named {', '.join(unknown)}. The events are: "
            f"{', '.join(EVENTS)}."
        )
    if scope not in ANY_SCOPE:
        raise SubscriptionRefused(f"The scope is one of {', '.join(ANY_SCOPE)}, not “{scope}”.")
    problem = scope_problem(names, scope)
    if problem:
        raise SubscriptionRefused(problem)
    if scope == USER:
        if not user_uri or not (
            Member.objects.current().filter(organization=organization, user_uri=user_uri).exists()
        ):
            raise SubscriptionRefused(
                "A subscription with user scope needs one of the organization's current members."
            )
    else:
        user_uri = ""
    if scope == GROUP:
        if not group_uri or not (
            Group.objects.current().filter(organization=organization, uri=group_uri).exists()
        ):
            raise SubscriptionRefused(
                "A subscription with group scope needs one of the organization's current groups."
            )
    else:
        group_uri = ""
    return Wanted(tuple(names), scope, user_uri, group_uri, callback_url.strip())


# -- where Calendly delivers -------------------------------------------------------------------


def base_url_for(request: HttpRequest) -> str:
    """Where Calendly reaches this portal: PORTAL_BASE_URL, or outside production the address
    `request` came to. Empty in production without the setting (`create` then refuses)."""
    if settings.PORTAL_BASE_URL:
        return str(settings.PORTAL_BASE_URL)
    if settings.IS_PRODUCTION:
        return ""
    return request.build_absolute_uri("/").rstrip("/")


def receiver_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + reverse("webhook_receiver", args=[token])


def _token_in(url: str) -> str:
    found = RECEIVER_PATH.search(urlsplit(url).path)
    return found["token"] if found else ""


def _endpoints(organization: Organization, urls: Iterable[str]) -> dict[str, Endpoint]:
    """The organization's receiving addresses among `urls`, by token."""
    tokens = {token for token in map(_token_in, urls) if token}
    if not tokens:
        return {}
    found = Endpoint.objects.filter(organization=organization, token__in=tokens)
    return {endpoint.token: endpoint for endpoint in found}


def at_this_deployment(organization: Organization) -> QuerySet[Subscription]:
    """Current subscriptions that deliver here: to one of the portal's receiving addresses, or
    to any URL under `PORTAL_BASE_URL/hooks/calendly`."""
    here = Q(endpoint__isnull=False)
    if settings.PORTAL_BASE_URL:
        receiver = f"{settings.PORTAL_BASE_URL}/hooks/calendly"
        here |= Q(callback_url=receiver) | Q(callback_url__startswith=f"{receiver}/")
    return (
        Subscription.objects.filter(organization=organization, removed_at__isnull=True)
        .filter(here)
        .order_by("calendly_created_at", "pk")
    )


# -- the rows ------------------------------------------------------------------------------


def _text(value: str | None) -> str:
    """Calendly's text as a column holds it: no NULs, no lone surrogates (not indexed, so
    never cut)."""
    return storable(value, max_bytes=4 * len(value)) if value else ""


def _fields(listed: WebhookSubscription) -> dict[str, Any]:
    """The row's copy of what Calendly says about a subscription."""
    return {
        "callback_url": _text(listed.callback_url),
        # In the organization's index: bounded like every indexed text.
        "state": storable(listed.state),
        "events": [_text(name) for name in listed.events],
        "scope": _text(listed.scope),
        "user_uri": _text(listed.user),
        "group_uri": _text(listed.group),
        "creator_uri": _text(listed.creator),
        "retry_started_at": listed.retry_started_at,
        "calendly_created_at": listed.created_at,
    }


def described(row: Subscription) -> dict[str, Any]:
    """A subscription as the audit log keeps it."""
    return {
        "uri": row.uri,
        "callback_url": row.callback_url,
        "portal_receiver": row.endpoint_id is not None,
        "events": list(row.events),
        "scope": row.scope,
        "user": row.user_uri,
        "group": row.group_uri,
        "state": row.state,
    }


def _current(organization: Organization, row: Subscription) -> None:
    if row.organization_id != organization.pk:
        raise SubscriptionRefused("That subscription belongs to another organization.")
    if row.removed_at is not None:
        raise SubscriptionRefused(
            "This subscription is already deleted, or Calendly no longer lists it."
        )


def _label_of(actor: User | None, actor_label: str) -> str:
    return audit.describe(actor) if actor is not None else actor_label


@contextmanager
def _calendly(
    organization: Organization, client: CalendlyClient | None
) -> Iterator[CalendlyClient]:
    """`client` when given (left open), else the organization's, closed afterwards."""
    if client is not None:
        yield client
        return
    try:
        own = client_for(organization)
    except ConnectionUnavailable as exc:
        raise SubscriptionRefused(errors.explain(exc)) from exc
    with own:
        yield own


# -- reading them from Calendly ----------------------------------------------------------------


@dataclass
class Refreshed:
    """What one complete pass over the organization's subscriptions found and changed."""

    listed: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    # Listed with a URI the table could not hold as it is: nothing is concluded removed then.
    unreadable: int = 0
    calls: int = 0
    changes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unreadable": self.unreadable,
            "listings": self.calls,
        }

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def refresh(
    organization: Organization,
    *,
    actor: User | None = None,
    actor_label: str = TASK_ACTOR,
    request: HttpRequest | None = None,
    client: CalendlyClient | None = None,
) -> Refreshed:
    """Read every subscription of the organization from Calendly and bring the rows up to
    date. Raises SubscriptionRefused, having changed nothing, when any listing fails."""
    result = Refreshed()
    started = timezone.now()
    with _calendly(organization, client) as calendly:
        try:
            found = _list_all(organization, calendly, result)
        except errors.CalendlyError as error:
            note_failure(organization, error)
            raise SubscriptionRefused(
                errors.explain(error, doing="reading the webhook subscriptions from Calendly")
                + " The subscriptions shown here were left as they were."
            ) from error
    with transaction.atomic():
        # One pass writes at a time: two could both add the same new subscription.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        _apply(organization, result, found, started)
        if result.any_change or actor is not None or request is not None:
            audit.record(
                action=audit.Action.WEBHOOKS_REFRESHED,
                organization=organization,
                actor=actor,
                actor_label=actor_label,
                after={**result.counts, "changes": result.changes[:50]},
                request=request,
            )
    return result


def _list_all(
    organization: Organization, calendly: CalendlyClient, result: Refreshed
) -> dict[str, WebhookSubscription]:
    groups = (
        Group.objects.current()
        .filter(organization=organization)
        .order_by("pk")
        .values_list("uri", flat=True)
    )
    members = (
        Member.objects.current()
        .filter(organization=organization)
        .order_by("user_uri")
        .values_list("user_uri", flat=True)
        .distinct()
    )
    listings: list[tuple[str, str | None, str | None]] = [(ORGANIZATION, None, None)]
    listings += [(GROUP, None, uri) for uri in groups]
    listings += [(USER, uri, None) for uri in members]
    found: dict[str, WebhookSubscription] = {}
    for scope, user, group in listings:
        try:
            listed = calendly.list_webhook_subscriptions(
                organization=organization.uri, scope=scope, user=user, group=group
            )
            result.calls += 1
            for subscription in listed:
                found.setdefault(subscription.uri, subscription)
        except ValueError:
            # A mirrored URI the client cannot send: that listing is missing, so the pass is
            # not complete and marks nothing removed.
            log.warning("Cannot list %s-scope subscriptions of %r", scope, user or group)
            result.unreadable += 1
    return found


def _apply(
    organization: Organization,
    result: Refreshed,
    found: dict[str, WebhookSubscription],
    started: datetime,
) -> None:
    now = timezone.now()
    listed: dict[str, WebhookSubscription] = {}
    for uri, subscription in found.items():
        # A URI the table could not store as it is could never be matched again.
        if not uri or storable(uri) != uri:
            result.unreadable += 1
            continue
        listed[uri] = subscription
    result.listed = len(listed)
    endpoints = _endpoints(organization, (s.callback_url for s in listed.values()))
    known = {
        row.uri: row
        for row in Subscription.objects.select_for_update().filter(uri__in=list(listed))
    }
    unchanged: list[int] = []
    for uri, subscription in listed.items():
        fields = _fields(subscription)
        endpoint = endpoints.get(_token_in(fields["callback_url"]))
        row = known.get(uri)
        if row is None:
            made = Subscription.objects.create(
                organization=organization,
                uri=uri,
                endpoint=endpoint,
                refreshed_at=now,
                **fields,
            )
            result.added += 1
            result.changes.append(f"{_label(made)}: new")
            continue
        if row.organization_id != organization.pk:
            log.warning(
                "Subscription %s is listed for %s but stored for another", uri, organization
            )
            continue
        fields["endpoint_id"] = endpoint.pk if endpoint else row.endpoint_id
        differs = [name for name, value in fields.items() if getattr(row, name) != value]
        if not differs and row.removed_at is None:
            unchanged.append(row.pk)
            continue
        result.changed += 1
        result.changes.append(f"{_label(row)}: {_difference(row, fields, differs)}")
        Subscription.objects.filter(pk=row.pk).update(**fields, refreshed_at=now, removed_at=None)
    Subscription.objects.filter(pk__in=unchanged).update(refreshed_at=now)
    if result.unreadable:
        return
    gone = Subscription.objects.filter(
        organization=organization, removed_at__isnull=True, refreshed_at__lt=started
    ).exclude(uri__in=list(listed))
    for row in gone:
        result.changes.append(f"{_label(row)}: no longer listed by Calendly")
    result.removed = gone.update(removed_at=now)


@dataclass(frozen=True)
class Reread:
    """A subscription as Calendly described it just now: `gone` when Calendly no longer has
    it (the row is then marked removed); `problem` says why it could not be read, the row
    staying as Calendly last listed it."""

    row: Subscription
    gone: bool = False
    problem: str = ""


def reread(
    organization: Organization,
    row: Subscription,
    *,
    actor: User | None = None,
    request: HttpRequest | None = None,
    client: CalendlyClient | None = None,
) -> Reread:
    """Read one subscription from Calendly and bring its row up to date (state, events,
    failing deliveries), before a person acts on it. A change is audited like a refresh."""
    _current(organization, row)
    result = Refreshed(calls=1)
    try:
        with _calendly(organization, client) as calendly:
            found = calendly.get_webhook_subscription(webhook_subscription=row.uri)
    except SubscriptionRefused as refused:
        return Reread(row, problem=refused.message)
    except errors.NotFound:
        found = None
    except errors.CalendlyError as error:
        note_failure(organization, error)
        said = errors.explain(error, doing="reading the subscription from Calendly")
        return Reread(row, problem=f"{said} Shown as Calendly last listed it.")
    now = timezone.now()
    with transaction.atomic():
        if found is None:
            result.removed = 1
            result.changes.append(f"{_label(row)}: no longer in Calendly")
            Subscription.objects.filter(pk=row.pk).update(removed_at=now)
            row.removed_at = now
        else:
            result.listed = 1
            fields = _fields(found)
            differs = [name for name, value in fields.items() if getattr(row, name) != value]
            if differs:
                result.changed = 1
                result.changes.append(f"{_label(row)}: {_difference(row, fields, differs)}")
            Subscription.objects.filter(pk=row.pk).update(**fields, refreshed_at=now)
            for name, value in fields.items():
                setattr(row, name, value)
        if result.any_change:
            audit.record(
                action=audit.Action.WEBHOOKS_REFRESHED,
                organization=organization,
                actor=actor,
                after={**result.counts, "changes": result.changes},
                request=request,
            )
    return Reread(row, gone=found is None)


def _label(row: Subscription) -> str:
    return f"{row.scope} subscription to {row.callback_url}"


def _difference(row: Subscription, fields: dict[str, Any], differs: list[str]) -> str:
    said = []
    if row.removed_at is not None:
        said.append("listed again")
    if "state" in differs:
        said.append(f"state {row.state} → {fields['state']}")
    if "retry_started_at" in differs:
        said.append(
            "deliveries failing" if fields["retry_started_at"] else "deliveries succeed again"
        )
    rest = [name for name in differs if name not in ("state", "retry_started_at")]
    if rest:
        said.append(f"{', '.join(rest)} changed")
    return "; ".join(said)


# -- making, deleting, re-creating ------------------------------------------------------------


def create(
    organization: Organization,
    *,
    events: Sequence[str],
    scope: str,
    user_uri: str = "",
    group_uri: str = "",
    callback_url: str = "",
    base_url: str,
    actor: User | None = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
    client: CalendlyClient | None = None,
) -> Subscription:
    """Subscribe in Calendly, store the row and its audit row. An empty `callback_url` is the
    portal's own receiver under `base_url`, at a new receiving address with a new signing key.
    Raises SubscriptionRefused with the sentence to show; nothing is left behind then."""
    wanted = _checked(
        organization,
        events=events,
        scope=scope,
        user_uri=user_uri,
        group_uri=group_uri,
        callback_url=callback_url,
    )
    label = _label_of(actor, actor_label)
    with _calendly(organization, client) as calendly:
        try:
            with transaction.atomic():
                row = _subscribe(
                    organization, wanted, base_url=base_url, calendly=calendly, label=label
                )
                audit.record(
                    action=audit.Action.WEBHOOK_SUBSCRIBED,
                    organization=organization,
                    actor=actor,
                    actor_label=actor_label,
                    target=row,
                    after=described(row),
                    request=request,
                )
        except errors.CalendlyError as error:
            raise _create_refused(organization, error, wanted) from error
    return row


def _subscribe(
    organization: Organization,
    wanted: Wanted,
    *,
    base_url: str,
    calendly: CalendlyClient,
    label: str,
) -> Subscription:
    """Inside the caller's transaction: the receiving address (for the portal's own), the
    subscription in Calendly, and its row."""
    url = wanted.callback_url
    signing_key: str | None = None
    endpoint: Endpoint | None = None
    if wanted.to_portal:
        if not base_url:
            raise SubscriptionRefused(NO_BASE_URL)
        signing_key = secrets.token_urlsafe(32)
        endpoint = Endpoint.objects.create(
            organization=organization,
            token=secrets.token_urlsafe(24),
            signing_key=signing_key,
            created_by_label=label,
        )
        url = receiver_url(base_url, endpoint.token)
    else:
        endpoint = _endpoints(organization, [url]).get(_token_in(url))
    made = calendly.create_webhook_subscription(
        url=url,
        events=list(wanted.events),
        organization=organization.uri,
        scope=wanted.scope,
        user=wanted.user_uri or None,
        group=wanted.group_uri or None,
        signing_key=signing_key,
    )
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    row, _ = Subscription.objects.update_or_create(
        uri=storable(made.uri),
        defaults={
            "organization": organization,
            **_fields(made),
            "endpoint": endpoint,
            "refreshed_at": timezone.now(),
            "removed_at": None,
        },
    )
    return row


def _create_refused(
    organization: Organization,
    error: errors.CalendlyError,
    wanted: Wanted,
    *,
    editing: bool = False,
) -> SubscriptionRefused:
    note_failure(organization, error)
    if isinstance(error, errors.Conflict):
        message = (
            f"Calendly already has a subscription delivering to {wanted.where} with "
            f"{wanted.scope} scope, and takes only one per URL."
        )
        if editing:
            message += (
                " Editing makes the new subscription before deleting the old one, so it needs "
                "another callback URL (or leave it empty for this portal's receiver). To keep "
                "this URL, delete the subscription, then make it again; events in between are "
                "missed."
            )
        else:
            message += " Delete that subscription first, or give another callback URL."
        return SubscriptionRefused(message)
    doing = f"subscribing {wanted.where} to {', '.join(wanted.events)}"
    message = errors.explain(error, doing=doing, changing=True)
    if isinstance(error, errors.UpgradeRequired):
        gated = [name for name in wanted.events if name in EVENTS and EVENTS[name].plan]
        if gated:
            message += (
                f" Of these events, {', '.join(gated)} need a plan with that feature; the others "
                "can be subscribed to without them."
            )
    return SubscriptionRefused(message)


def delete(
    organization: Organization,
    row: Subscription,
    *,
    actor: User | None = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
    client: CalendlyClient | None = None,
    by_url: bool = False,
) -> None:
    """Delete the subscription in Calendly (gone already counts as done), mark the row removed
    and audit it.

    `by_url` deletes whatever Calendly has in the row's scope that delivers to its callback
    URL, as Calendly lists it now, rather than the URI last listed: for a URL the portal did
    not make, where Calendly may have had the subscription re-made since. Calendly takes one
    subscription per URL, so it is this one or its replacement; the audit row names the URIs
    deleted."""
    _current(organization, row)
    deleted = [row.uri]
    with _calendly(organization, client) as calendly:
        try:
            if by_url:
                deleted = calendly.delete_webhook_subscriptions_for_url(
                    callback_url=row.callback_url,
                    organization=organization.uri,
                    scope=row.scope,
                    user=row.user_uri or None,
                    group=row.group_uri or None,
                )
            else:
                calendly.delete_webhook_subscription(webhook_subscription=row.uri)
        except errors.CalendlyError as error:
            note_failure(organization, error)
            doing = f"deleting the subscription to {row.callback_url}"
            raise SubscriptionRefused(errors.explain(error, doing=doing, changing=True)) from error
    now = timezone.now()
    with transaction.atomic():
        Subscription.objects.filter(
            Q(pk=row.pk) | Q(uri__in=deleted), organization=organization, removed_at__isnull=True
        ).update(removed_at=now)
        audit.record(
            action=audit.Action.WEBHOOK_UNSUBSCRIBED,
            organization=organization,
            actor=actor,
            actor_label=actor_label,
            target=row,
            before=described(row),
            after={"removed_at": now, "deleted_in_calendly": deleted},
            request=request,
        )
    row.removed_at = now


@dataclass(frozen=True)
class Replaced:
    """A subscription made in place of another; `problem` says why the old one still exists."""

    new: Subscription
    old: Subscription
    problem: str = ""

    @property
    def old_deleted(self) -> bool:
        return not self.problem


def replace(
    organization: Organization,
    old: Subscription,
    *,
    events: Sequence[str],
    scope: str,
    user_uri: str = "",
    group_uri: str = "",
    callback_url: str = "",
    base_url: str,
    actor: User | None = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
    client: CalendlyClient | None = None,
) -> Replaced:
    """Edit, the only way Calendly allows: make the new subscription, then delete `old`. If the
    new one cannot be made, `old` stays as it was (SubscriptionRefused)."""
    _current(organization, old)
    wanted = _checked(
        organization,
        events=events,
        scope=scope,
        user_uri=user_uri,
        group_uri=group_uri,
        callback_url=callback_url,
    )
    return _replace(
        organization,
        old,
        wanted,
        base_url=base_url,
        actor=actor,
        actor_label=actor_label,
        request=request,
        client=client,
    )


def recreate(
    organization: Organization,
    old: Subscription,
    *,
    base_url: str,
    actor: User | None = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
    client: CalendlyClient | None = None,
) -> Replaced:
    """Revive a disabled subscription: a new one with the same events, scope and owner (to a
    new receiving address when it delivered to the portal), then the old one deleted."""
    _current(organization, old)
    if old.state != Subscription.State.DISABLED:
        raise SubscriptionRefused(
            "Only a disabled subscription needs re-creating; this one is "
            f"{old.state or 'in no state Calendly named'}. To change it, edit it."
        )
    wanted = _checked(
        organization,
        events=old.events,
        scope=old.scope,
        user_uri=old.user_uri,
        group_uri=old.group_uri,
        callback_url="" if old.endpoint_id else old.callback_url,
        known_events_only=False,
    )
    return _replace(
        organization,
        old,
        wanted,
        base_url=base_url,
        actor=actor,
        actor_label=actor_label,
        request=request,
        client=client,
    )


def _replace(
    organization: Organization,
    old: Subscription,
    wanted: Wanted,
    *,
    base_url: str,
    actor: User | None,
    actor_label: str,
    request: HttpRequest | None,
    client: CalendlyClient | None,
) -> Replaced:
    label = _label_of(actor, actor_label)
    with _calendly(organization, client) as calendly:
        try:
            with transaction.atomic():
                new = _subscribe(
                    organization, wanted, base_url=base_url, calendly=calendly, label=label
                )
                problem = _delete_old(organization, old, calendly)
                if not problem:
                    Subscription.objects.filter(pk=old.pk).update(removed_at=timezone.now())
                audit.record(
                    action=audit.Action.WEBHOOK_RECREATED,
                    organization=organization,
                    actor=actor,
                    actor_label=actor_label,
                    target=new,
                    before=described(old),
                    after={**described(new), "old_deleted": not problem},
                    request=request,
                )
        except errors.CalendlyError as error:
            refused = _create_refused(organization, error, wanted, editing=True)
            raise SubscriptionRefused(
                f"{refused.message} The current subscription was left as it is."
            ) from error
    old.refresh_from_db()
    return Replaced(new=new, old=old, problem=problem)


def _delete_old(organization: Organization, old: Subscription, calendly: CalendlyClient) -> str:
    """Delete the replaced subscription; why it still exists, or "" when it is gone."""
    try:
        calendly.delete_webhook_subscription(webhook_subscription=old.uri)
    except errors.CalendlyError as error:
        note_failure(organization, error)
        return (
            "The new subscription exists, and the old one still does: "
            + errors.explain(error, doing="deleting the old subscription", changing=True)
            + " Delete the old one from the list once Calendly answers again."
        )
    return ""


# -- removing every subscription that delivers here -------------------------------------------


@dataclass(frozen=True)
class Unsubscribed:
    row: Subscription
    problem: str = ""  # why it is still there; empty once deleted


def unsubscribe_all(
    organization: Organization,
    rows: Iterable[Subscription],
    *,
    actor: User | None = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
    client: CalendlyClient | None = None,
) -> list[Unsubscribed]:
    """Delete each of `rows` (from `at_this_deployment`), one audit row each; a refusal is
    noted and the others still go. One of the portal's receiving addresses is deleted by its
    URI (only the portal makes subscriptions to it); any other URL under PORTAL_BASE_URL by
    its URL, so a subscription re-made there since the last listing goes too."""
    done: list[Unsubscribed] = []
    with _calendly(organization, client) as calendly:
        for row in rows:
            try:
                delete(
                    organization,
                    row,
                    actor=actor,
                    actor_label=actor_label,
                    request=request,
                    client=calendly,
                    by_url=row.endpoint_id is None,
                )
            except SubscriptionRefused as refused:
                done.append(Unsubscribed(row, refused.message))
            else:
                done.append(Unsubscribed(row))
    return done


# -- for the dashboard and the list ---------------------------------------------------------


def trouble(organization_id: int) -> dict[str, int]:
    """How many current subscriptions are disabled, and how many are failing deliveries."""
    counts: dict[str, int] = Subscription.objects.filter(
        organization_id=organization_id, removed_at__isnull=True
    ).aggregate(
        disabled=Count("pk", filter=Q(state=Subscription.State.DISABLED)),
        retrying=Count(
            "pk", filter=Q(state=Subscription.State.ACTIVE, retry_started_at__isnull=False)
        ),
    )
    return counts


def last_read(organization_id: int) -> datetime | None:
    """When Calendly last listed any of the organization's subscriptions."""
    latest: datetime | None = Subscription.objects.filter(
        organization_id=organization_id
    ).aggregate(latest=Max("refreshed_at"))["latest"]
    return latest
