"""A list page's SQL, assembled by Django once per query shape, not once per request.

Compiling a page of a list (``SELECT <every column> FROM ... WHERE ... ORDER BY ...
LIMIT n``) cost Django more CPU than the database spent answering it: most of it on the
column list and the ORDER BY, which are the same for every request of a list. Only the
WHERE clause carries what varies: the tenant (``TenantQuerySet.for_tenant``, still the
one place that scopes), the filters and the cursor's position.

So every request still compiles its own WHERE and FROM clauses (with their parameters),
and the rest comes from a cache whose key holds everything else the SQL depends on:

- the compiled WHERE and FROM text itself (any value that changes the SQL's text, such
  as ``IS NULL`` or the length of an ``IN`` list, changes the key);
- the model, the database alias, the ordering, its direction and the slice;
- and nothing else, because only *plain* querysets take this path (``plain_reason``):
  all of a model's columns and no annotation, extra, ``select_related``, ``only`` or
  ``defer``, DISTINCT, GROUP BY, aggregate, window, union, locking or prefetch. Anything
  else is compiled by Django as usual.

The cache holds no parameter: they come from this request's WHERE and FROM. A shape
enters the cache only if Django's own compilation of it has exactly those parameters,
in that order (no parameter of its own in the columns or the ORDER BY).

The rows become model instances as ``Model.from_db`` makes them; for a model whose
``__init__`` would only store each column (``plain_init``: Django's own ``__init__``, no
``pre_init``/``post_init`` receiver, plain column descriptors), by storing them directly,
which cost a third of a 50-row page.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, FullResultSet
from django.db import connections, models
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query import ModelIterable
from django.db.models.query_utils import DeferredAttribute
from django.db.models.sql.compiler import SQLCompiler

# Shapes are few (a list's filters are declared), but an ``IN`` list of every length is
# a shape of its own: past this many, the cache starts again.
MAX_SHAPES = 512


@dataclass(frozen=True)
class Shape:
    sql: str
    select: list[Any]  # the compiler's columns: their converters, read only
    col_count: int
    attnames: list[str]


_shapes: dict[tuple[Any, ...], Shape] = {}

# Descriptors of columns whose ``__set__`` on a new instance only stores the value.
PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


def plain_reason(queryset: models.QuerySet[Any]) -> str | None:
    """Why a queryset must be compiled by Django every time (None: it is plain)."""
    query, loose = queryset.query, cast(Any, queryset)  # (the stubs know no private field)
    if queryset._iterable_class is not CompiledOnceIterable:
        return "not a queryset of model instances"
    if loose._prefetch_related_lookups or loose._known_related_objects:
        return "prefetch or known related objects"
    if not query.default_cols or query.select or query.values_select:
        return "selected columns"
    if query.annotations or query.extra or query.extra_tables or query.extra_order_by:
        return "annotations or extra"
    if query.select_related is not False or query.deferred_loading != (frozenset(), True):
        return "select_related, only or defer"
    if query.distinct or query.distinct_fields or query.group_by is not None:
        return "DISTINCT or GROUP BY"
    if query.combinator or query.select_for_update or query.subquery:
        return "union, locking or subquery"
    if query.where.contains_aggregate or query.where.contains_over_clause:
        return "aggregate or window in the filter"
    ordering = query.order_by or (query.get_meta().ordering or () if query.default_ordering else ())
    if not all(is_own_column(queryset.model, name) for name in ordering):
        return "ordering through an expression or a relation"
    return None


def is_own_column(model: type[models.Model], name: Any) -> bool:
    # An ordering by one of the model's own non-relation columns adds no join (a relation
    # would order by the related model's ordering, through a join whose alias depends on
    # the query's history).
    if not isinstance(name, str):
        return False
    name = name.removeprefix("-")
    if name in ("pk", "?"):
        return True
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return field.concrete and not field.is_relation


def shape_key(compiler: SQLCompiler) -> tuple[tuple[Any, ...], list[Any]]:
    """The cache key of a plain query's shape, and this request's parameters."""
    query = compiler.query
    from_, from_params = compiler.get_from_clause()
    where: str
    where_params: Sequence[Any]
    try:
        where, where_params = compiler.compile(cast(Any, query.where))
    except FullResultSet:  # no filter at all
        where, where_params = "", ()
    key = (
        query.model,
        compiler.using,
        tuple(from_),
        where,
        tuple(query.order_by),
        query.default_ordering,
        query.standard_ordering,
        query.low_mark,
        query.high_mark,
    )
    return key, [*from_params, *where_params]


def remember(key: tuple[Any, ...], params: list[Any], compiler: SQLCompiler) -> Shape | None:
    """Django's own compilation of the shape, kept if its parameters are this request's."""
    sql, full_params = compiler.as_sql()
    if list(full_params) != params or compiler.has_extra_select or compiler.annotation_col_map:
        return None
    klass_info = compiler.klass_info
    if klass_info is None or klass_info.get("related_klass_infos"):
        return None
    count = len(compiler.select)
    if compiler.col_count != count:
        return None
    shape = Shape(sql, compiler.select, count, [c[0].target.attname for c in compiler.select])
    if len(_shapes) >= MAX_SHAPES:
        _shapes.clear()
    _shapes[key] = shape
    return shape


class CompiledOnceIterable(ModelIterable):
    """Django's ``ModelIterable``, with a plain query's SQL from the shape cache."""

    def __iter__(self):
        queryset = self.queryset
        if self.chunked_fetch or plain_reason(queryset) is not None:
            yield from super().__iter__()
            return
        db = queryset.db
        compiler = queryset.query.get_compiler(using=db)
        try:
            key, params = shape_key(compiler)
        except EmptyResultSet:  # a filter nothing can match: Django answers without SQL
            yield from super().__iter__()
            return
        shape = _shapes.get(key) or remember(key, params, compiler)
        if shape is None:
            yield from super().__iter__()
            return
        # As ``ModelIterable`` does, for a plain query: columns in the model's order.
        compiler.select, compiler.col_count = shape.select, shape.col_count
        with connections[db].cursor() as cursor:
            cursor.execute(shape.sql, params)
            rows = cursor.fetchall()
        model = queryset.model
        foreign_keys = has_foreign_keys(model)
        if not plain_init(model, shape.attnames):
            for row in compiler.results_iter([rows]):
                yield model.from_db(db, shape.attnames, row)
            return
        for row in compiler.results_iter([rows]):
            # ``Model.from_db`` for a model whose ``__init__`` only sets the columns (see
            # ``plain_init``): its state, then its columns, in the same order.
            instance = model.__new__(model)
            instance._state = state = ModelState()
            state.adding, state.db = False, db
            if foreign_keys:  # a foreign key's ``__set__`` looks at (so makes) the cache
                state.fields_cache = {}
            instance.__dict__.update(zip(shape.attnames, row, strict=True))
            yield instance


@functools.cache
def plain_columns(model: type[models.Model], attnames: tuple[str, ...]) -> bool:
    """Whether ``Model.__init__`` would only write ``attnames`` into the instance's
    ``__dict__``: Django's own ``__init__`` and ``from_db``, no other ``__init__`` in the
    class's ancestry, every column (in order) behind Django's plain descriptors, whose
    ``__set__`` (a foreign key's) only forgets a cached related object a new instance
    cannot have."""
    if model.__init__ is not models.Model.__init__:
        return False
    if model.from_db.__func__ is not models.Model.from_db.__func__:  # type: ignore[attr-defined]
        return False
    ancestry = model.__mro__[model.__mro__.index(models.Model) + 1 :]
    if any("__init__" in vars(cls) for cls in ancestry if cls is not object):
        return False
    if any("__setattr__" in vars(cls) for cls in model.__mro__ if cls is not object):
        return False
    fields = model._meta.concrete_fields
    if tuple(field.attname for field in fields) != attnames:
        return False
    return all(type(vars_of(model, name)) in PLAIN_DESCRIPTORS for name in attnames)


@functools.cache
def has_foreign_keys(model: type[models.Model]) -> bool:
    fields = model._meta.concrete_fields
    return any(type(vars_of(model, f.attname)) is ForeignKeyDeferredAttribute for f in fields)


def vars_of(model: type[models.Model], name: str) -> Any:
    for cls in model.__mro__:
        if name in vars(cls):
            return vars(cls)[name]
    return None


def plain_init(model: type[models.Model], attnames: list[str]) -> bool:
    """``plain_columns``, and no receiver of ``pre_init`` or ``post_init`` for the model
    (asked per page: receivers may connect at any time)."""
    return (
        plain_columns(model, tuple(attnames))
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
    )


def compiled_once(queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """The same queryset, whose pages take their SQL from the shape cache when plain."""
    if queryset._iterable_class is not ModelIterable:
        return queryset
    queryset = queryset.all()
    queryset._iterable_class = CompiledOnceIterable
    return queryset
