from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in to the portal.

    A project-owned user model from the start, so that what the portal learns about a person
    from Calendly (their user URI, organization and role) can live on it without a swap of
    `AUTH_USER_MODEL` later, which Django cannot do on an existing database.
    """
