"""Credit standing and history attestations (issue 9, items 4 and 5): what the ledger says
about a person or a node, on the wallets floor. docs/identities.md, "Credit standing"."""
