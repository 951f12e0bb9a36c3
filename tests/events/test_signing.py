"""Signatures: the receiver-side check, its five-minute tolerance, and secret rotation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.errors import ApplicationError
from sandbox.events.models import WebhookSecret
from sandbox.events.services import (
    webhook_secret_current,
    webhook_secret_rotate,
    webhook_secrets_live,
)
from sandbox.events.signing import (
    SignatureVerificationError,
    signature_header,
    verify_signature,
)
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from tests.helpers import pump, record

BODY = b'{"id":"evt_1","type":"payment.succeeded"}'
NOW = 1_750_000_000


def test_a_fresh_signature_verifies():
    header = signature_header(["whsec_a"], NOW, BODY)
    assert verify_signature(BODY, header, "whsec_a", now=NOW + 10) == NOW


@pytest.mark.parametrize("skew", [301, -301, 3600])
def test_it_refuses_timestamps_outside_five_minutes(skew):
    header = signature_header(["whsec_a"], NOW, BODY)
    with pytest.raises(SignatureVerificationError, match="tolerance"):
        verify_signature(BODY, header, "whsec_a", now=NOW + skew)


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_it_accepts_timestamps_within_five_minutes(skew):
    header = signature_header(["whsec_a"], NOW, BODY)
    assert verify_signature(BODY, header, "whsec_a", now=NOW + skew) == NOW


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=abc,v1=abc", f"t={NOW}", f"t={NOW},t={NOW},v1=abc", f"t={NOW},v0=abc"],
)
def test_it_refuses_malformed_headers(header):
    with pytest.raises(SignatureVerificationError):
        verify_signature(BODY, header, "whsec_a", now=NOW)


def test_it_refuses_a_wrong_secret_or_a_changed_body():
    header = signature_header(["whsec_a"], NOW, BODY)
    with pytest.raises(SignatureVerificationError, match="No signature"):
        verify_signature(BODY, header, "whsec_b", now=NOW)
    with pytest.raises(SignatureVerificationError, match="No signature"):
        verify_signature(BODY + b" ", header, "whsec_a", now=NOW)


def test_a_header_signed_with_two_secrets_verifies_with_either():
    header = signature_header(["whsec_new", "whsec_old"], NOW, BODY)
    assert header.count("v1=") == 2
    assert verify_signature(BODY, header, "whsec_new", now=NOW)
    assert verify_signature(BODY, header, "whsec_old", now=NOW)


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=300), secret=st.text(min_size=1, max_size=40), flip=st.integers(0, 299)
)
def test_any_single_byte_change_breaks_the_signature(body, secret, flip):
    header = signature_header([secret], NOW, body)
    assert verify_signature(body, header, secret, now=NOW) == NOW
    if body:
        index = flip % len(body)
        tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(SignatureVerificationError):
            verify_signature(tampered, header, secret, now=NOW)


@pytest.mark.django_db
def test_rotation_signs_with_both_secrets_during_the_overlap_then_only_the_new(alice, receiver):
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    old = webhook_secret_current(node=node).secret
    new = webhook_secret_rotate(node=node, actor=SYSTEM, overlap=timedelta(hours=1)).secret
    assert [s.secret for s in webhook_secrets_live(node=node)] == [new, old]

    receiver.secrets = [old]  # a receiver that has not switched yet
    record(node)
    pump()
    assert receiver.requests[-1].verified
    assert receiver.requests[-1].headers["Sandbox-Signature"].count("v1=") == 2

    WebhookSecret.objects.filter(secret=old).update(expires_at=timezone.now())  # overlap over
    record(node)
    pump()
    assert not receiver.requests[-1].verified
    receiver.secrets = [new]
    assert receiver.check(
        receiver.requests[-1].body, receiver.requests[-1].headers["Sandbox-Signature"]
    )[0]


@pytest.mark.django_db
def test_rotation_without_overlap_retires_the_old_secret_at_once(alice):
    node = NodeFactory(tenant=alice.tenant)
    webhook_secret_current(node=node)
    new = webhook_secret_rotate(node=node, actor=SYSTEM, overlap=timedelta(0))
    assert webhook_secrets_live(node=node) == [new]


@pytest.mark.django_db
def test_rotation_refuses_an_overlap_beyond_seven_days(alice):
    node = NodeFactory(tenant=alice.tenant)
    with pytest.raises(ApplicationError) as refused:
        webhook_secret_rotate(node=node, actor=SYSTEM, overlap=timedelta(days=8))
    assert refused.value.code == "invalid_overlap"


def test_the_snippet_in_the_docs_verifies_real_signatures():
    import re
    import time
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", docs, re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)  # the receiver's code, exactly as documented
    verify = namespace["verify"]

    now = int(time.time())
    header = signature_header(["whsec_new", "whsec_old"], now, BODY)
    assert verify(BODY, header, "whsec_old") and verify(BODY, header, "whsec_new")
    assert not verify(BODY, header, "whsec_other")
    assert not verify(BODY + b"x", header, "whsec_new")
    assert not verify(BODY, signature_header(["whsec_new"], now - 301, BODY), "whsec_new")
