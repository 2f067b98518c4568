"""factory_boy factories for audit rows."""

from __future__ import annotations

import factory

from portal.audit import Action
from portal.audit.models import AuditEntry
from tests.factories import OrganizationFactory


class AuditEntryFactory(factory.django.DjangoModelFactory[AuditEntry]):
    class Meta:
        model = AuditEntry
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    actor = None
    actor_label = factory.Sequence(lambda n: f"Person {n} (person{n}@example.com)")
    action = Action.SIGN_IN.value
    target_type = "accounts.user"
    target_id = factory.Sequence(lambda n: str(1000 + n))
    target_label = factory.Sequence(lambda n: f"Target {n}")
