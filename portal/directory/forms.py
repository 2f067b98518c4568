"""The fields people send to the members pages' actions, each with its bounds."""

from __future__ import annotations

from django import forms

# Twenty addresses of Calendly's longest (254 characters) with separators fit easily; a paste
# far beyond that is bulk work, not this form.
INVITE_TEXT_LIMIT = 10_000


class InviteForm(forms.Form):
    emails = forms.CharField(
        max_length=INVITE_TEXT_LIMIT,
        error_messages={
            "required": "Type at least one email address to invite.",
            "max_length": (
                "That is more text than 20 addresses; for more, use Invite from a file."
            ),
        },
    )


class NoteChangeForm(forms.Form):
    change = forms.CharField(
        max_length=500,
        error_messages={
            "required": "Describe the change to record it.",
            "max_length": "Describe the change in at most 500 characters.",
        },
    )


class ConfirmRemovalForm(forms.Form):
    # Compared with the member's email; longer than any stored email cannot match anyway.
    confirm = forms.CharField(max_length=1000, required=False)


class RevokeForm(forms.Form):
    then = forms.ChoiceField(
        choices=[("", "Only revoke"), ("resend", "Then invite again")], required=False
    )
