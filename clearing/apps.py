from django.apps import AppConfig


class ClearingConfig(AppConfig):
    name = "clearing"
    verbose_name = "Clearing and anchoring"

    def ready(self) -> None:
        # Net debit caps are checked when a posting is made, through the ledger's posting
        # checks (run before it writes or locks anything).
        from clearing.settlement import check_postings
        from wallets.posting import POSTING_CHECKS

        if check_postings not in POSTING_CHECKS:
            POSTING_CHECKS.append(check_postings)
