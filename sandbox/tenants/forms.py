from django import forms
from django_countries import countries

# django-countries exports it from fields.py but its stubs (fields.pyi) leave it out.
from django_countries.fields import LazyTypedChoiceField  # type: ignore[attr-defined]

from sandbox.currencies import CurrencyCode
from sandbox.tenants.models import Membership, Tenant, User

# Longer addresses pass the e-mail validator but could never be stored: a clear error instead.
EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length


class SignupForm(forms.Form):
    organization = forms.CharField(max_length=120, label="Organization")
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    email = forms.EmailField(max_length=EMAIL_MAX_LENGTH, label="Work e-mail")
    password = forms.CharField(widget=forms.PasswordInput, label="Password")


class InvitationAcceptForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput, label="Choose a password")


class NodeEditForm(forms.Form):
    """What can change on a node."""

    name = forms.CharField(max_length=120)
    country = LazyTypedChoiceField(choices=countries)
    webhook_url = forms.URLField(
        required=False, max_length=500, label="Webhook URL", assume_scheme="https"
    )


class NodeForm(NodeEditForm):
    """A new node: what can change, and its base currency, fixed at creation (the wallet's
    books are kept in it)."""

    base_currency = forms.ChoiceField(choices=CurrencyCode.choices)
    field_order = ["name", "country", "base_currency", "webhook_url"]


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, initial="Default key")


class RenameForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organization name")


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=EMAIL_MAX_LENGTH)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.DEVELOPER)


class PlatformSettingsForm(forms.Form):
    new_tenant_status = forms.ChoiceField(
        choices=[
            (Tenant.Status.ACTIVE, "Active at once"),
            (Tenant.Status.PENDING, "Pending approval"),
        ],
        label="New tenants start",
    )


class AuditLogFilterForm(forms.Form):
    """The operators' audit log filters (GET). Blank fields do not filter."""

    # A CharField: the view looks it up, and a malformed or unknown id is a 404 there.
    tenant = forms.CharField(required=False, max_length=64, label="Tenant id")
    actor = forms.CharField(required=False, max_length=254, label="Who")
    action = forms.CharField(required=False, max_length=64, label="Action (or its start)")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end comes before the start.")
        return data
