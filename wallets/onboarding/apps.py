from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "wallets.onboarding"
    label = "onboarding"
    verbose_name = "First run and the node hub"

    def ready(self) -> None:
        # The overview's first-run checklist and the node page's hub, drawn into pages of
        # the tenants app, which imports nothing of this one.
        from sandbox.tenants.panels import page_panel
        from wallets.onboarding import panels

        for panel in panels.PANELS:
            page_panel(panel)
