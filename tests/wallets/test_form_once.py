"""A money-moving dashboard form runs once per its idempotency key (wallets.form_once): the
same form posted again gets the first answer; the key with other values is refused."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from sandbox.errors import ApplicationError
from sandbox.tenants.access import TenantAccess
from sandbox.tenants.services import Actor
from wallets.form_once import OnceForm, form_once

pytestmark = pytest.mark.django_db


@pytest.fixture
def form_post(alice):
    def post(path: str = "/banknet/nodes/n1/act/deposit/"):
        request = RequestFactory().post(path)
        request.tenant_access = TenantAccess(alice.tenant, Actor(user=alice.owner), "owner")
        return request

    return post


def test_the_same_form_posted_twice_runs_once_and_answers_alike(form_post):
    runs = []

    def execute():
        runs.append(1)
        return 200, {"made": len(runs)}

    body = {"amount": "1200", "memo": "rent"}
    first = form_once(form_post(), key="form-key-1", body=body, execute=execute)
    again = form_once(form_post(), key="form-key-1", body=body, execute=execute)

    assert first == again == {"made": 1}
    assert len(runs) == 1


def test_the_key_with_other_values_is_refused_and_runs_nothing(form_post):
    form_once(form_post(), key="form-key-2", body={"amount": "1200"}, execute=lambda: (200, {}))

    with pytest.raises(ApplicationError) as refused:
        form_once(form_post(), key="form-key-2", body={"amount": "9999"}, execute=lambda: 1 / 0)

    assert refused.value.code == "idempotency_key_reused"


def test_each_tenant_has_keys_of_its_own(form_post, outsider):
    form_once(form_post(), key="shared-key", body={}, execute=lambda: (200, "alice's"))
    theirs = form_post()
    theirs.tenant_access = TenantAccess(outsider.tenant, Actor(user=outsider.owner), "owner")

    assert form_once(theirs, key="shared-key", body={}, execute=lambda: (200, "theirs")) == (
        "theirs"
    )


def test_each_rendered_form_carries_a_key_of_its_own_and_a_posted_one_keeps_it():
    first, second = OnceForm(), OnceForm()
    assert first["idempotency_key"].value() != second["idempotency_key"].value()
    assert 'type="hidden"' in str(first["idempotency_key"])

    posted = OnceForm({"idempotency_key": "form-key-3"})
    assert posted.is_valid() and posted.cleaned_data["idempotency_key"] == "form-key-3"
