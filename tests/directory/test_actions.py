"""Invite, revoke, resend and remove, against the sandbox over real HTTP, with every
Calendly outcome the members page has to explain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client, override_settings

from portal.accounts.models import CalendlyRole, Connection, Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import CalendlyClient
from portal.calendly.ratelimit import LocalRateLimiter
from portal.directory.models import Invitation, Member
from tests.factories import UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

INVITATIONS = "POST /organizations/{uuid}/invitations"


@dataclass
class Connected:
    sandbox: RunningSandbox
    org: Organization
    admin: User
    client: Client

    def member(self, email: str) -> Member:
        return Member.objects.get(organization=self.org, email=email)

    def calendly_invitations(self, email: str) -> list[dict[str, object]]:
        answer = httpx.get(
            f"{self.org.uri}/invitations",
            params={"email": email},
            headers={"Authorization": f"Bearer {self.sandbox.owner_token}"},
        )
        collection: list[dict[str, object]] = answer.json()["collection"]
        return collection


def mirror(sandbox: RunningSandbox, org: Organization) -> None:
    """What a sync would store: the sandbox's members and pending invitations."""
    with CalendlyClient(
        token=sandbox.owner_token, base_url=sandbox.url, limiter=LocalRateLimiter()
    ) as calendly:
        for m in calendly.list_organization_memberships(organization=org.uri):
            Member.objects.create(
                organization=org,
                uri=m.uri,
                user_uri=m.user.uri,
                name=m.user.name,
                email=m.user.email,
                role=m.role,
            )
        for i in calendly.list_organization_invitations(organization=org.uri, status="pending"):
            Invitation.objects.create(organization=org, uri=i.uri, email=i.email, status=i.status)
    sandbox.requests.reset()


def connect(sandbox: RunningSandbox, token: str | None = None) -> Connected:
    org = Organization.objects.create(uri=sandbox.organization_uri(sandbox.url))
    owner_uri = f"{sandbox.url}/users/{sandbox.owner.uuid}"
    Connection.objects.create(
        organization=org,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri=owner_uri,
        access_token=token or sandbox.owner_token,
    )
    mirror(sandbox, org)
    admin = UserFactory(
        organization=org,
        role=Role.ADMIN,
        calendly_role=CalendlyRole.OWNER,
        calendly_uri=owner_uri,
        email=sandbox.owner.email,
    )
    client = Client()
    client.force_login(admin)
    return Connected(sandbox=sandbox, org=org, admin=admin, client=client)


@pytest.fixture(autouse=True)
def calendly_is_the_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    with override_settings(CALENDLY_API_URL=sandbox.url, CALENDLY_AUTH_URL=sandbox.url):
        yield


@pytest.fixture
def connected(sandbox: RunningSandbox) -> Connected:
    return connect(sandbox)


def page_messages(response: object) -> str:
    return " ".join(str(m) for m in response.context["messages"])  # type: ignore[attr-defined]


def test_inviting_a_new_address_sends_it_and_shows_it_pending(connected: Connected) -> None:
    response = connected.client.post(
        "/members/invite", {"emails": "New.Hire@Example.com"}, follow=True
    )
    assert "Invited 1: new.hire@example.com" in page_messages(response)
    assert [i["status"] for i in connected.calendly_invitations("new.hire@example.com")] == [
        "pending"
    ]
    row = Invitation.objects.get(email="new.hire@example.com")
    assert row.status == Invitation.Status.PENDING
    assert "new.hire@example.com" in response.content.decode()  # the pending list
    assert AuditEntry.objects.get(action=Action.INVITED).target_label == "new.hire@example.com"


def test_members_and_pending_invitations_are_recognised_without_calling_calendly(
    connected: Connected,
) -> None:
    existing = Member.objects.filter(organization=connected.org).first()
    assert existing is not None
    connected.client.post("/members/invite", {"emails": "pending.one@example.com"})
    connected.sandbox.requests.reset()

    response = connected.client.post(
        "/members/invite",
        {"emails": f"{existing.email}\npending.one@example.com"},
        follow=True,
    )
    said = page_messages(response)
    assert f"{existing.email.lower()}: Already a member." in said
    assert "pending.one@example.com: Already invited; still pending." in said
    assert connected.sandbox.requests.count(INVITATIONS) == 0


def test_calendly_saying_already_invited_is_explained(connected: Connected) -> None:
    # Invited in Calendly directly, so the mirror does not know yet.
    httpx.post(
        f"{connected.org.uri}/invitations",
        json={"email": "elsewhere@example.com"},
        headers={"Authorization": f"Bearer {connected.sandbox.owner_token}"},
    )
    response = connected.client.post(
        "/members/invite", {"emails": "elsewhere@example.com"}, follow=True
    )
    assert "Already invited (says Calendly)" in page_messages(response)


def test_malformed_addresses_are_refused_before_calendly(connected: Connected) -> None:
    response = connected.client.post("/members/invite", {"emails": "not-an-email"}, follow=True)
    assert "not-an-email: This is not an email address." in page_messages(response)
    assert connected.sandbox.requests.count(INVITATIONS) == 0


def test_no_free_seats_is_explained(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(seats=30)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        connected = connect(sandbox)
        response = connected.client.post(
            "/members/invite", {"emails": "one.too.many@example.com"}, follow=True
        )
    assert (
        "one.too.many@example.com: No free seats: every seat the organization pays for (or its "
        "trial allows) is taken or already invited. Add seats on Calendly's billing page, then "
        "try again."
    ) in page_messages(response)
    assert not Invitation.objects.filter(email="one.too.many@example.com").exists()


def test_a_scim_managed_organization_is_explained(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(scim=True)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        connected = connect(sandbox)
        response = connected.client.post(
            "/members/invite", {"emails": "x@example.com"}, follow=True
        )
    assert (
        "x@example.com: Your organization manages its members through SCIM (your identity "
        "provider), so Calendly refuses this from the portal. Make the change in your identity "
        "provider."
    ) in page_messages(response)


def test_removing_a_member_of_a_scim_managed_organization_is_explained(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(scim=True)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        connected = connect(sandbox)
        person = Member.objects.filter(organization=connected.org, role=Member.Role.USER).first()
        assert person is not None
        response = connected.client.post(
            f"/members/{person.pk}/remove", {"confirm": person.email}, follow=True
        )
    assert (
        "Your organization manages its members through SCIM (your identity provider), so "
        f"Calendly refuses removing {person.name} from the portal."
    ) in page_messages(response)
    person.refresh_from_db()
    assert person.removed_at is None
    assert not AuditEntry.objects.filter(action=Action.MEMBER_REMOVED).exists()


def read_only_token(sandbox: RunningSandbox) -> str:
    """An OAuth grant of the owner with read scopes only."""
    params = {
        "client_id": sandbox.client_id,
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1/cb",
        "state": "s",
        "scope": "users:read organizations:read",
    }
    page = httpx.get(f"{sandbox.url}/oauth/authorize", params=params)
    user = re.search(r'name="user" value="([A-Z0-9]+)" checked', page.text)
    assert user is not None
    answer = httpx.post(
        f"{sandbox.url}/oauth/authorize",
        data={**params, "user": user.group(1), "decision": "allow"},
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1/cb",
        },
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    access: str = token.json()["access_token"]
    return access


def test_a_connection_without_the_write_scope_is_explained(sandbox: RunningSandbox) -> None:
    connected = connect(sandbox, token=read_only_token(sandbox))
    response = connected.client.post("/members/invite", {"emails": "x@example.com"}, follow=True)
    assert (
        "x@example.com: The organization's Calendly connection lacks the permission for this "
        "(organizations:write). An owner or admin needs to connect again and allow it."
    ) in page_messages(response)


def test_a_rejected_token_marks_the_connection_for_reconnection(connected: Connected) -> None:
    Connection.objects.filter(organization=connected.org).update(access_token="revoked-token")
    response = connected.client.post("/members/invite", {"emails": "x@example.com"}, follow=True)
    assert (
        "x@example.com: Calendly refused the organization's connection: its access was revoked "
        "or has expired. An owner or admin needs to connect the organization again."
    ) in page_messages(response)
    assert Connection.objects.get(organization=connected.org).needs_attention


def test_revoking_a_pending_invitation(connected: Connected) -> None:
    connected.client.post("/members/invite", {"emails": "gone@example.com"})
    invitation = Invitation.objects.get(email="gone@example.com")

    confirm = connected.client.get(f"/members/invitations/{invitation.pk}/revoke")
    assert "Revoke the invitation of gone@example.com?" in confirm.content.decode()
    assert "Checked in Calendly just now: still pending" in confirm.content.decode()
    response = connected.client.post(f"/members/invitations/{invitation.pk}/revoke", follow=True)

    assert "Revoked the invitation of gone@example.com." in page_messages(response)
    assert connected.calendly_invitations("gone@example.com") == []
    invitation.refresh_from_db()
    assert invitation.removed_at is not None
    assert "gone@example.com" not in [row.email for row in response.context["list"].page.rows]
    assert AuditEntry.objects.filter(action=Action.INVITATION_REVOKED).count() == 1


def test_an_accepted_invitation_cannot_be_revoked(connected: Connected) -> None:
    connected.client.post("/members/invite", {"emails": "joined@example.com"})
    invitation = Invitation.objects.get(email="joined@example.com")
    connected.sandbox.accept_invitation("joined@example.com")

    response = connected.client.post(f"/members/invitations/{invitation.pk}/revoke", follow=True)
    assert (
        "Calendly refused revoking the invitation of joined@example.com: the invitation was "
        "already accepted, so the person is a member now. Remove them as a member instead."
    ) in page_messages(response)
    invitation.refresh_from_db()
    assert invitation.removed_at is None


READ_INVITATION = "GET /organizations/{org_uuid}/invitations/{uuid}"
READ_MEMBERSHIP = "GET /organization_memberships/{uuid}"


def test_the_revoke_confirmation_reads_the_invitation_and_offers_nothing_once_accepted(
    connected: Connected,
) -> None:
    connected.client.post("/members/invite", {"emails": "joined@example.com"})
    invitation = Invitation.objects.get(email="joined@example.com")
    connected.sandbox.accept_invitation("joined@example.com")
    connected.sandbox.requests.reset()

    page = connected.client.get(f"/members/invitations/{invitation.pk}/revoke").content.decode()

    assert connected.sandbox.requests.count(READ_INVITATION) == 1
    assert "joined@example.com already accepted the invitation" in page
    assert "Revoke invitation</button>" not in page
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.user_uri


def test_the_revoke_confirmation_says_when_calendly_no_longer_has_the_invitation(
    connected: Connected,
) -> None:
    connected.client.post("/members/invite", {"emails": "elsewhere@example.com"})
    invitation = Invitation.objects.get(email="elsewhere@example.com")
    httpx.delete(
        invitation.uri, headers={"Authorization": f"Bearer {connected.sandbox.owner_token}"}
    ).raise_for_status()

    page = connected.client.get(f"/members/invitations/{invitation.pk}/revoke").content.decode()

    assert "The invitation of elsewhere@example.com is already gone" in page
    assert "<form" not in page.split("<main", 1)[-1].split("</main>", 1)[0]
    invitation.refresh_from_db()
    assert invitation.removed_at is not None
    assert not AuditEntry.objects.filter(action=Action.INVITATION_REVOKED).exists()


def test_the_remove_confirmation_reads_the_membership_from_calendly_first(
    connected: Connected,
) -> None:
    person = Member.objects.filter(organization=connected.org, role=Member.Role.USER).first()
    assert person is not None
    membership = connected.sandbox.memberships[person.uri.rsplit("/", 1)[1]]
    with connected.sandbox.lock:
        membership.role = "admin"

    page = connected.client.get(f"/members/{person.pk}/remove").content.decode()

    assert connected.sandbox.requests.count(READ_MEMBERSHIP) == 1
    assert f"Calendly now says {person.name} is Admin; the directory last read User." in page

    httpx.delete(
        person.uri, headers={"Authorization": f"Bearer {connected.sandbox.owner_token}"}
    ).raise_for_status()
    gone = connected.client.get(f"/members/{person.pk}/remove").content.decode()
    assert f"Calendly no longer lists {person.name} as a member" in gone
    assert 'name="confirm"' not in gone


def test_resending_revokes_and_invites_again(connected: Connected) -> None:
    connected.client.post("/members/invite", {"emails": "again@example.com"})
    first = Invitation.objects.get(email="again@example.com")

    response = connected.client.post(
        f"/members/invitations/{first.pk}/revoke", {"then": "resend"}, follow=True
    )

    assert "Sent a new invitation to again@example.com." in page_messages(response)
    in_calendly = connected.calendly_invitations("again@example.com")
    assert len(in_calendly) == 1
    assert in_calendly[0]["uri"] != first.uri
    assert Invitation.objects.current().get(email="again@example.com").uri == in_calendly[0]["uri"]


def test_removing_a_member_names_them_and_what_they_own(connected: Connected) -> None:
    person = Member.objects.filter(organization=connected.org, role=Member.Role.USER).first()
    assert person is not None
    portal_user = UserFactory(
        organization=connected.org, role=Role.SALES, calendly_uri=person.user_uri
    )

    confirm = connected.client.get(f"/members/{person.pk}/remove").content.decode()
    assert f"Remove {person.name} ({person.email}) from the organization?" in confirm
    assert "paid seat is still billed" in confirm

    refused = connected.client.post(
        f"/members/{person.pk}/remove", {"confirm": "wrong"}, follow=True
    )
    assert "type the person's email to confirm" in page_messages(refused)
    assert connected.sandbox.requests.count("DELETE /organization_memberships/{uuid}") == 0

    done = connected.client.post(
        f"/members/{person.pk}/remove", {"confirm": person.email}, follow=True
    )
    assert f"Removed {person.name}" in page_messages(done)
    assert connected.sandbox.requests.count("DELETE /organization_memberships/{uuid}") == 1
    person.refresh_from_db()
    assert person.removed_at is not None
    portal_user.refresh_from_db()
    assert portal_user.is_active is False
    entry = AuditEntry.objects.get(action=Action.MEMBER_REMOVED)
    assert entry.before == {"email": person.email, "role": "user"}


def test_the_owner_and_yourself_cannot_be_removed_and_calendly_is_not_asked(
    connected: Connected,
) -> None:
    owner = connected.member(connected.sandbox.owner.email)
    page = connected.client.get(f"/members/{owner.pk}/remove").content.decode()
    assert "cannot be removed" in page
    assert "ownership can only be transferred" in page
    connected.client.post(f"/members/{owner.pk}/remove", {"confirm": owner.email})

    admin = connected.member(connected.sandbox.admins[0].email)
    connected.admin.calendly_uri = admin.user_uri
    connected.admin.save()
    assert (
        "You cannot remove yourself"
        in connected.client.get(f"/members/{admin.pk}/remove").content.decode()
    )

    assert connected.sandbox.requests.count("DELETE /organization_memberships/{uuid}") == 0
    assert Member.objects.current().filter(pk__in=[owner.pk, admin.pk]).count() == 2


def test_a_role_change_is_recorded_for_doing_in_calendly(connected: Connected) -> None:
    person = Member.objects.filter(organization=connected.org, role=Member.Role.USER).first()
    assert person is not None
    page = connected.client.get(f"/members/{person.pk}").content.decode()
    assert "admin center" in page
    connected.client.post(f"/members/{person.pk}/note-change", {"change": "Make admin"})
    entry = AuditEntry.objects.get(action=Action.CHANGE_REQUESTED)
    assert entry.after == {"change": "Make admin"}
    assert entry.target_id == str(person.pk)


def test_the_members_pages_never_call_calendly(connected: Connected) -> None:
    person = Member.objects.filter(organization=connected.org).first()
    assert person is not None
    connected.sandbox.requests.reset()
    for url in (
        "/members/",
        "/members/?q=a&sort=-name",
        "/members/?status=pending",
        "/members/export.csv",
        f"/members/{person.pk}",
        f"/members/{person.pk}/remove",
    ):
        response = connected.client.get(url)
        assert response.status_code == 200, url
        if response.streaming:
            b"".join(response.streaming_content)  # type: ignore[arg-type]
    assert connected.sandbox.requests.total() == 0


def test_an_address_longer_than_calendly_accepts_is_refused_before_any_call(
    connected: Connected,
) -> None:
    long_one = f"{'a' * 300}@example.com"  # 312 characters: valid to Django, too long for Calendly

    response = connected.client.post(
        "/members/invite", {"emails": f"{long_one}\nfine.person@example.com"}, follow=True
    )

    said = page_messages(response)
    assert "312 characters long; Calendly accepts at most 254. Nothing was sent for it." in said
    assert "Invited 1: fine.person@example.com" in said
    assert connected.sandbox.requests.count(INVITATIONS) == 1
    assert not Invitation.objects.filter(email=long_one).exists()
    assert [e.target_label for e in AuditEntry.objects.filter(action=Action.INVITED)] == [
        "fine.person@example.com"
    ]


def test_more_text_than_an_invitation_form_holds_is_refused_whole(connected: Connected) -> None:
    pasted = "\n".join(f"person{n}@example.com" for n in range(1000))

    response = connected.client.post("/members/invite", {"emails": pasted}, follow=True)

    assert "use Invite from a file" in page_messages(response)
    assert connected.sandbox.requests.total() == 0


def test_calendly_out_of_reach_is_told_apart_from_a_change_that_may_have_happened(
    connected: Connected,
) -> None:
    pending = Invitation.objects.filter(organization=connected.org).first()
    assert pending is not None
    connected.sandbox.server.stop()

    response = connected.client.post(f"/members/invitations/{pending.pk}/revoke", follow=True)

    said = page_messages(response)
    assert (
        f"Calendly could not be reached while revoking the invitation of {pending.email}; "
        "nothing was changed (ConnectError"
    ) in said
    assert "Try again in a few minutes." in said
    pending.refresh_from_db()
    assert pending.removed_at is None
    assert not AuditEntry.objects.filter(action=Action.INVITATION_REVOKED).exists()


def test_a_change_calendly_failed_on_is_said_to_be_uncertain(connected: Connected) -> None:
    pending = Invitation.objects.filter(organization=connected.org).first()
    assert pending is not None
    connected.sandbox.faults = 1.0
    connected.sandbox.fault_kinds = ("error",)  # 500 to every attempt: applied or not?

    response = connected.client.post(f"/members/invitations/{pending.pk}/revoke", follow=True)

    assert (
        f"Calendly did not answer properly while revoking the invitation of {pending.email}, so "
        "it is not certain the change was made."
    ) in page_messages(response)
    assert not AuditEntry.objects.filter(action=Action.INVITATION_REVOKED).exists()
