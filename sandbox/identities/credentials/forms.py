"""Dashboard forms of the courier flow: each names the node whose view it is."""

from __future__ import annotations

from typing import Any

from django import forms


class _NodeChoices(forms.Form):
    def __init__(self, *args: Any, nodes: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(n.pk), n.name) for n in nodes]
        for name in self.node_fields:
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = choices

    node_fields: tuple[str, ...] = ()


class DeliveryCredentialForm(_NodeChoices):
    node_fields = ("holder_node",)

    person = forms.ChoiceField(label="Customer (person)")
    holder_node = forms.ChoiceField(label="Merchant node (holds the credential)")
    order_id = forms.CharField(max_length=64, label="Order id")
    street = forms.CharField(max_length=200, label="Delivery street")
    city = forms.CharField(max_length=100)
    postal_code = forms.CharField(max_length=20)
    country = forms.CharField(min_length=2, max_length=2, initial="KR")

    def __init__(self, *args: Any, people: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["person"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(str(p.pk), label) for p, label in people]


class DeliveryRequestForm(_NodeChoices):
    node_fields = ("verifier_node",)

    verifier_node = forms.ChoiceField(label="Courier node (asks and verifies)")
    order_id = forms.CharField(max_length=64, label="Order id")


class PresentForm(forms.Form):
    credential = forms.ChoiceField(label="Credential the merchant node presents")

    def __init__(self, *args: Any, credentials: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["credential"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(str(c.pk), f"order {c.order_id} · {c.pk}") for c in credentials]


class VerifyForm(forms.Form):
    presentation = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=65_536)
