"""What makes an email address usable, in one place for the invite form and bulk jobs.

Every check runs before anything reaches Calendly, and each refusal is a sentence the person
can act on.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from portal.csvexport import FORMULA_STARTS

# The longest address Calendly accepts (RFC 5321's path limit less its angle brackets).
# Checked before any call: an address Calendly takes but nothing else can hold must never
# reach it.
MAX_EMAIL_LENGTH = 254


def normalise(raw: str) -> str:
    """An address as people write it ("<Jo@Example.com> ") as the portal compares it."""
    return raw.strip().strip("<>").strip().lower()


def address_problem(email: str) -> str | None:
    """None when `email` (already normalised) can be invited; else why not, in a sentence."""
    # First, because a long =HYPERLINK(...) is better explained as a formula than by its length.
    # "-jo@example.com" is a valid address, but a spreadsheet opening the file would run it.
    if email.startswith(FORMULA_STARTS):
        return "This cell is a spreadsheet formula, not an email address."
    if len(email) > MAX_EMAIL_LENGTH:
        return (
            f"This address is {len(email)} characters long; Calendly accepts at most "
            f"{MAX_EMAIL_LENGTH}. Nothing was sent for it."
        )
    try:
        validate_email(email)
    except ValidationError:
        return "This is not an email address."
    return None
