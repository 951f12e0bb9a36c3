from django.apps import AppConfig


class IdentityVerificationConfig(AppConfig):
    name = "sandbox.identities.verification"
    label = "identity_verification"
    verbose_name = "Identity verification (KYC sessions, social identity providers)"

    def ready(self) -> None:
        # The processing handler, registered in every process that runs scheduled actions.
        from sandbox.identities.verification import handlers  # noqa: F401
