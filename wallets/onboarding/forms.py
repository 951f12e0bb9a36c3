from django import forms

from sandbox.tenants.forms import SignupForm as OrganizationForm

COUNTRIES = [("KR", "South Korea (KRW)"), ("US", "United States (USD)"), ("JP", "Japan (JPY)")]


class SignupForm(OrganizationForm):
    """The organization and its owner, and its first node's country and webhook URL: the
    node is ready to receive its first signed webhook right after."""

    country = forms.ChoiceField(
        choices=COUNTRIES,
        initial="KR",
        required=False,
        label="Your first node's country",
        help_text="Its currency and banks follow; more nodes later.",
    )
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        label="Webhook URL (optional)",
        assume_scheme="https",
        help_text="Where your service receives signed events. You can add it later.",
    )


class WebhookUrlForm(forms.Form):
    webhook_url = forms.URLField(
        required=False, max_length=500, label="Webhook URL", assume_scheme="https"
    )
