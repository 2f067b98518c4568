from __future__ import annotations

from django import forms

from portal.accounts.models import GRANTABLE_ROLES

ROLE_CHOICES = [("", "No portal access"), *((role.value, role.label) for role in GRANTABLE_ROLES)]


class PortalRoleForm(forms.Form):
    """The one value an admin sets on the People page: a role that can be given, or none."""

    portal_role = forms.ChoiceField(
        required=False,
        choices=ROLE_CHOICES,
        error_messages={
            "invalid_choice": (
                "That is not a role you can give. Portal admins are the organization's Calendly "
                "owner and admins; that is changed in Calendly's admin center."
            )
        },
    )


class SignInForm(forms.Form):
    # Where to go after signing in; checked against this host by `actions.safe_next`.
    next = forms.CharField(max_length=2000, required=False)


class CallbackForm(forms.Form):
    """What Calendly's redirect back carries (RFC 6749 §4.1.2)."""

    state = forms.CharField(max_length=2000, required=False)
    code = forms.CharField(max_length=2000, required=False)
    error = forms.CharField(max_length=200, required=False)
