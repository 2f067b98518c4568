"""Users, the organization, memberships, invitations, groups and teams."""

from __future__ import annotations

import re

from portal.sandbox import render
from portal.sandbox.api.checks import (
    EMAIL,
    colleague,
    own_org,
    require_admin,
)
from portal.sandbox.http import (
    NO_ACCESS,
    NO_PERMISSION,
    NOT_IN_ORG,
    ApiError,
    Request,
    Response,
    forbidden,
    invalid,
    not_found,
    paginate,
    sort_rows,
)
from portal.sandbox.state import (
    Invitation,
    Sandbox,
)

# -- users and organizations -------------------------------------------------------------------


def get_user(sb: Sandbox, req: Request) -> Response:
    uuid = req.params.get("uuid", "me")
    if uuid == "me":
        return Response.resource(render.user(req.base, req.caller))
    person = sb.users.get(uuid)
    if person is None:
        raise not_found()
    if person.organization != req.caller.organization:
        raise forbidden(NO_ACCESS)
    return Response.resource(render.user(req.base, person))


def get_organization(sb: Sandbox, req: Request) -> Response:
    uuid = req.params["uuid"]
    own_org(sb, req, uuid)
    return Response.resource(render.organization(req.base, sb.organizations[uuid]))


def list_memberships(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations")
    user = req.uri_arg("user", "users")
    role = req.choice_arg("role", ("owner", "admin", "user"))
    email = req.arg("email")
    if org is None and user is None:
        raise invalid("organization", "organization or user is required")
    if org is not None:
        own_org(sb, req, org, NOT_IN_ORG)
        rows = sb.org_memberships(org)
    if user is not None:
        person = colleague(sb, req, user)
        if org is None:
            mine = sb.membership_of.get(person.uuid)
            rows = [sb.memberships[mine]] if mine else []
        else:
            rows = [m for m in rows if m.user == person.uuid]
    if email:
        rows = [m for m in rows if sb.users[m.user].email.lower() == email.lower()]
    if role:
        rows = [m for m in rows if m.role == role]
    return paginate(req, rows, lambda m: render.membership(req.base, sb, m))


def get_membership(sb: Sandbox, req: Request) -> Response:
    row = sb.memberships.get(req.params["uuid"])
    if row is None:
        raise not_found()
    if row.organization != req.caller.organization:
        raise forbidden(NOT_IN_ORG)
    return Response.resource(render.membership(req.base, sb, row))


SCIM_ENABLED = "You cannot perform this action for an organization with SCIM enabled."


def refuse_when_scim(sb: Sandbox) -> None:
    if sb.scim:
        raise forbidden(SCIM_ENABLED)


def delete_membership(sb: Sandbox, req: Request) -> Response:
    row = sb.memberships.get(req.params["uuid"])
    if row is None:
        raise not_found()
    require_admin(sb, req, "You do not have permission to perform this action")
    if row.organization != req.caller.organization:
        raise forbidden("You cannot modify members from another organization")
    refuse_when_scim(sb)
    if row.role == "owner":
        raise forbidden("You can not change owner role")
    if row.user == req.caller.uuid:
        raise forbidden("You can not remove yourself from organization")
    email = sb.users[row.user].email
    sb.remove_membership(row)
    sb.memberships_removed[email.lower()] += 1
    sb.log_activity(row.organization, "User", "Remove", req.caller.uuid, {"email": email})
    return Response.empty()


# -- invitations -------------------------------------------------------------------------------


def list_invitations(sb: Sandbox, req: Request) -> Response:
    org = req.params["uuid"]
    own_org(sb, req, org)
    require_admin(sb, req)
    status = req.choice_arg("status", ("pending", "accepted", "declined"))
    email = req.arg("email")
    keys = req.sort_arg(("created_at",), "created_at:asc")
    rows = [i for i in sb.invitations.values() if i.organization == org]
    if status:
        rows = [i for i in rows if i.status == status]
    if email:
        rows = [i for i in rows if i.email.lower() == email.lower()]
    sort_rows(rows, keys, lambda i, _name: i.created_at)
    return paginate(req, rows, lambda i: render.invitation(req.base, i))


def find_invitation(sb: Sandbox, req: Request) -> Invitation:
    org = req.params["org_uuid"]
    own_org(sb, req, org)
    row = sb.invitations.get(req.params["uuid"])
    if row is None or row.organization != org:
        raise not_found()
    return row


def get_invitation(sb: Sandbox, req: Request) -> Response:
    row = find_invitation(sb, req)
    require_admin(sb, req)
    return Response.resource(render.invitation(req.base, row))


def create_invitation(sb: Sandbox, req: Request) -> Response:
    org = req.params["uuid"]
    own_org(sb, req, org, NO_PERMISSION)
    require_admin(sb, req, NO_PERMISSION)
    refuse_when_scim(sb)
    body = req.json_body()
    email = body.get("email")
    if not isinstance(email, str) or not email.strip():
        raise invalid("email", "must be filled")
    email = email.strip()
    if not EMAIL.match(email):
        raise ApiError(400, "Invalid Email", f"{email} is an invalid email format")
    member = sb.user_by_email(email)
    if member is not None and member.organization == org:
        raise ApiError(
            400, "Already Organization Member", f"{email} is already in the organization"
        )
    pending = [
        i for i in sb.invitations.values() if i.organization == org and i.status == "pending"
    ]
    if any(i.email.lower() == email.lower() for i in pending):
        sb.duplicate_invitations_refused[email.lower()] += 1
        raise ApiError(400, "Already Invited", f"{email} has already been invited")
    seats = sb.organizations[org].seats
    if seats is not None and len(sb.org_memberships(org)) + len(pending) >= seats:
        raise forbidden(
            "You already sent all the invitations you're allotted based upon the number of seats "
            "purchased with your account. Please purchase more seats to send more invitations."
        )
    now = sb.now()
    row = Invitation(sb.new_id(), org, email, "pending", now, now, now)
    sb.invitations[row.uuid] = row
    sb.invitations_sent[email.lower()] += 1
    sb.log_activity(org, "Invitation", "Send", req.caller.uuid, {"email": email})
    return Response.resource(render.invitation(req.base, row), 201)


def revoke_invitation(sb: Sandbox, req: Request) -> Response:
    row = find_invitation(sb, req)
    require_admin(sb, req, NO_PERMISSION)
    refuse_when_scim(sb)
    if row.status == "accepted":
        raise ApiError(
            400, "Invitation Already Accepted", "The invitation has already been accepted."
        )
    # Calendly has no "revoked" status: a revoked invitation simply disappears (404 afterwards).
    del sb.invitations[row.uuid]
    sb.invitations_revoked[row.email.lower()] += 1
    for rel in [r for r in sb.group_relationships.values() if r.owner == row.uuid]:
        del sb.group_relationships[rel.uuid]
    sb.log_activity(row.organization, "Invitation", "Revoke", req.caller.uuid, {"email": row.email})
    return Response.empty()


# -- groups and teams --------------------------------------------------------------------------


def list_groups(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations", required=True)
    assert org is not None
    own_org(sb, req, org)
    rows = [g for g in sb.groups.values() if g.organization == org]
    return paginate(req, rows, lambda g: render.group(req.base, sb, g))


def get_group(sb: Sandbox, req: Request) -> Response:
    row = sb.groups.get(req.params["uuid"])
    if row is None or row.organization != req.caller.organization:
        raise not_found()
    return Response.resource(render.group(req.base, sb, row))


def owner_filter(req: Request) -> str | None:
    """`owner` is a membership URI or an invitation URI; return the UUID either way."""
    value = req.arg("owner")
    if not value:
        return None
    match = re.search(
        r"^https?://[^/]+/(?:organization_memberships|organizations/[^/]+/invitations)/([^/]+)$",
        value,
    )
    if match is None:
        raise invalid("owner", "must be an organization membership or invitation URI")
    return match.group(1)


def list_group_relationships(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations") or req.caller.organization
    own_org(sb, req, org)
    group = req.uri_arg("group", "groups")
    owner = owner_filter(req)
    rows = [r for r in sb.group_relationships.values() if r.organization == org]
    if group:
        rows = [r for r in rows if r.group == group]
    if owner:
        rows = [r for r in rows if r.owner == owner]
    return paginate(req, rows, lambda r: render.group_relationship(req.base, sb, r))


def get_group_relationship(sb: Sandbox, req: Request) -> Response:
    row = sb.group_relationships.get(req.params["uuid"])
    if row is None or row.organization != req.caller.organization:
        raise not_found()
    return Response.resource(render.group_relationship(req.base, sb, row))


def list_teams(sb: Sandbox, req: Request) -> Response:
    user = req.uri_arg("user", "users")
    rows = [t for t in sb.teams.values() if t.organization == req.caller.organization]
    if user:
        colleague(sb, req, user)
        rows = [t for t in rows if user in t.members]
    return paginate(req, rows, lambda t: render.team(req.base, t))


def get_team(sb: Sandbox, req: Request) -> Response:
    row = sb.teams.get(req.params["team_uuid"])
    if row is None or row.organization != req.caller.organization:
        raise not_found()
    return Response.resource(render.team(req.base, row))
