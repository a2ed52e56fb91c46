"""Hot reads and inserts whose SQL Django compiles once per process instead of on every run.

Django turns a queryset into SQL each time it runs it: 300 to 500 µs of CPU here for a one-row lookup that the
database answers in 20. A `Prepared` read is a queryset written once with its changing values named; the first run
compiles it, with a stand-in value of the named type in each place, and every run after sends that SQL with the
real values and builds the rows as Django does, through the columns' converters (dates, JSON, booleans): under
100 µs. It is for the few reads every capture makes; anything built per request stays a queryset. `insert` does the
same for a new row's INSERT, and `send_prepared` sends a statement of its own prepared on PostgreSQL, its rows
read when the caller is ready for them."""

import re
import select
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from psycopg import abc, pq
from psycopg.adapt import PyFormat, Transformer

M = TypeVar("M", bound=Model)
STAND_INS: dict[type, Callable[[int], Any]] = {
    str: lambda place: f"\x1fprepared value {place}\x1f",
    int: lambda place: -7_340_000_000_000 - place,
}


@dataclass(frozen=True)
class Compiled(Generic[M]):
    model: type[M]
    sql: str
    slots: list[tuple[str | None, Any]]  # per parameter: the name of the value that goes there, or a constant
    columns: list[Any]  # the selected columns' expressions, for their converters
    names: list[str]  # the attribute each column fills


class Prepared(Generic[M]):
    """`Prepared(lambda email: Contact.objects.filter(email=email)[:1], email=str)`, then `read(email="a@b.c")`
    → the list of rows. Each named value must reach the SQL as given (an equality or `in`, not `contains`), and
    the queryset must select model rows of one table (no `values()`, `select_related()` or annotations)."""

    def __init__(self, build: Callable[..., QuerySet[M]], **types: type) -> None:
        self.build, self.types = build, types
        self.compiled: dict[str, Compiled[M]] = {}  # by database vendor

    def _compile(self) -> Compiled[M]:
        stand_ins = {name: STAND_INS[kind](place) for place, (name, kind) in enumerate(self.types.items())}
        queryset = self.build(**stand_ins)
        compiler = queryset.query.get_compiler(DEFAULT_DB_ALIAS)
        sql, params = compiler.as_sql()
        names = {value: name for name, value in stand_ins.items()}
        slots = [(names.get(param), param) for param in params]
        missing = set(stand_ins) - {name for name, _ in slots if name}
        if missing:
            raise ValueError(f"{', '.join(sorted(missing))}: not sent to the database as given")
        columns = [column for column, _, _ in compiler.select]
        return Compiled(queryset.model, sql, slots, columns, [column.target.attname for column in columns])

    def __call__(self, **values: Any) -> list[M]:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled = self.compiled.get(connection.vendor)
        if compiled is None:
            compiled = self.compiled[connection.vendor] = self._compile()
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, [values[name] if name else constant for name, constant in compiled.slots])
            rows = cursor.fetchall()
        if not rows:
            return []
        converting = []
        for place, column in enumerate(compiled.columns):
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                converting.append((place, column, converters))
        found = []
        for row in rows:
            values_in_row = list(row)
            for place, column, converters in converting:
                for convert in converters:
                    values_in_row[place] = convert(values_in_row[place], column, connection)
            found.append(compiled.model.from_db(DEFAULT_DB_ALIAS, compiled.names, values_in_row))
        return found


def keep_related(instance: Model, name: str, rows: list[Any]) -> None:
    """Keep `rows` as what `instance.<name>.all()` gives (a reverse foreign key, by its related name), as
    `prefetch_related` does: reading them then costs no query."""
    related = instance._meta.get_field(name).related_model
    kept: Any = related._default_manager.none()  # type: ignore[union-attr]
    kept._result_cache, kept._prefetch_done = list(rows), True
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[name] = kept


_INSERTS: dict[tuple[type[Model], str], tuple[str, list[Any]]] = {}  # by model and database vendor


def insert(instance: Model) -> None:
    """Save a new row as `instance.save()` does (its fields' own pre-save steps such as `auto_now_add`, their
    database form, the related rows' keys, the new primary key set on it), with the INSERT compiled once per model.
    No signal is sent: nothing in leadflow listens to saves. A model with parents, a primary key given, a value
    that is an expression or a column the database fills other than the key goes through `save()`."""
    model, meta = type(instance), instance._meta
    connection = connections[DEFAULT_DB_ALIAS]
    if meta.parents or meta.auto_field is None or instance.pk is not None or meta.db_returning_fields != [meta.pk]:
        instance.save()
        return
    compiled = _INSERTS.get((model, connection.vendor))
    if compiled is None:
        fields = [field for field in meta.local_concrete_fields if not field.generated and field is not meta.pk]
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.pk.column)}"
        )
        compiled = _INSERTS[(model, connection.vendor)] = (sql, fields)
    sql, fields = compiled
    instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    values = [field.pre_save(instance, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        instance.save()
        return
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
        )
        (pk,) = cursor.fetchone()
    setattr(instance, meta.pk.attname, pk)
    instance._state.db, instance._state.adding = DEFAULT_DB_ALIAS, False


class Pending:
    """A statement sent to the database, its rows still to be read: the caller works meanwhile (on PostgreSQL the
    server runs the statement, and commits it when it is its own transaction), then reads `rows()` before the
    connection runs anything else."""

    def __init__(self, rows: list[tuple] | None = None, *, on: Any = None) -> None:
        self._rows, self._connection = rows, on

    def rows(self) -> list[tuple]:
        if self._rows is None:
            connection, self._connection = self._connection, None
            with connection.wrap_database_errors:
                self._rows = _result_rows(connection.connection, _results(connection.connection.pgconn))
        return self._rows


def send_prepared(sql: str, params: Sequence[Any]) -> Pending:
    """Send a statement (with `%s` placeholders) that a connection runs over and over: on PostgreSQL prepared,
    parsed and planned once per connection, its values bound by the server (Django's cursors bind them into the
    text, which the server then parses and plans each time: for a nurture worker's claim, 0.16 ms more of the
    server's CPU per email), and sent without waiting for its rows. SQLite keeps the statements it ran compiled by
    itself, and runs this one at once."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return Pending(cursor.fetchall())
    connection.ensure_connection()
    driver = connection.connection  # psycopg's connection
    with connection.wrap_database_errors:
        name = _prepared(driver, sql)
        values = _session(driver).transformer.dump_sequence(params, [PyFormat.TEXT] * len(params))
        driver.pgconn.send_query_prepared(name, values)
        driver.pgconn.flush()  # the rest, if the socket took only part, goes out as the rows are awaited
    return Pending(on=connection)


@dataclass
class _Session:
    """What a connection has of the statements sent through `send_prepared`: their names prepared on it, and how
    it turns values into text and rows back into values."""

    transformer: abc.Transformer
    prepared: set[bytes] = field(default_factory=set)


_NAMES: dict[str, bytes] = {}  # a prepared statement's name by its SQL, the same on every connection
_SESSIONS: "WeakKeyDictionary[psycopg.Connection, _Session]" = WeakKeyDictionary()
PLACEHOLDER = re.compile(r"%[s%]")


def _session(connection: psycopg.Connection) -> _Session:
    session = _SESSIONS.get(connection)
    if session is None:
        session = _SESSIONS[connection] = _Session(Transformer.from_context(connection))
    return session


def _prepared(connection: psycopg.Connection, sql: str) -> bytes:
    """The name of `sql` prepared on this connection, preparing it the first time (its values' types inferred by
    the server from where they go, as they are sent as text)."""
    name = _NAMES.setdefault(sql, f"leadflow_{len(_NAMES)}".encode())
    session = _session(connection)
    if name not in session.prepared:
        places = iter(range(1, sql.count("%s") + 1))
        numbered = PLACEHOLDER.sub(lambda match: "%" if match.group() == "%%" else f"${next(places)}", sql)
        connection.pgconn.send_prepare(name, numbered.encode())
        _result_rows(connection, _results(connection.pgconn))
        session.prepared.add(name)
    return name


def _ready(pgconn: Any, events: int) -> None:
    """Wait until the connection's socket is ready (poll: no limit on the descriptor's number, unlike select)."""
    poller = select.poll()
    poller.register(pgconn.socket, events)
    poller.poll()


def _results(pgconn: Any) -> list[Any]:
    """The results of the statement sent on this (nonblocking) connection, waiting for them on its socket."""
    while pgconn.flush():  # 1: part of the statement is still to go
        _ready(pgconn, select.POLLIN | select.POLLOUT)
        pgconn.consume_input()
    results: list[Any] = []
    while True:
        while pgconn.is_busy():
            _ready(pgconn, select.POLLIN)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            return results
        results.append(result)


def _result_rows(connection: psycopg.Connection, results: list[Any]) -> list[tuple]:
    """The rows of a statement's result, as psycopg loads them; its error raised as psycopg raises it."""
    if len(results) != 1:
        raise psycopg.OperationalError(f"{len(results)} results for one statement")
    (result,) = results
    if result.status == pq.ExecStatus.FATAL_ERROR:
        raise psycopg.errors.error_from_result(result, encoding=connection.info.encoding)
    if result.status != pq.ExecStatus.TUPLES_OK:
        return []
    transformer = _session(connection).transformer
    transformer.set_pgresult(result)
    return transformer.load_rows(0, result.ntuples, tuple)
