"""Routing forms, the activity log, webhook subscriptions and data deletion."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from portal.sandbox import render
from portal.sandbox.api.checks import (
    EMAIL,
    UPGRADE_ENTERPRISE,
    WEBHOOK_EVENTS,
    colleague,
    group_admin,
    own_org,
    require_admin,
)
from portal.sandbox.http import (
    JSON,
    NO_ACCESS,
    NO_PERMISSION,
    ApiError,
    Request,
    Response,
    forbidden,
    invalid,
    not_found,
    paginate,
    parse_timestamp,
    sort_rows,
    timestamp,
)
from portal.sandbox.state import (
    Invitee,
    Sandbox,
    WebhookSubscription,
)

# -- routing forms and the activity log --------------------------------------------------------


def list_routing_forms(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations", required=True)
    assert org is not None
    own_org(sb, req, org)
    keys = req.sort_arg(("created_at",), "created_at:asc")
    rows = [f for f in sb.routing_forms.values() if f.organization == org]
    sort_rows(rows, keys, lambda f, _name: f.created_at)
    return paginate(req, rows, lambda f: render.routing_form(req.base, f))


def get_routing_form(sb: Sandbox, req: Request) -> Response:
    row = sb.routing_forms.get(req.params["uuid"])
    if row is None or row.organization != req.caller.organization:
        raise not_found()
    return Response.resource(render.routing_form(req.base, row))


def list_submissions(sb: Sandbox, req: Request) -> Response:
    form = req.uri_arg("form", "routing_forms", required=True)
    assert form is not None
    row = sb.routing_forms.get(form)
    if row is None:
        raise not_found()
    own_org(sb, req, row.organization)
    keys = req.sort_arg(("created_at",), "created_at:asc")
    rows = [s for s in sb.submissions.values() if s.form == form]
    sort_rows(rows, keys, lambda s, _name: s.created_at)
    return paginate(req, rows, lambda s: render.submission(req.base, s))


def get_submission(sb: Sandbox, req: Request) -> Response:
    row = sb.submissions.get(req.params["uuid"])
    if row is None or sb.routing_forms[row.form].organization != req.caller.organization:
        raise not_found()
    return Response.resource(render.submission(req.base, row))


def search_matches(term: str, haystack: str) -> bool:
    """A small subset of the activity log's search syntax: `|` or, `-term` exclusion, `*`."""
    for alternative in term.split("|"):
        words = [w.strip('"() ') for w in re.split(r"[+\s]+", alternative) if w.strip('"() ')]
        ok = True
        for word in words:
            negate = word.startswith("-")
            needle = word.lstrip("-").replace("*", "").lower()
            if (needle in haystack) == negate:
                ok = False
                break
        if ok and words:
            return True
    return False


def list_activity(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations", required=True)
    assert org is not None
    own_org(sb, req, org)
    require_admin(sb, req)
    if sb.organizations[org].plan != "enterprise":
        raise forbidden(UPGRADE_ENTERPRISE)
    allowed = ("action", "actor.display_name", "actor.uri", "namespace", "occurred_at")
    keys = req.sort_arg(allowed, "occurred_at:desc")
    low = req.time_arg("min_occurred_at")
    high = req.time_arg("max_occurred_at")
    term = req.arg("search_term")
    if term is not None and len(term) > 300:
        raise invalid("search_term", "must be at most 300 characters")

    def listed(name: str) -> set[str]:
        return {v for v in (req.arg(name) or "").split(",") if v}

    actors = {req.uri("actor", a, "users") for a in listed("actor")}
    namespaces, actions = listed("namespace"), listed("action")
    rows = [e for e in sb.activity if e.organization == org]
    if actors:
        rows = [e for e in rows if e.actor in actors]
    if namespaces:
        rows = [e for e in rows if e.namespace in namespaces]
    if actions:
        rows = [e for e in rows if e.action in actions]
    if low:
        rows = [e for e in rows if e.occurred_at >= low]
    if high:
        rows = [e for e in rows if e.occurred_at <= high]
    if term:

        def haystack(entry: Any) -> str:
            person = sb.users.get(entry.actor or "")
            who = f"{person.name} {person.email}" if person else ""
            return f"{entry.namespace} {entry.action} {who} {entry.details}".lower()

        rows = [e for e in rows if search_matches(term, haystack(e))]

    def value(entry: Any, name: str) -> Any:
        person = sb.users.get(entry.actor or "")
        if name == "actor.display_name":
            return person.name if person else ""
        if name == "actor.uri":
            return entry.actor or ""
        return getattr(entry, name)

    sort_rows(rows, keys, value)
    total = len(rows)

    def summary(page: list[JSON]) -> JSON:
        return {
            "last_event_time": max((e["occurred_at"] for e in page), default=None),
            "total_count": total,
            "exceeds_max_total_count": False,
        }

    return paginate(
        req, rows, lambda e: render.activity(req.base, sb, e), max_count=1000, extra=summary
    )


# -- webhooks ----------------------------------------------------------------------------------


def create_webhook(sb: Sandbox, req: Request) -> Response:
    body = req.json_body()
    url = body.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise invalid("url", "must be a valid URL")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise invalid("events", "must be filled")
    for event in events:
        if event not in WEBHOOK_EVENTS:
            raise invalid("events", f"{event} is not a valid event")
    if len(set(events)) != len(events):
        raise invalid("events", "must be unique")
    org = req.uri("organization", body.get("organization"), "organizations")
    scope = body.get("scope")
    if scope not in ("organization", "user", "group"):
        raise invalid("scope", "must be one of organization, user, group")
    for event in events:
        if scope not in WEBHOOK_EVENTS[event]:
            raise invalid("events", f"{event} is not available for the {scope} scope")
    own_org(sb, req, org, NO_ACCESS)
    user = group = None
    if scope == "user":
        user = colleague(sb, req, req.uri("user", body.get("user"), "users")).uuid
        if user != req.caller.uuid and not sb.is_admin(req.caller):
            raise forbidden(NO_PERMISSION)
    elif scope == "group":
        group = req.uri("group", body.get("group"), "groups")
        if group not in sb.groups or sb.groups[group].organization != org:
            raise not_found()
        if not (sb.is_admin(req.caller) or group_admin(sb, req.caller, group)):
            raise forbidden(NO_PERMISSION)
    elif not sb.is_admin(req.caller):
        raise forbidden(NO_PERMISSION)
    key = body.get("signing_key")
    if key is not None and not isinstance(key, str):
        raise invalid("signing_key", "must be a string")
    # Calendly answers 409 "Hook with this url already exists" without saying what makes two
    # hooks the same; assumed here: the URL within one organization, scope and owner.
    for hook in sb.webhooks.values():
        if (hook.organization, hook.scope, hook.user, hook.group, hook.callback_url) == (
            org,
            scope,
            user,
            group,
            url,
        ):
            raise ApiError(409, "Already Exists", "Hook with this url already exists")
    now = sb.now()
    row = WebhookSubscription(
        sb.new_id(), org, url, list(events), scope, user, group, req.caller.uuid, key, now, now
    )
    sb.webhooks[row.uuid] = row
    return Response.resource(render.webhook(req.base, row), 201)


def list_webhooks(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations", required=True)
    scope = req.choice_arg("scope", ("organization", "user", "group"), required=True)
    keys = req.sort_arg(("created_at",), "created_at:asc")
    assert org is not None
    own_org(sb, req, org)
    user = req.uri_arg("user", "users", required=scope == "user")
    group = req.uri_arg("group", "groups", required=scope == "group")
    admin = sb.is_admin(req.caller)
    if scope == "organization" and not admin:
        raise forbidden(NO_PERMISSION)
    if scope == "user" and user != req.caller.uuid and not admin:
        raise forbidden(NO_ACCESS)
    if scope == "group" and not (admin or (group and group_admin(sb, req.caller, group))):
        raise forbidden(NO_ACCESS)
    rows = [h for h in sb.webhooks.values() if h.organization == org and h.scope == scope]
    if user:
        rows = [h for h in rows if h.user == user]
    if group:
        rows = [h for h in rows if h.group == group]
    sort_rows(rows, keys, lambda h, _name: h.created_at)
    return paginate(req, rows, lambda h: render.webhook(req.base, h))


def visible_webhook(sb: Sandbox, req: Request) -> WebhookSubscription:
    row = sb.webhooks.get(req.params["webhook_uuid"])
    if row is None or row.organization != req.caller.organization:
        raise not_found()
    if not sb.is_admin(req.caller) and row.user != req.caller.uuid:
        raise forbidden(NO_ACCESS)
    return row


def get_webhook(sb: Sandbox, req: Request) -> Response:
    return Response.resource(render.webhook(req.base, visible_webhook(sb, req)))


def delete_webhook(sb: Sandbox, req: Request) -> Response:
    row = visible_webhook(sb, req)
    del sb.webhooks[row.uuid]
    return Response.empty()


NO_SAMPLE = "no sample data for this event in the sandbox"
# What the sample invitee of each invitee event should look like, where the sandbox has one.
SAMPLE_INVITEES: dict[str, Callable[[Invitee], bool]] = {
    "invitee.created": lambda i: i.status == "active",
    "invitee.canceled": lambda i: i.status == "canceled",
    "invitee_no_show.created": lambda i: i.no_show is not None,
    "invitee_no_show.deleted": lambda i: i.no_show is None,
}


def sample_invitee_payload(sb: Sandbox, req: Request, org: str, event: str) -> JSON:
    """An invitee of `org` in the state `event` leaves it in; `invitee_no_show.created` gets a
    made-up `no_show` when nobody was marked (Calendly's samples are made up too)."""
    rows: list[Invitee] = [
        i for i in sb.invitees.values() if sb.scheduled_events[i.event].organization == org
    ]
    if not rows:
        raise invalid("event", NO_SAMPLE)
    row = next((i for i in rows if SAMPLE_INVITEES[event](i)), rows[0])
    payload = render.invitee_payload(req.base, sb, row)
    if event == "invitee_no_show.created" and payload["no_show"] is None:
        payload["no_show"] = {
            "uri": f"{req.base}/invitee_no_shows/{sb.new_id()}",
            "created_at": timestamp(sb.now()),
        }
    return payload


def sample_webhook_data(sb: Sandbox, req: Request) -> Response:
    event = req.choice_arg("event", tuple(WEBHOOK_EVENTS), required=True)
    org = req.uri_arg("organization", "organizations", required=True)
    scope = req.choice_arg("scope", ("organization", "user", "group"), required=True)
    assert org is not None
    assert event is not None
    own_org(sb, req, org)
    if scope == "user":
        colleague(sb, req, req.uri_arg("user", "users", required=True) or "")
    if scope == "group":
        req.uri_arg("group", "groups", required=True)
    payload: JSON
    if event in SAMPLE_INVITEES:
        payload = sample_invitee_payload(sb, req, org, event)
    elif event.startswith("routing_form_submission"):
        payload = render.submission(req.base, next(iter(sb.submissions.values())))
    elif event.startswith("event_type"):
        any_type = next((et for et in sb.event_types.values() if et.organization == org), None)
        if any_type is None:
            raise invalid("event", NO_SAMPLE)
        if event == "event_type.deleted":
            any_type = replace(any_type, deleted_at=sb.now())
        payload = render.event_type_payload(req.base, sb, any_type)
    else:
        raise invalid("event", NO_SAMPLE)
    return Response.json(
        200,
        {
            "event": event,
            "created_at": timestamp(sb.now()),
            "created_by": render.user_uri(req.base, req.caller.uuid),
            "payload": payload,
        },
    )


# -- data compliance ---------------------------------------------------------------------------


DATA_REQUESTS_PERMISSION = (
    "You must be an admin/owner with the data requests permission enabled to use this "
    "resource. Contact Calendly support and ask them to grant you data requests permission."
)


def compliance_checks(sb: Sandbox, req: Request) -> None:
    if sb.organizations[req.caller.organization].plan != "enterprise":
        raise forbidden(UPGRADE_ENTERPRISE)
    require_admin(sb, req, DATA_REQUESTS_PERMISSION)
    # Calendly answers an admin whose permission support has not switched on in the same words.
    if not sb.data_requests_permission:
        raise forbidden(DATA_REQUESTS_PERMISSION)


def delete_invitee_data(sb: Sandbox, req: Request) -> Response:
    body = req.json_body()
    emails = body.get("emails")
    if not isinstance(emails, list) or not emails:
        raise invalid("emails", "must be filled")
    for email in emails:
        if not isinstance(email, str) or not EMAIL.match(email):
            raise invalid("emails", f"{email} is an invalid email format")
    compliance_checks(sb, req)
    # Calendly processes these within 7 days and never reports back; the sandbox records them.
    sb.deletion_requests.append({"kind": "invitees", "emails": emails, "by": req.caller.uuid})
    sb.deletions_requested.update(email.lower() for email in emails)
    return Response.json(202, {})


def delete_event_data(sb: Sandbox, req: Request) -> Response:
    body = req.json_body()
    start = parse_timestamp(str(body.get("start_time", "")))
    end = parse_timestamp(str(body.get("end_time", "")))
    if start is None:
        raise invalid("start_time", "must be a valid UTC date-time")
    if end is None:
        raise invalid("end_time", "must be a valid UTC date-time")
    if end <= start:
        raise invalid("end_time", "must be after start_time")
    if end > sb.now():
        raise invalid("end_time", "must be in the past")
    if end - start > timedelta(days=730):
        raise invalid("end_time", "must be at most 24 months after start_time")
    compliance_checks(sb, req)
    sb.deletion_requests.append(
        {"kind": "events", "start_time": body["start_time"], "end_time": body["end_time"]}
    )
    return Response.json(202, {})
