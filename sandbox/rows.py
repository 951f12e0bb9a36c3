"""Model instances from rows read by a hot path: what ``Model.from_db`` makes, for a third
of its CPU.

``Model.from_db`` goes through ``Model.__init__``, which sends ``pre_init`` and
``post_init`` and sets each field through its descriptor, one call at a time: about 9 µs
for an account of 18 columns; a single transfer made six such instances and a 50-row list
page fifty. For a model whose ``__init__`` would only store the columns (``plain_init``),
the values go straight into the instance's ``__dict__``, where ``__init__`` would have put
them. Anything else (a model with its own ``__init__``, ``from_db`` or ``__setattr__``, a
column behind a descriptor of its own such as django-countries', a receiver of
``pre_init`` or ``post_init``) goes through ``from_db`` as before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

M = TypeVar("M", bound=models.Model)

# Descriptors of columns whose ``__set__`` on a new instance only stores the value (a
# foreign key's also forgets a cached related object, which a new instance does not have).
PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


def _class_attribute(model: type[models.Model], name: str) -> Any:
    for cls in model.__mro__:
        if name in vars(cls):
            return vars(cls)[name]
    return None


@functools.cache
def plain_columns(model: type[models.Model]) -> bool:
    """Whether ``Model.__init__`` would only write the columns into the instance's
    ``__dict__``: Django's own ``__init__`` and ``from_db``, no other ``__init__`` or
    ``__setattr__`` in the class's ancestry, every column behind Django's plain
    descriptors."""
    if model.__init__ is not models.Model.__init__:
        return False
    if model.from_db.__func__ is not models.Model.from_db.__func__:  # type: ignore[attr-defined]
        return False
    ancestry = model.__mro__[model.__mro__.index(models.Model) + 1 :]
    if any("__init__" in vars(cls) for cls in ancestry if cls is not object):
        return False
    if any("__setattr__" in vars(cls) for cls in model.__mro__ if cls is not object):
        return False
    return all(
        type(_class_attribute(model, field.attname)) in PLAIN_DESCRIPTORS
        for field in model._meta.concrete_fields
    )


@functools.cache
def _has_foreign_keys(model: type[models.Model]) -> bool:
    return any(
        type(_class_attribute(model, field.attname)) is ForeignKeyDeferredAttribute
        for field in model._meta.concrete_fields
    )


def plain_init(model: type[models.Model]) -> bool:
    """``plain_columns``, and no receiver of ``pre_init`` or ``post_init`` for the model
    (asked each time: receivers may connect at any time)."""
    return (
        plain_columns(model)
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
    )


class RowLoader(Generic[M]):
    """Builds ``model`` instances from rows of ``attnames`` (every concrete column, each
    once, in any order), as loaded from the database ``db``."""

    def __init__(self, model: type[M], attnames: Sequence[str], db: str = "default") -> None:
        columns = tuple(field.attname for field in model._meta.concrete_fields)
        if set(attnames) != set(columns) or len(attnames) != len(columns):
            raise ValueError(
                f"A loader for {model.__name__} takes all its columns, each once: "
                f"{sorted(columns)}, not {list(attnames)}."
            )
        self.model = model
        self.attnames = tuple(attnames)
        self.db = db
        self.columns = columns
        self.foreign_keys = _has_foreign_keys(model)
        # ``from_db`` reads a full row positionally, in the model's order.
        self.model_order = (
            None if self.attnames == columns else [self.attnames.index(c) for c in columns]
        )

    def __call__(self, row: Sequence[Any]) -> M:
        return next(self.many((row,)))

    def many(self, rows: Iterable[Sequence[Any]]) -> Iterator[M]:
        model, db = self.model, self.db
        if not plain_init(model):
            order = self.model_order
            for row in rows:
                values = row if order is None else [row[i] for i in order]
                yield model.from_db(db, self.columns, values)
            return
        attnames, foreign_keys = self.attnames, self.foreign_keys
        for row in rows:
            # What ``from_db`` leaves: its state, then its columns.
            instance = model.__new__(model)
            instance._state = state = ModelState()
            state.adding, state.db = False, db
            if foreign_keys:  # a foreign key's ``__set__`` looks at (so makes) the cache
                state.fields_cache = {}
            instance.__dict__.update(zip(attnames, row, strict=True))
            yield instance
