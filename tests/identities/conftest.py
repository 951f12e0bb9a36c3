"""Fixtures of the identity tests."""

from tests.identities.kyc import kyc, kyc_clock, kyc_shop  # noqa: F401
