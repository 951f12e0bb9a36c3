"""Merchant settlement (정산): a settlement contract per merchant node, and on each of its
cycles a batch that gathers the node's paid and refunded orders, takes the platform's fees
(with VAT), and pays the rest out to the node's verified bank account. docs/settlement.md."""
