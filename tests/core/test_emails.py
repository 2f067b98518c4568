"""The address rules (portal/core/emails.py) shared by the invite form and bulk jobs."""

from __future__ import annotations

import pytest
from django.core.validators import validate_email

from portal.core.emails import MAX_EMAIL_LENGTH, address_problem, normalise
from portal.directory.actions import parse_emails


def test_a_usable_address_has_no_problem() -> None:
    assert address_problem("jo.doe+team@example.com") is None


def test_an_address_longer_than_calendly_accepts_says_its_length_and_the_limit() -> None:
    long_one = f"{'a' * 300}@example.com"
    validate_email(long_one)  # Django alone would let it through

    assert address_problem(long_one) == (
        "This address is 312 characters long; Calendly accepts at most 254. "
        "Nothing was sent for it."
    )


def test_an_address_of_exactly_the_limit_is_usable() -> None:
    at_limit = f"{'a' * 63}.{'b' * 63}@{'c' * 63}.{'d' * (MAX_EMAIL_LENGTH - 196)}.com"
    assert len(at_limit) == MAX_EMAIL_LENGTH

    assert address_problem(at_limit) is None


@pytest.mark.parametrize("text", ["not-an-email", "jo@", "jo@@example.com", "jo doe@x.com", ""])
def test_text_that_is_not_an_address_says_so(text: str) -> None:
    assert address_problem(text) == "This is not an email address."


@pytest.mark.parametrize(
    "cell", ['=hyperlink("http://x","y")', "+1-555-0100", "-2+3", "@sum(a1:a9)", "\t=1", "\r=1"]
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_named_as_one(cell: str) -> None:
    assert address_problem(cell) == "This cell is a spreadsheet formula, not an email address."


def test_a_valid_address_that_starts_like_a_formula_is_still_refused() -> None:
    validate_email("-jo@example.com")  # valid to Django, yet a spreadsheet would run it

    assert address_problem("-jo@example.com") == (
        "This cell is a spreadsheet formula, not an email address."
    )


def test_normalising_strips_spaces_and_angle_brackets_and_lowers_the_case() -> None:
    assert normalise("  <Jo.Doe@Example.COM>\t") == "jo.doe@example.com"
    assert normalise("   ") == ""


def test_the_invite_form_uses_the_same_rules() -> None:
    valid, invalid = parse_emails("<Jo@Example.com> =1+1@example.com, jo@example.com")

    assert valid == ["jo@example.com"]
    assert [(r.email, r.message) for r in invalid] == [
        ("=1+1@example.com", "This cell is a spreadsheet formula, not an email address.")
    ]
