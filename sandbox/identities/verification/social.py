"""Writes of social links: start one (a nonce for the provider's login), the simulated
login at a provider (the test helper: the tester picks the person), and completing the link
with the id_token, which the platform verifies (``oidc``) before it raises the person to
``secondary``. Starting and completing a link are in the audit log (who, from where, the
provider; never the provider's account)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction

from sandbox.clock import now as clock_now
from sandbox.errors import ApplicationError, Conflict
from sandbox.identities.models import Person, VerificationLevel
from sandbox.identities.services import set_verification_level
from sandbox.identities.verification import events, oidc, presenters, providers
from sandbox.identities.verification.models import SocialLink
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import Actor, audit_record

LINK_LIFETIME = timedelta(minutes=15)


def _usable(person: Person) -> None:
    if person.status == Person.Status.REDACTED:
        raise ApplicationError(
            "This person's data was erased: nothing can be linked.",
            code="person_redacted",
            status_code=410,
        )


def _recorded(
    link: SocialLink, action: str, *, actor: Actor, tenant: Tenant, node_id: object
) -> None:
    """The link's event ``identity.<action>`` (what webhooks carry) and its audit entry."""
    events.record(
        tenant_id=link.tenant_id,
        node_id=node_id,
        type=f"identity.{action}",
        obj=link,
        data=presenters.social_link_json(link),
    )
    audit_record(
        actor=actor, action=action, tenant=tenant, target=link, data={"provider": link.provider}
    )


@transaction.atomic
def social_link_start(*, tenant: Tenant, person: Person, provider: str, actor: Actor) -> SocialLink:
    chosen = providers.provider_get(provider)
    _usable(person)
    now = clock_now(node_id=person.node_id)
    link = SocialLink.objects.create(
        tenant=tenant,
        person=person,
        provider=chosen.name,
        nonce=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    _recorded(link, "social_link.created", actor=actor, tenant=tenant, node_id=person.node_id)
    return link


def social_login_simulate(
    *, tenant: Tenant, person: Person, provider: str, nonce: str, client_id: str | None = None
) -> str:
    """The provider's side of a login: the person (picked by the tester) signs in, and the
    provider issues its id_token for ``client_id`` (the tenant's by default) with ``nonce``.
    Writes nothing."""
    chosen = providers.provider_get(provider)
    _usable(person)
    nonce = str(nonce or "")
    if not (1 <= len(nonce) <= 128):
        raise ApplicationError(
            "The nonce has 1 to 128 characters.", code="invalid_nonce", fields={"nonce": ["1-128"]}
        )
    return providers.id_token_issue(
        chosen,
        tenant_id=tenant.pk,
        person_id=person.pk,
        client_id=client_id or providers.client_id_for(tenant.pk),
        nonce=nonce,
        now=clock_now(node_id=person.node_id),
    )


@transaction.atomic
def social_link_complete(*, link: SocialLink, id_token: str, actor: Actor) -> SocialLink:
    link = SocialLink.objects.select_for_update().get(pk=link.pk)
    if link.status != SocialLink.Status.PENDING:
        raise Conflict("This link is already complete.", code="social_link_not_pending")
    person = Person.objects.select_for_update().get(pk=link.person_id)
    _usable(person)
    now = clock_now(node_id=person.node_id)
    if now > link.expires_at:
        raise Conflict("This link expired: start another.", code="social_link_expired")
    claims = oidc.id_token_verify(
        providers.PROVIDERS[link.provider],
        id_token=str(id_token or ""),
        client_id=providers.client_id_for(link.tenant_id),
        nonce=link.nonce,
        now=now,
    )
    link.status = SocialLink.Status.LINKED
    link.subject = str(claims["sub"])[:255]
    link.linked_at = now
    try:
        with transaction.atomic():
            link.save(update_fields=["status", "subject", "linked_at"])
    except IntegrityError:
        raise Conflict(
            "This provider account is already linked to a person.",
            code="social_account_already_linked",
        ) from None
    _recorded(link, "social_link.linked", actor=actor, tenant=link.tenant, node_id=person.node_id)
    if VerificationLevel.rank(person.verification_level) < VerificationLevel.rank(
        VerificationLevel.SECONDARY
    ):
        set_verification_level(person, VerificationLevel.SECONDARY, reason=f"social_link:{link.pk}")
    return link
