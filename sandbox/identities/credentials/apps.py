from django.apps import AppConfig


class IdentityCredentialsConfig(AppConfig):
    name = "sandbox.identities.credentials"
    label = "identity_credentials"
    verbose_name = "Identity credentials (SD-JWT)"
