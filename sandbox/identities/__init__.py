"""People and node identities, their personal data sealed at rest (issue 9)."""
