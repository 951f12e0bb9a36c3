"""The account lists' QuickSelect writes the markup Django's Select writes (up to the
blank lines between tags), only without a template per option."""

from __future__ import annotations

import re

import pytest
from django import forms

from wallets.forms import QuickSelect

CHOICES = [("", "all"), ("a<b", "A & B"), ("x", "X"), ("Group", [("g1", "G1"), ("g2", "G2")])]


def tags(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


@pytest.mark.parametrize("value", ["", "x", "g2", None, ["x", "g1"]])
@pytest.mark.parametrize(
    "attrs", [None, {"id": "id_f", "required": True, "disabled": False, "class": "c"}]
)
def test_it_writes_what_djangos_select_writes(value, attrs):
    django_select = forms.Select(choices=CHOICES).render("f", value, attrs)
    quick = QuickSelect(choices=CHOICES).render("f", value, attrs)

    assert tags(quick) == tags(django_select)
    assert "<option" in quick and "&lt;" in quick  # escaped, not empty


def test_a_multiple_select_marks_every_chosen_option():
    class Multiple(QuickSelect):
        allow_multiple_selected = True

    html = Multiple(choices=CHOICES).render("f", ["x", "g1"])

    assert tags(html) == tags(forms.SelectMultiple(choices=CHOICES).render("f", ["x", "g1"]))
    assert html.count(" selected") == 2
