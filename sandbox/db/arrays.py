"""PostgreSQL array literals, built as text: one string per array, sent as one parameter
(psycopg would quote a list element by element in Python, which cost a third of a bulk
request's CPU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast


def array_literal(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of UUIDs, integers, 't'/'f' or None (NULL), given as
    such or already as text."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def text_array(values: Sequence[str | None]) -> str:
    """A PostgreSQL array literal of strings: each quoted, with backslashes and double
    quotes escaped, so any text (commas, braces, "NULL") stays itself; None is NULL."""
    if values and None not in values:
        texts = cast(Sequence[str], values)
        together = "".join(texts)
        if '"' not in together and "\\" not in together:
            # Nothing to escape (ids, times, types, numbers: nearly always): the same
            # literal, joined at once.
            return '{"' + '","'.join(texts) + '"}'
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        )
        + "}"
    )
