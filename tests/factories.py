"""factory_boy factories for the portal's own rows (Calendly state comes from the sandbox)."""

from __future__ import annotations

import factory

from portal.accounts.models import CalendlyRole, Organization, Role, User


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
