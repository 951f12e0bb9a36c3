"""Model instances from rows a hot path read with its own SQL: what ``Model.from_db`` makes,
for a third of its CPU.

``Model.from_db`` goes through ``Model.__init__``, which sends ``pre_init`` and
``post_init`` and sets each field through its descriptor, one call at a time: about 9 µs
for an account of 18 columns, and a single transfer made six such instances. A loader puts
the values straight into the instance's ``__dict__``, where ``__init__`` would have put them
(a column's descriptor only reads it; a foreign key's also drops a cached related object,
which a new instance does not have). It refuses a column list that is not the model's
whole set of concrete columns (a partly loaded instance would read the rest on access), and
falls back to ``from_db`` while a receiver listens to the model's ``pre_init`` or
``post_init``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

M = TypeVar("M", bound=models.Model)


class RowLoader(Generic[M]):
    """Builds ``model`` instances from rows of ``attnames`` (every concrete column, in the
    order of the rows), as loaded from the database ``db``."""

    def __init__(self, model: type[M], attnames: Sequence[str], db: str = "default") -> None:
        expected = {field.attname for field in model._meta.concrete_fields}
        if set(attnames) != expected or len(attnames) != len(expected):
            raise ValueError(
                f"A loader for {model.__name__} takes all its columns, each once: "
                f"{sorted(expected)}, not {list(attnames)}."
            )
        self.model = model
        self.attnames = tuple(attnames)
        self.db = db

    def __call__(self, row: Sequence[Any]) -> M:
        model = self.model
        if pre_init.has_listeners(model) or post_init.has_listeners(model):
            return model.from_db(self.db, self.attnames, row)
        instance = model.__new__(model)
        instance.__dict__.update(zip(self.attnames, row, strict=True))
        state = instance._state = ModelState()
        state.adding = False
        state.db = self.db
        return instance
