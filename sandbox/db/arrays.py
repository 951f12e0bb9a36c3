"""PostgreSQL array literals, built as text: one string per array, sent as one parameter
(psycopg would quote a list element by element in Python, which cost a third of a bulk
request's CPU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def array_literal(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of UUIDs, integers, 't'/'f' or None (NULL), given as
    such or already as text."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of strings: each quoted, with backslashes and double
    quotes escaped, so any text (commas, braces, "NULL") stays itself."""
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )
