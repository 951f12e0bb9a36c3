"""Database backends of the sandbox (``sandbox.db.postgresql``)."""
