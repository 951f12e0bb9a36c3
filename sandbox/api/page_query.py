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
- what ``select_related`` adds to the columns (its joins are in the FROM text);
- and nothing else, because only *plain* querysets take this path (``plain_reason``):
  all of a model's columns (and those ``select_related`` adds) and no annotation, extra,
  ``only`` or ``defer``, DISTINCT, GROUP BY, aggregate, window, union, locking or
  prefetch. Anything else is compiled by Django as usual.

The cache holds no parameter: they come from this request's WHERE and FROM. A shape
enters the cache only if Django's own compilation of it has exactly those parameters,
in that order (no parameter of its own in the columns or the ORDER BY).

The rows become model instances as ``Model.from_db`` makes them, without its
``Model.__init__`` where that only stores the columns (``sandbox.rows``): a third of a
50-row page.

A list whose rows differ from one request to the next only by a scope's parameters (a
tenant's rows of a model: its id) needs no queryset at all once its shape is known
(``scoped_page``): the first request of a shape builds the queryset, and its compilation is
kept only if its parameters are exactly the scope's, then the cursor's position.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.core.exceptions import (
    EmptyResultSet,
    FieldDoesNotExist,
    FullResultSet,
    ValidationError,
)
from django.db import connections, models, router
from django.db.models import Field
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from django.db.models.sql.compiler import SQLCompiler

from sandbox.rows import RowLoader

# Shapes are few (a list's filters are declared), but an ``IN`` list of every length is
# a shape of its own: past this many, the cache starts again.
MAX_SHAPES = 512


@dataclass(frozen=True)
class Shape:
    sql: str
    select: list[Any]  # the compiler's columns: their converters, read only
    col_count: int
    attnames: list[str]
    loader: RowLoader[Any]  # the rows' instances, as ``Model.from_db`` makes them
    model_columns: tuple[int, int]  # where the model's own columns are in a row
    populators: list[Any]  # ``select_related``'s objects, as Django's ``ModelIterable``
    query: Any  # the query first compiled: its compilers only convert the columns
    # The columns' converters when each is a field's own (``from_db_value``, which takes
    # the connection as an argument); None: a compiler of ``query`` finds them each time.
    converters: list[tuple[int, tuple[list[Any], Any]]] | None


_shapes: dict[tuple[Any, ...], Shape] = {}


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
    if query.deferred_loading != (frozenset(), True):
        return "only or defer"
    return _shape_reason(queryset)


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
        frozen(query.select_related),  # the columns of the joins ``from_`` names
    )
    return key, [*from_params, *where_params]


def frozen(select_related: bool | dict[str, Any]) -> Any:
    """``Query.select_related`` (False, True or a tree of field names), hashable."""
    if isinstance(select_related, dict):
        return tuple(sorted((name, frozen(tree)) for name, tree in select_related.items()))
    return select_related


def remember(key: tuple[Any, ...], params: list[Any], compiler: SQLCompiler) -> Shape | None:
    """Django's own compilation of the shape, kept if its parameters are this request's."""
    sql, full_params = compiler.as_sql()
    if list(full_params) != params or compiler.has_extra_select or compiler.annotation_col_map:
        return None
    klass_info = compiler.klass_info
    if klass_info is None:
        return None
    count = len(compiler.select)
    if compiler.col_count != count:
        return None
    model, db = compiler.query.model, compiler.using
    assert model is not None and db is not None  # a model's queryset, on a connection
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    attnames = [c[0].target.attname for c in compiler.select[start:end]]
    try:
        loader = RowLoader(model, attnames, db)
    except ValueError:  # not every column of the model, each once: Django's to make
        return None
    # (The stubs know a later Django's ``fetch_mode`` argument; 5.2 takes none.)
    populators = get_related_populators(klass_info, compiler.select, db)  # type: ignore[call-arg]
    found = list(compiler.get_converters([c[0] for c in compiler.select]).items())
    own = all(isinstance(getattr(f, "__self__", None), Field) for _, (fs, _) in found for f in fs)
    converters: Any = found if own else None  # else the backend's: this thread's connection
    shape = Shape(
        sql,
        compiler.select,
        count,
        attnames,
        loader,
        (start, end),
        populators,
        compiler.query,
        converters,
    )
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
        yield from run(shape, params, db, compiler)


def run(
    shape: Shape, params: Sequence[Any], db: str, compiler: SQLCompiler | None = None
) -> Iterator[Any]:
    """The instances of a shape's rows for ``params``."""
    connection = connections[db]
    with connection.cursor() as cursor:
        cursor.execute(shape.sql, params)
        rows = cursor.fetchall()
    if compiler is None and shape.converters is not None:
        return instances(shape, converted(rows, shape.converters, connection))
    if compiler is None:
        compiler = shape.query.get_compiler(using=db)
    # As ``ModelIterable`` does, for a plain query: columns in the model's order.
    compiler.select, compiler.col_count = shape.select, shape.col_count
    return instances(shape, compiler.results_iter([rows]))


def instances(shape: Shape, rows: Iterable[Any]) -> Iterator[Any]:
    """The model's instances of converted rows, with their ``select_related`` objects."""
    start, end = shape.model_columns
    if not shape.populators and (start, end) == (0, shape.col_count):
        return shape.loader.many(rows)
    rows = list(rows)
    made = list(shape.loader.many([row[start:end] for row in rows]))
    for row, instance in zip(rows, made, strict=True):
        for populator in shape.populators:  # as ``ModelIterable``
            populator.populate(row, instance)
    return iter(made)


def converted(
    rows: list[Any], converters: list[tuple[int, tuple[list[Any], Any]]], connection: Any
) -> Iterator[Any]:
    """``SQLCompiler.results_iter`` of ``rows``, with converters found once."""
    if not converters:
        yield from rows
        return
    for row in map(list, rows):  # as ``SQLCompiler.apply_converters``
        for position, (functions, expression) in converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        yield row


@dataclass(frozen=True)
class Scope:
    """Rows of ``model`` whose query differs between requests only by ``params`` (a
    tenant's rows: its id), named by ``key`` (with the model: the same SQL for the same
    ``params``); ``build`` makes them as a queryset."""

    model: type[models.Model]
    key: Hashable
    params: tuple[Any, ...]
    build: Callable[[], models.QuerySet[Any]]


def position_parameter(model: type[models.Model], lookup: str, value: Any, db: str) -> Any:
    """The parameter Django's ``lookup`` (``created_at__lt``, say) makes of ``value``, as
    its lookup prepares it; None when Django would refuse the value (it then says how)."""
    name = lookup.rpartition("__")[0]
    field: Any = model._meta.pk if name == "pk" else model._meta.get_field(name)
    try:
        return field.get_db_prep_value(field.get_prep_value(value), connections[db], prepared=True)
    except (ValidationError, ValueError, TypeError):
        return None


def scoped_page(
    scope: Scope,
    ordering: tuple[str, ...],
    position: tuple[str, str] | None,
    offset: int,
    count: int,
) -> list[Any]:
    """``count`` rows of ``scope`` from ``offset`` in ``ordering``, past ``position`` (a
    lookup and its value) if any: what ``scope.build()`` ordered, filtered and sliced so
    would answer, through a planned shape once there is one."""
    db = router.db_for_read(scope.model)
    key = ("scope", scope.model, scope.key, db, ordering, position and position[0], offset, count)
    params: list[Any] | None = list(scope.params)
    if position is not None:
        value = position_parameter(scope.model, position[0], position[1], db)
        params = None if value is None else [*scope.params, value]
    shape = _shapes.get(key)
    if shape is not None and params is not None:
        return list(run(shape, params, db))
    queryset = scope.build().order_by(*ordering)
    if position is not None:
        queryset = queryset.filter(**{position[0]: position[1]})
    queryset = compiled_once(queryset[offset : offset + count])
    if params is not None and queryset.db == db and plain_reason(queryset) is None:
        # (A scope nothing can match: Django answers it without SQL.)
        with contextlib.suppress(EmptyResultSet):
            remember(key, params, queryset.query.get_compiler(using=db))
    return list(queryset)


def compiled_once(queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """The same queryset, whose pages take their SQL from the shape cache when plain."""
    if queryset._iterable_class is not ModelIterable:
        return queryset
    queryset = queryset.all()
    queryset._iterable_class = CompiledOnceIterable
    return queryset


# --- Plain values -----------------------------------------------------------------------


@dataclass(frozen=True)
class ValuesShape:
    sql: str
    converters: list[tuple[int, tuple[list[Any], Any]]]


def _shape_reason(queryset: models.QuerySet[Any]) -> str | None:
    """What ``plain_reason`` and ``values_reason`` both refuse, after their own checks."""
    query = queryset.query
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


_value_shapes: dict[tuple[Any, ...], ValuesShape] = {}


def values_reason(queryset: models.QuerySet[Any]) -> str | None:
    """Why a ``values_list`` queryset must be compiled by Django every time (None: it
    is plain: its model's columns or those of its relations, each named, and nothing
    that ``plain_reason`` refuses besides)."""
    query, loose = queryset.query, cast(Any, queryset)
    if queryset._iterable_class is not ValuesListIterable:
        return "not a values_list of tuples"
    if loose._prefetch_related_lookups or loose._known_related_objects:
        return "prefetch or known related objects"
    if query.annotations or query.extra or query.extra_tables or query.extra_order_by:
        return "annotations or extra"
    return _shape_reason(queryset)


def values_rows(queryset: models.QuerySet[Any]) -> list[Any]:
    """``list(queryset)`` for a ``values_list`` of plain columns (``values_reason``), with
    its SQL from a cache of shapes as a page of instances takes it (``CompiledOnceIterable``):
    only the FROM and WHERE clauses are compiled per call, and the columns are converted
    with the converters found once. Anything else: ``list(queryset)``."""
    if values_reason(queryset) is not None:
        return list(queryset)
    db = queryset.db
    compiler = queryset.query.get_compiler(using=db)
    try:
        key, params = shape_key(compiler)
    except EmptyResultSet:  # a filter nothing can match: Django answers without SQL
        return list(queryset)
    key = ("values", tuple(queryset.query.values_select), *key)
    shape = _value_shapes.get(key)
    if shape is None:
        sql, full_params = compiler.as_sql()
        found = list(compiler.get_converters([c[0] for c in compiler.select]).items())
        own = all(
            isinstance(getattr(f, "__self__", None), Field) for _, (fs, _) in found for f in fs
        )
        if list(full_params) != params or compiler.has_extra_select or not own:
            return list(queryset)
        if len(_value_shapes) >= MAX_SHAPES:
            _value_shapes.clear()
        shape = _value_shapes[key] = ValuesShape(sql, found)
    connection = connections[db]
    with connection.cursor() as cursor:
        cursor.execute(shape.sql, params)
        rows = cursor.fetchall()
    if not shape.converters:
        return rows
    return list(map(tuple, converted(rows, shape.converters, connection)))
