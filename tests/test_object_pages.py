"""An event links to its object's page (``{{ event|object_url }}``): the platform draws the
link, the apps above say which page shows which object (sandbox.object_pages, filled in their
AppConfig.ready())."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.urls import reverse

from sandbox.templatetags.formatting import object_url

NODE = "nod_0123456789"


def an_event(object_type: str, object_id: str = "obj_1", node_id: str | None = NODE):
    return SimpleNamespace(object_type=object_type, object_id=object_id, node_id=node_id)


@pytest.mark.parametrize(
    ("object_type", "page"),
    [
        ("ledgertransaction", reverse("wallets:transaction", args=["obj_1"])),
        ("bankaccount", reverse("banknet:bank-account", args=["obj_1"])),
        ("escrow", reverse("escrow:escrow", args=["obj_1"])),
        ("node", reverse("dashboard:node", args=["obj_1"])),
        ("testclock", reverse("events:clock", args=["obj_1"])),
        # Without a page of their own: their node's bank page.
        ("deposit", reverse("banknet:node", args=[NODE])),
        ("hold", reverse("banknet:node", args=[NODE])),
        ("accountlink", reverse("banknet:node", args=[NODE])),
    ],
)
def test_an_event_links_to_the_page_its_app_registered(object_type, page):
    assert object_url(an_event(object_type)) == page


def test_an_event_without_a_page_or_an_id_links_nowhere():
    assert object_url(an_event("webhook_endpoint")) == ""
    assert object_url(an_event("escrow", object_id="")) == ""
    assert object_url(an_event("deposit", node_id=None)) == ""


def test_templates_load_the_filters_from_the_platforms_library():
    template = Template(
        "{% load formatting %}{{ amount|money:'USD' }} {{ kind|label }} {{ event|object_url }}"
    )
    context = Context({"amount": 123450, "kind": "hold_capture", "event": an_event("escrow")})

    assert template.render(context) == (
        f"1,234.50 Hold captured {reverse('escrow:escrow', args=['obj_1'])}"
    )
