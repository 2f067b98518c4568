"""factory_boy factories for the portal's own rows (Calendly state comes from the sandbox)."""

from __future__ import annotations

import factory

from portal.accounts.models import CalendlyRole, Organization, Role, User
from portal.directory.models import EventType, Group, Invitation, Member


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    uri = factory.Sequence(lambda n: f"https://api.calendly.com/organizations/ORG{n:012d}")
    name = factory.Sequence(lambda n: f"Organization {n}")


class UserFactory(factory.django.DjangoModelFactory[User]):
    """A signed-in member of an organization; `role=` picks their portal role."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        role = Role.VIEWER

    organization = factory.SubFactory(OrganizationFactory)
    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    calendly_uri = factory.Sequence(lambda n: f"https://api.calendly.com/users/USR{n:012d}")
    calendly_role = factory.LazyAttribute(
        lambda user: CalendlyRole.ADMIN if user.role == Role.ADMIN else CalendlyRole.USER
    )
    portal_role = factory.LazyAttribute(lambda user: "" if user.role == Role.ADMIN else user.role)


class MemberFactory(factory.django.DjangoModelFactory[Member]):
    """A mirrored organization member (as a sync would have stored it)."""

    class Meta:
        model = Member

    organization = factory.SubFactory(OrganizationFactory)
    uri = factory.Sequence(
        lambda n: f"https://api.calendly.com/organization_memberships/MEM{n:09d}"
    )
    user_uri = factory.Sequence(lambda n: f"https://api.calendly.com/users/MUSR{n:09d}")
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"member{n}@example.com")
    role = Member.Role.USER
    slug = factory.Sequence(lambda n: f"member-{n}")
    scheduling_url = factory.LazyAttribute(lambda m: f"https://calendly.com/{m.slug}")
    timezone = "America/New_York"


class InvitationFactory(factory.django.DjangoModelFactory[Invitation]):
    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    uri = factory.Sequence(
        lambda n: f"https://api.calendly.com/organizations/ORG/invitations/INV{n:09d}"
    )
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    status = Invitation.Status.PENDING


class GroupFactory(factory.django.DjangoModelFactory[Group]):
    class Meta:
        model = Group

    organization = factory.SubFactory(OrganizationFactory)
    uri = factory.Sequence(lambda n: f"https://api.calendly.com/groups/GRP{n:09d}")
    name = factory.Sequence(lambda n: f"Group {n}")


class EventTypeFactory(factory.django.DjangoModelFactory[EventType]):
    class Meta:
        model = EventType

    organization = factory.SubFactory(OrganizationFactory)
    uri = factory.Sequence(lambda n: f"https://api.calendly.com/event_types/EVT{n:09d}")
    name = factory.Sequence(lambda n: f"Intro call {n}")
    slug = factory.Sequence(lambda n: f"intro-{n}")
    active = True
    scheduling_url = factory.LazyAttribute(lambda e: f"https://calendly.com/rep/{e.slug}")
    duration = 30
    kind = "solo"
    type = "StandardEventType"
    profile_type = "User"
