"""Dashboard forms of people: register, look up, reveal (with a purpose), erase."""

from __future__ import annotations

from django import forms

from sandbox.identities.models import Person


class PersonForm(forms.Form):
    legal_name = forms.CharField(max_length=200, label="Legal name")
    birth_date = forms.CharField(max_length=10, label="Birth date", help_text="YYYY-MM-DD")
    national_id = forms.CharField(
        max_length=40, label="National id", help_text="A resident registration number (KR)."
    )
    national_id_country = forms.CharField(max_length=2, initial="KR", label="Id country")
    phone = forms.CharField(max_length=40, help_text="010-1234-5678 or +82…")
    email = forms.CharField(max_length=254, label="E-mail")
    street = forms.CharField(max_length=200)
    city = forms.CharField(max_length=100)
    postal_code = forms.CharField(max_length=20, required=False, label="Postal code")
    country = forms.CharField(max_length=2, initial="KR", label="Address country")
    customer_reference = forms.CharField(max_length=64, required=False)


class LookupForm(forms.Form):
    FIELDS = [("phone", "Phone"), ("email", "E-mail"), ("national_id", "National id")]
    field = forms.ChoiceField(choices=FIELDS)
    value = forms.CharField(max_length=254)


class RevealForm(forms.Form):
    purpose = forms.CharField(
        max_length=500, help_text="Why you read it: kept in the person's access log."
    )
    which = forms.MultipleChoiceField(
        choices=[(f, f.replace("_", " ")) for f in Person.SEALED_FIELDS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Fields",
        help_text="None ticked: all.",
    )


class EraseForm(forms.Form):
    reason = forms.CharField(max_length=500)
    confirm = forms.BooleanField(
        label="I understand: the personal data will be unreadable forever.", required=True
    )
