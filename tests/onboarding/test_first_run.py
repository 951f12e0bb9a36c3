"""First run without the browser: the landing page, sign-up with a first node and its
simulated customer, the test webhook, and the webhook pages that show what was sent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.events.models import Event, WebhookDelivery
from sandbox.events.webhooks import event_body
from sandbox.tenants.models import Membership, Node
from tests.factories import NodeFactory
from wallets.banknet.models import BankAccount, Deposit
from wallets.onboarding.selectors import checklist

pytestmark = pytest.mark.django_db

SIGNUP = {
    "organization": "Won Labs",
    "email": "founder@wonlabs.example",
    "password": "a-long-passphrase-1",
}


def test_the_landing_page_says_what_the_sandbox_is_and_shows_demo_logins_in_development(
    client, settings
):
    settings.DEBUG = True
    page = client.get("/").content.decode()
    assert "Wallets and a real ledger" in page and "Signed webhooks" in page
    assert "owner@kimchipay.test" in page and "sandbox-demo-2026" in page

    settings.DEBUG = False
    page = client.get("/").content.decode()
    assert "Wallets and a real ledger" in page
    assert "owner@kimchipay.test" not in page and "sandbox-demo-2026" not in page


def test_sign_up_opens_the_first_node_with_a_simulated_customer_in_its_currency(
    client, banks, webhook_settings
):
    response = client.post(
        "/signup/",
        {**SIGNUP, "country": "JP", "webhook_url": "http://127.0.0.1:9/hooks"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/"
    tenant = Membership.objects.get(user__email=SIGNUP["email"]).tenant
    node = Node.objects.get(tenant=tenant)
    assert (node.name, str(node.country), node.base_currency) == ("Won Labs", "JP", "JPY")
    assert node.webhook_url == "http://127.0.0.1:9/hooks"
    sender = BankAccount.objects.get(tenant=tenant)
    assert sender.currency == "JPY" and sender.bank.country == "JP"
    # the overview's checklist is ready for the next steps
    checklist = response.content.decode()
    assert "Send a test deposit" in checklist and "Send a test webhook" in checklist
    assert "whsec_" in checklist


def test_a_bad_webhook_url_at_sign_up_creates_nothing(client, banks, webhook_settings):
    response = client.post("/signup/", {**SIGNUP, "webhook_url": "http://10.0.0.1/hooks"})
    assert response.status_code == 200
    assert not Membership.objects.exists() and not Node.objects.exists()


def test_the_test_webhook_is_a_real_event_and_needs_a_url(alice, banks, webhook_settings):
    node = NodeFactory(tenant=alice.tenant)
    refused = alice.web.post(f"/start/{node.pk}/test-webhook/", HTTP_HX_REQUEST="true")
    assert "Give the node a webhook URL first." in refused.content.decode()
    assert not Event.objects.filter(type="test.webhook").exists()

    Node.objects.filter(pk=node.pk).update(webhook_url="http://127.0.0.1:9/hooks")
    alice.web.post(f"/start/{node.pk}/test-webhook/", HTTP_HX_REQUEST="true")
    event = Event.objects.get(type="test.webhook")
    assert event.node_id == node.pk and event.data["node"] == str(node.pk)


def test_a_test_deposit_is_one_click_into_the_nodes_own_account(alice, banks):
    node = NodeFactory(tenant=alice.tenant, country="KR", base_currency="KRW")
    answer = alice.web.post(f"/start/{node.pk}/deposit/", HTTP_HX_REQUEST="true")
    assert "Test deposit sent" in answer.content.decode()
    deposit = Deposit.objects.get(tenant=alice.tenant)
    assert deposit.account == node.wallet.accounts.get()
    assert deposit.sender.currency == "KRW" and deposit.amount == 100_000


def test_the_webhooks_page_sets_the_url(alice, webhook_settings):
    node = NodeFactory(tenant=alice.tenant)
    page = f"/webhooks/nodes/{node.pk}/"
    alice.web.post(page, {"webhook_url": "http://127.0.0.1:9/new"})
    node.refresh_from_db()
    assert node.webhook_url == "http://127.0.0.1:9/new"
    refused = alice.web.post(page, {"webhook_url": "http://10.0.0.1/x"})
    assert refused.status_code == 200 and b"error" in refused.content
    node.refresh_from_db()
    assert node.webhook_url == "http://127.0.0.1:9/new"


def test_a_delivery_shows_the_request_each_attempt_sent(
    alice, receiver, webhook_settings, celery_eager, django_capture_on_commit_callbacks
):
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        alice.web.post(f"/start/{node.pk}/test-webhook/")
    delivery = WebhookDelivery.objects.get(node=node)
    assert delivery.attempts.get().succeeded
    page = alice.web.get(f"/webhooks/deliveries/{delivery.pk}/").content.decode()
    sent = receiver.requests[0]
    assert f"Sandbox-Delivery-Id: {delivery.pk}" in page
    assert "Sandbox-Event-Type: test.webhook" in page
    assert sent.headers["Sandbox-Delivery-Id"] == str(delivery.pk)
    # the body shown is the body that was sent, byte for byte (HTML-escaped)
    assert sent.body == event_body(delivery.event)
    assert event_body(delivery.event).decode().replace('"', "&quot;") in page


def test_the_event_page_explains_a_hold_and_links_its_object(alice):
    node = NodeFactory(tenant=alice.tenant)
    event = Event.objects.create(
        tenant=alice.tenant,
        node=node,
        type="hold.placed",
        object_type="hold",
        object_id="x",
        occurred_at="2026-01-01T00:00:00Z",
    )
    page = alice.web.get(f"/events/{event.pk}/").content.decode()
    assert 'data-testid="event-explanation"' in page and "holds its amount" in page
    assert f'href="/bank/nodes/{node.pk}/"' in page


def test_the_checklist_shows_the_attempt_of_the_first_delivery_the_receiver_accepted(alice):
    node = NodeFactory(tenant=alice.tenant)
    now = timezone.now()

    def delivery(minutes: int, *answers: int) -> WebhookDelivery:
        event = Event.objects.create(
            tenant=alice.tenant, node=node, type="test.webhook", occurred_at=now
        )
        made = WebhookDelivery.objects.create(
            tenant=alice.tenant,
            node=node,
            event=event,
            url="https://receiver.example/hook",
            status="succeeded" if 200 in answers else "failed",
            expires_at=now + timedelta(days=3),
            created_at=now + timedelta(minutes=minutes),
        )
        for number, code in enumerate(answers, start=1):
            made.attempts.create(
                number=number,
                attempted_at=now + timedelta(minutes=minutes, seconds=number),
                clock_time=now,
                url=made.url,
                status_code=code,
                succeeded=code == 200,
            )
        return made

    delivery(0, 500, 500)  # never accepted
    assert checklist(node).received is None

    delivery(2, 200)
    first = delivery(1, 503, 200)  # made earlier, accepted at its second attempt
    received = checklist(node).received

    assert (received.delivery_id, received.number, received.status_code) == (first.pk, 2, 200)
