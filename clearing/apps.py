from django.apps import AppConfig


class ClearingConfig(AppConfig):
    name = "clearing"
    verbose_name = "Clearing and anchoring"

    def ready(self) -> None:
        # Every process knows clearing's task names before a job is sent by name.
        from django.core.checks import Tags, register

        from clearing import tasks  # noqa: F401
        from clearing.checks import check_master_key

        register(check_master_key, Tags.security, deploy=True)

        # Net debit caps are checked when a posting is made, through the ledger's posting
        # checks (run before it writes or locks anything).
        from clearing.caps import capped_nodes_read, check_postings
        from wallets.posting import POSTING_CHECK_READS, POSTING_CHECKS

        if check_postings not in POSTING_CHECKS:
            POSTING_CHECKS.append(check_postings)
        if capped_nodes_read not in POSTING_CHECK_READS:
            POSTING_CHECK_READS.append(capped_nodes_read)

        # A test clock's day closes as an advance carries the clock across midnight. The
        # events app calls this through its hook: it must not import clearing itself.
        from clearing.clock_closing import close_crossed_day
        from sandbox.events.clocks import on_clock_move

        on_clock_move(close_crossed_day)

        # The test clock page (events app) shows "End the day" and the clock's closed days
        # through its panels, reaching clearing's views by URL name.
        from clearing.clock_views import CLOSES_PANEL, END_DAY_PANEL
        from sandbox.events.panels import clock_page_panel

        clock_page_panel(END_DAY_PANEL)
        clock_page_panel(CLOSES_PANEL)

        # A payment receipt carries its transaction's inclusion proof once the day closed
        # (the platform's, or its test clock's): payments (wallets floor) asks clearing
        # through this registry.
        from clearing.selectors import receipt_proof
        from wallets.payments.receipts import proof_source_register

        proof_source_register(
            lambda tenant, txn_id: receipt_proof(tenant=tenant, transaction_id=txn_id)
        )
