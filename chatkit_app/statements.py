"""
SQL the ORM writes once, run again and again with new values.

Django builds a queryset's SQL every time it runs one: lookups resolved,
joins set up, the select list and its converters worked out. For the
statements every request and every turn makes (the bearer token with its
user, a page of items, the model's history, a turn's writes) that costs more
CPU than the database spends on them (profiled: ``benchmarks/
versus_baseline.py --profile``; building the token's query alone cost more
than PostgreSQL answering it). Here each is built once per database:

- ``CompiledQuery``: a read. The queryset is built once from stand-in
  arguments; its SQL is kept with the places of the stand-ins among its
  parameters, and each call runs that SQL with the call's arguments and
  turns the rows into what the queryset itself would have returned (model
  instances with their ``select_related`` objects and annotations, or
  ``values_list`` rows), with Django's own converters;
- ``insert_row``, ``insert_rows``, ``update_columns`` and
  ``update_returning``: the writes of a turn (its thread, items, reply run,
  usage rows and title), whose statements are built once per model.

All of them run on ``statement_cursor()``: on PostgreSQL each statement is
also prepared once per connection (``chatsite/postgresql``), so the
database plans it once too.

A stand-in may only be compared for equality (it must come back unchanged
among the parameters: the first build checks that); anything else that
shapes the SQL, such as a slice or an order, is part of the call's
``shape`` and gets a statement of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model, QuerySet
from django.db.models.expressions import DatabaseDefault
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.models.sql.compiler import SQLCompiler


def statement_cursor(using: str = DEFAULT_DB_ALIAS) -> CursorWrapper:
    """A cursor for a statement run again and again with new values: a
    prepared one where the backend has them (``prepared_cursor``,
    ``chatsite/postgresql``), else the connection's usual cursor."""
    conn = connections[using]
    prepared = getattr(conn, "prepared_cursor", None)
    return prepared() if prepared is not None else conn.cursor()


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    #: For each argument, where it goes among ``params``.
    places: tuple[tuple[int, ...], ...]
    compiler: SQLCompiler
    rows: Callable[[SQLCompiler, list[tuple[Any, ...]], str], list[Any]]


#: Statements a ``CompiledQuery`` keeps, the least recently built dropped
#: first: a shape can come from a request (an items.list page size, up to
#: ``CHATKIT_MAX_PAGE_SIZE``), and each statement keeps its compiler.
MAX_COMPILED = 64


class CompiledQuery:
    """A read whose SQL is built once per database and shape.

    ``build(*shape, *arguments)`` returns the queryset (a model queryset, or
    ``values_list``, flat or not), comparing each argument for equality
    only; calling the ``CompiledQuery`` with ``arguments`` returns the
    queryset's results as a list. Strings and integers are compiled in;
    with an argument of another type (a user model's UUID key) the queryset
    is simply evaluated."""

    def __init__(self, build: Callable[..., QuerySet[Any]]):
        self.build = build
        self._compiled: dict[tuple[Any, ...], _Compiled] = {}

    def __call__(
        self, *arguments: Any, shape: tuple[Any, ...] = (), using: str = DEFAULT_DB_ALIAS
    ) -> list[Any]:
        if not all(_compilable(argument) for argument in arguments):
            return list(self.build(*shape, *arguments).using(using))
        key = (using, shape, *map(type, arguments))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(arguments, shape, using)
            while len(self._compiled) >= MAX_COMPILED:
                # Several threads may build at once: another may be
                # dropping the same one.
                try:
                    oldest = next(iter(self._compiled))
                except (StopIteration, RuntimeError):
                    break
                self._compiled.pop(oldest, None)
            self._compiled[key] = compiled
        params = list(compiled.params)
        for argument, places in zip(arguments, compiled.places, strict=True):
            for place in places:
                params[place] = argument
        with statement_cursor(using) as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        return compiled.rows(compiled.compiler, fetched, using)

    def _compile(
        self, arguments: Sequence[str | int], shape: tuple[Any, ...], using: str
    ) -> _Compiled:
        stand_ins = [_stand_in(n, argument) for n, argument in enumerate(arguments)]
        queryset = self.build(*shape, *stand_ins)
        if queryset._known_related_objects or queryset._prefetch_related_lookups:
            raise ValueError("CompiledQuery reads one query: no prefetch, no related managers")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        places = []
        for stand_in in stand_ins:
            found = tuple(n for n, param in enumerate(params) if param == stand_in)
            if not found:
                raise ValueError(
                    f"{self.build.__qualname__}: an argument did not reach the SQL unchanged "
                    "(compare arguments for equality only)"
                )
            places.append(found)
        return _Compiled(sql, tuple(params), tuple(places), compiler, _row_reader(queryset))


def _compilable(argument: object) -> bool:
    return type(argument) is str or type(argument) is int


def _stand_in(n: int, argument: str | int) -> str | int:
    # Values no real argument has, distinct from one another and from any
    # constant a query could carry; of the argument's type, which is what
    # the SQL gets for it (a string or an integer key, unchanged).
    if isinstance(argument, str):
        return f"\x1fcompiled-query-argument-{n}\x1f"
    # Inside a 32-bit column's range: Django drops a comparison with a value
    # out of its column's range from the SQL (it is always true or false).
    return 1_999_999_937 - n


def _row_reader(queryset: QuerySet[Any]) -> Callable[[SQLCompiler, list, str], list[Any]]:
    iterable = queryset._iterable_class
    if iterable is ModelIterable:
        return _model_rows
    if iterable is ValuesListIterable:
        return lambda compiler, fetched, using: list(
            compiler.results_iter([fetched], tuple_expected=True)
        )
    if iterable is FlatValuesListIterable:
        return lambda compiler, fetched, using: [row[0] for row in compiler.results_iter([fetched])]
    raise ValueError(f"CompiledQuery cannot read {iterable.__name__} results")


def _model_rows(compiler: SQLCompiler, fetched: list, using: str) -> list[Model]:
    """Model instances from the rows, as Django's ``ModelIterable`` makes
    them (its loop, without the known related objects of related managers,
    which ``CompiledQuery`` refuses)."""
    select, klass_info = compiler.select, compiler.klass_info
    annotation_col_map = compiler.annotation_col_map
    model = klass_info["model"]
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    related_populators = get_related_populators(klass_info, select, using)
    instances = []
    for row in compiler.results_iter([fetched]):
        instance = model.from_db(using, init_list, row[start:end])
        for populator in related_populators:
            populator.populate(row, instance)
        for name, position in (annotation_col_map or {}).items():
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


# --- writes -----------------------------------------------------------------------------


@functools.cache
def _insert_statement(model: type[Model], vendor: str) -> tuple[list[Field], str]:
    qn = connection.ops.quote_name
    fields = list(model._meta.concrete_fields)
    columns = ", ".join(qn(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    return fields, f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({values})"


def insert_row(instance: Model) -> None:
    """INSERT ``instance`` as it is (every concrete field, its primary key
    given) in one statement on the default database, as
    ``save(force_insert=True)`` would, without sending model signals (no
    part of the site listens to them; ``signals.py`` says why)."""
    fields, sql = _insert_statement(type(instance), connection.vendor)
    # What save() would write: ``pre_save`` fills ``auto_now`` columns.
    values = [field.pre_save(instance, True) for field in fields]
    if any(isinstance(value, DatabaseDefault) for value in values):
        # A value the database chooses: the ORM knows how to ask for it.
        instance.save(force_insert=True)
        return
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
    instance._state.adding = False
    instance._state.db = connection.alias


@functools.lru_cache(maxsize=32)
def _insert_many_statement(
    model: type[Model], vendor: str, count: int
) -> tuple[list[Field], str, Field]:
    qn = connection.ops.quote_name
    pk = model._meta.pk
    fields = [field for field in model._meta.concrete_fields if field is not pk]
    columns = ", ".join(qn(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        fields,
        f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES "
        + ", ".join([row] * count)
        + f" RETURNING {qn(pk.column)}",
        pk,
    )


def insert_rows(model: type[Model], instances: Sequence[Model]) -> None:
    """INSERT ``instances`` of a model with a database-generated primary key
    in one statement, setting each one's key, as ``bulk_create`` does
    (PostgreSQL and SQLite 3.35+ return the keys in order)."""
    if not instances:
        return
    fields, sql, pk = _insert_many_statement(model, connection.vendor, len(instances))
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for instance in instances
        for field in fields
    ]
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        keys = [row[0] for row in cursor.fetchall()]
    for instance, key in zip(instances, keys, strict=True):
        setattr(instance, pk.attname, key)
        instance._state.adding = False
        instance._state.db = connection.alias


@functools.cache
def _update_statement(
    model: type[Model], vendor: str, names: tuple[str, ...], keys: tuple[str, ...]
) -> tuple[list[Field], str]:
    qn = connection.ops.quote_name
    meta = model._meta
    fields = [meta.get_field(name) for name in (*names, *keys)]
    assignments = ", ".join(f"{qn(field.column)} = %s" for field in fields[: len(names)])
    where = " AND ".join(f"{qn(field.column)} = %s" for field in fields[len(names) :])
    return fields, f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {where}"


def update_columns(model: type[Model], values: dict[str, Any], where: dict[str, Any]) -> int:
    """``model.objects.filter(**where).update(**values)`` for plain values
    and equality on plain columns (``owner_id``, not ``owner``): one UPDATE
    on the default database, its statement built once. The rows changed."""
    fields, sql = _update_statement(model, connection.vendor, tuple(values), tuple(where))
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, [*values.values(), *where.values()], strict=True)
    ]
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@functools.cache
def _update_returning_statement(
    model: type[Model], vendor: str, names: tuple[str, ...], keys: tuple[str, ...]
) -> tuple[list[Field], str, list[str]]:
    fields, sql = _update_statement(model, vendor, names, keys)
    qn = connection.ops.quote_name
    columns = [field.column for field in model._meta.concrete_fields]
    attnames = [field.attname for field in model._meta.concrete_fields]
    return fields, f"{sql} RETURNING {', '.join(qn(column) for column in columns)}", attnames


def update_returning(
    model: type[Model], values: dict[str, Any], where: dict[str, Any]
) -> Model | None:
    """``update_columns`` of at most one row, returning that row as it is now
    (None: no row matched), in one statement (UPDATE … RETURNING): no
    transaction needed to read what was written."""
    fields, sql, attnames = _update_returning_statement(
        model, connection.vendor, tuple(values), tuple(where)
    )
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, [*values.values(), *where.values()], strict=True)
    ]
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    converted = [
        _from_db(field, value)
        for field, value in zip(model._meta.concrete_fields, row, strict=True)
    ]
    return model.from_db(connection.alias, attnames, converted)


def _from_db(field: Field, value: Any) -> Any:
    """A column's value as the ORM would give it (the backend's converters,
    then the field's own ``from_db_value``)."""
    expression = field.get_col(field.model._meta.db_table)
    for converter in connection.ops.get_db_converters(expression):
        value = converter(value, expression, connection)
    for converter in field.get_db_converters(connection):
        value = converter(value, expression, connection)
    return value
