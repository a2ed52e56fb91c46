"""Set-based writing for bulk work (imports, rescoring, the nurture engine): many rows per statement (COPY on
PostgreSQL), rows made in a helper process while they are written, dates adapted once, ids looked up by external
id, rows picked by a long list of keys in one parameter, and the cycle collector held off during a batch."""

import gc
import json
import os
import pickle
import re
import signal
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from multiprocessing import Pipe
from typing import Any, cast

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Field, Model
from django.db.models.expressions import RawSQL
from django.utils import timezone

BATCH = 5000
ASIDE = 1000  # rows a helper sends at a time (`drawn_aside`)
# A helper yields the CPU to the process writing its rows, and to the helpers forked before it (needed sooner).
HELPER_NICENESS, LATER_HELPER_NICENESS = 5, 3
COPY_FROM = 500
# How SQLite builds an index in `first_load`: sorting runs of a megabyte (the page cache's size), spilled to
# temporary files and merged on worker threads, instead of one run in memory over the whole table as the
# connection otherwise does (temp_store=MEMORY). On scoring-100k its indexes took 4.4-4.6 s instead of 7.0-7.6 s.
SORTED_IN_RUNS = {"threads": 2, "cache_size": -1024}
ROWS_PER_INSERT = 1000
LENGTH = re.compile(r"\(.*\)")  # varchar(20) → varchar, numeric(10, 2) → numeric


def _defaults(model: type[Model], given: Sequence[str]) -> tuple[list[str], tuple[Any, ...]]:
    """The columns the caller leaves out that need a value, with the value Django would have saved."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in given or field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = timezone.now()
        elif field.has_default() or not field.null:
            value = field.get_default()
        else:
            continue
        columns.append(field.column)
        values.append(field.get_db_prep_save(value, connection))
    return columns, tuple(values)


def insert_rows(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """INSERT the rows (values in the order of `fields`, ready for the database; other columns get their
    defaults) BATCH at a time: COPY on PostgreSQL, executemany elsewhere. Returns how many were written.

    The rows are drawn between statements, so the code that yields them may query the database."""
    meta = model._meta
    extra_columns, extra_values = _defaults(model, fields)
    names = [str(meta.get_field(name).column) for name in fields] + extra_columns  # type: ignore[union-attr]
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in names)
    copy = f"COPY {table} ({columns}) FROM STDIN"
    insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
    written = 0
    rows = iter(rows)
    with connection.cursor() as cursor:
        while batch := [(*row, *extra_values) for row in islice(rows, BATCH)]:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(copy) as stream:
                    for row in batch:
                        stream.write_row(row)
            else:
                cursor.executemany(insert, batch)
            written += len(batch)
    return written


@contextmanager
def drawn_aside(
    rows: Callable[[], Iterable[Sequence[Any]]],
    news: Callable[[bool], Any] = lambda final: None,
    apply: Callable[[Any], None] = lambda told: None,
) -> Iterator[Iterator[Sequence[Any]]]:
    """The rows `rows()` gives, made in a helper process forked now, while this one goes on: the block gets them as
    they come, to write them (reading and converting a big file takes as long as inserting it: on two cores the two
    overlap). The helper sends ASIDE rows at a time and never waits for them to be taken, so one forked before its
    rows are needed has them ready. With each lot it sends what `news(False)` returns, and at the end what
    `news(True)` returns; this process passes it to `apply` once it has taken the rows before it. So what making the
    rows changes (counts, reasons, progress) comes back: the helper's own changes to memory are lost with it. The
    helper may not use the database (it would share this process's connection): a query there raises. An error
    there is raised here, when its rows are reached."""

    def send(post: Callable[[tuple], None]) -> None:
        made = iter(rows())
        while batch := list(islice(made, ASIDE)):
            post(("rows", batch, news(False)))
        post(("end", [], news(True)))

    def taken(receive: Callable[[], tuple]) -> Iterator[Sequence[Any]]:
        while True:
            kind, batch, told = receive()
            yield from batch
            apply(told)
            if kind == "end":
                return

    with _helper(send) as receive:
        yield taken(receive)


@contextmanager
def worked_out_aside(work: Callable[[], Any]) -> Iterator[Callable[[], Any]]:
    """`work()` done in a helper process forked now, while this one goes on: the block gets what waits for its
    result. As in `drawn_aside`, the helper may not use the database, and its error is raised here."""

    def send(post: Callable[[tuple], None]) -> None:
        post(("end", [], work()))

    with _helper(send) as receive:
        yield lambda: receive()[2]


@contextmanager
def _helper(send: Callable[[Callable[[tuple], None]], None]) -> Iterator[Callable[[], tuple]]:
    """A helper process forked to run `send`, which posts (kind, rows, news) messages, "end" last, with the database
    out of its reach; the block gets what receives the next message. The messages are appended to a spool (an
    unnamed temporary file: the page cache holds it) and only their sizes go through a pipe, so the helper never
    waits for this process. It runs at a lower priority, so it takes a spare core rather than this process's, and
    lower still for each helper at work already, whose rows will be wanted first. On leaving, a helper still at work
    is stopped."""
    niceness = min(19, HELPER_NICENESS + LATER_HELPER_NICENESS * len(_helpers_at_work))
    with tempfile.TemporaryFile() as spool:
        receiving, sending = Pipe(duplex=False)
        helper = os.fork()
        if helper == 0:  # the helper: send, and leave without running anything of this process's on exit
            receiving.close()
            status = 0

            def post(message: tuple) -> None:
                data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
                left = memoryview(data)
                while left:  # the spool's offset is shared with the other process, which reads by position only
                    left = left[os.write(spool.fileno(), left) :]
                sending.send(len(data))

            try:
                os.nice(niceness)
                with connection.execute_wrapper(_no_database_in_a_helper):
                    send(post)
            except BaseException as exc:  # whatever stops the helper is raised in the other process
                status = 1
                post(("error", [], _portable(exc)))
            finally:
                os._exit(status)
        sending.close()
        _helpers_at_work.add(helper)
        read = 0

        def receive() -> tuple:
            nonlocal read
            try:
                size = receiving.recv()
            except EOFError:
                raise RuntimeError("a helper process stopped without a word") from None
            kind, rows, told = pickle.loads(os.pread(spool.fileno(), size, read))
            read += size
            if kind == "error":
                raise told
            return kind, rows, told

        try:
            yield receive
        finally:
            receiving.close()
            _helpers_at_work.discard(helper)
            if os.waitpid(helper, os.WNOHANG) == (0, 0):  # still at work nobody will take
                os.kill(helper, signal.SIGKILL)
                os.waitpid(helper, 0)


_helpers_at_work: set[int] = set()  # the process ids of this process's helpers not yet reaped


def _no_database_in_a_helper(*args: Any) -> None:
    raise RuntimeError("a helper process may not use the database")


def _portable(exc: BaseException) -> BaseException:
    """The exception, if it survives pickling to the other process; else a RuntimeError with its traceback."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # any exception that does not pickle
        return RuntimeError("".join(traceback.format_exception(exc)))
    return exc


def insert_rows_returning_ids(model: type[Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """INSERT the rows as `insert_rows` does and return their new primary keys in the order of the rows (RETURNING
    gives them in the order of the VALUES on SQLite, many rows to a statement, and of an UNNEST of one array per
    column on PostgreSQL, in one statement; Django's bulk_create relies on both)."""
    meta = model._meta
    extra_columns, extra_values = _defaults(model, fields)
    names = [str(meta.get_field(name).column) for name in fields] + extra_columns  # type: ignore[union-attr]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(name) for name in names)}) "
    returning = f" RETURNING {quote(meta.pk.column)}"
    if not rows:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Its text stays short, so psycopg parses it once a process, not at every batch: the placeholders of a
            # thousand rows' VALUES took a quarter of an event batch's CPU to find.
            types = {field.column: str(field.db_type(connection)).split("(")[0] for field in meta.concrete_fields}
            arrays = ", ".join(f"%s::{types[name]}[]" for name in names)
            columns = [list(column) for column in zip(*((*row, *extra_values) for row in rows), strict=True)]
            cursor.execute(f"{head}SELECT * FROM UNNEST({arrays}){returning}", columns)
            return [row[0] for row in cursor.fetchall()]
        marks = f"({', '.join(['%s'] * len(names))})"
        per_statement = min(ROWS_PER_INSERT, 30000 // len(names))  # under SQLite's limit of bound values
        ids: list[int] = []
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            values = [value for row in batch for value in (*row, *extra_values)]
            cursor.execute(head + "VALUES " + ", ".join([marks] * len(batch)) + returning, values)
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


def upsert_rows(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write the rows (values in the order of `fields`, the primary key first, ready for the database) over those
    with the same key, inserting the others with defaults for the columns left out, which rows already there keep.
    BATCH at a time, in one transaction, by executemany; on PostgreSQL a batch of COPY_FROM rows or more is COPied to
    a temporary table and inserted from there (making the table costs milliseconds, which COPY repays only for
    many rows)."""
    meta = model._meta
    quote = connection.ops.quote_name
    given = [quote(str(meta.get_field(name).column)) for name in fields]  # type: ignore[union-attr]
    extra_columns, extra_values = _defaults(model, fields)
    columns, table = ", ".join(given + [quote(column) for column in extra_columns]), quote(meta.db_table)
    marks = ", ".join(["%s"] * (len(given) + len(extra_columns)))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in given[1:])
    on_conflict = f"ON CONFLICT ({given[0]}) DO UPDATE SET {updates}"
    fresh, made = quote(f"fresh_{meta.db_table}"), False
    rows = iter(rows)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:  # a failure undoes the temporary table
        while batch := [(*row, *extra_values) for row in islice(rows, BATCH)]:
            if connection.vendor != "postgresql" or len(batch) < COPY_FROM:
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {on_conflict}", batch)
                continue
            if not made:
                cursor.execute(f"CREATE TEMPORARY TABLE {fresh} AS SELECT {columns} FROM {table} WITH NO DATA")
                made = True
            with cursor.cursor.copy(f"COPY {fresh} ({columns}) FROM STDIN") as stream:
                for row in batch:
                    stream.write_row(row)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {fresh} {on_conflict}")
            cursor.execute(f"TRUNCATE {fresh}")
        if made:
            cursor.execute(f"DROP TABLE {fresh}")


def update_rows(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """UPDATE the given columns of rows named by primary key: each row is (*values in the order of `fields`, pk), each
    key once. On PostgreSQL up to ROWS_PER_INSERT rows to a statement, joined to their values: a nurture batch's
    thousand enrolments cost the server one statement instead of a thousand. Elsewhere executemany (SQLite runs one
    prepared statement for every row)."""
    meta = model._meta
    quote = connection.ops.quote_name
    table, key = quote(meta.db_table), quote(meta.pk.column)
    targets = [cast(Field, meta.get_field(name)) for name in fields]
    columns = [quote(str(field.column)) for field in targets]
    rows = list(rows)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{column} = %s" for column in columns)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {key} = %s", rows)
            return
        # The first row's values name their types: each column's, without a length (a cast would cut to it).
        first = ", ".join(f"%s::{LENGTH.sub('', str(field.db_type(connection)))}" for field in [*targets, meta.pk])
        marks = f"({', '.join(['%s'] * (len(fields) + 1))})"
        sets = ", ".join(f"{column} = given.value{number}" for number, column in enumerate(columns))
        names = ", ".join(f"value{number}" for number in range(len(fields)))
        per_statement = min(ROWS_PER_INSERT, 30000 // (len(fields) + 1))
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            values = ", ".join([f"({first})", *[marks] * (len(batch) - 1)])
            joined = f"FROM (VALUES {values}) AS given ({names}, key) WHERE {table}.{key} = given.key"
            cursor.execute(f"UPDATE {table} SET {sets} {joined}", [value for row in batch for value in row])


def ids_by_external_id(model: type[Model]) -> dict[str, int]:
    """Every row of the model that has an external id, as {external id: primary key} (in no order: sorting 100k rows
    by the model's ordering took two thirds of the time)."""
    return dict(model._default_manager.exclude(external_id=None).order_by().values_list("external_id", "pk"))


def one_of(model: type[Model], field: str, values: Iterable[int | str]) -> RawSQL:
    """A filter for `queryset.filter()`: the model's `field` holds one of these values (numbers or text), all sent
    as one parameter (an array on PostgreSQL, a JSON list on SQLite). For an event batch's thousand ids, Django's
    `field__in` took 1 ms to prepare each value apart and 2 ms more to run on SQLite, three times this."""
    quote = connection.ops.quote_name
    column = f"{quote(model._meta.db_table)}.{quote(cast(Field, model._meta.get_field(field)).column)}"
    if connection.vendor == "postgresql":
        return RawSQL(f"{column} = ANY(%s)", (list(values),), output_field=BooleanField())
    return RawSQL(f"{column} IN (SELECT value FROM json_each(%s))", (json.dumps(list(values)),), BooleanField())


@lru_cache(maxsize=65536)
def database_datetime(moment: datetime) -> Any:
    """A timezone-aware datetime as the database driver takes it (imports repeat the same moments, hence the
    cache)."""
    return connection.ops.adapt_datetimefield_value(moment)


@lru_cache(maxsize=65536)
def stored_json(items: tuple[tuple[str, Any], ...]) -> str:
    """A JSON object of plain values, given as its items, as the text `insert_rows` writes into a JSON column
    (imports repeat the same objects: 15 kinds among 573,252 touches of the scoring-100k bundle, 40,376 among its
    154,234 sessions). Text, so that COPY on PostgreSQL does not serialise the same object again for every row."""
    return json.dumps(dict(items))


@lru_cache(maxsize=4096)
def stored_datetime(text: str) -> Any:
    """A date or datetime in ISO form, as the database stores a timezone-aware timestamp (midnight UTC for a day)."""
    return database_datetime(parse_datetime(text))


@lru_cache(maxsize=4096)
def parse_datetime(text: str) -> datetime:
    """A date or datetime in ISO form as a timezone-aware datetime (UTC when the text names no zone)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector held off for one batch: a batch keeps thousands of objects alive until it is stored
    or sent, and the passes over the whole heap they set off took a tenth of a 100k rescore's time and of a nurture
    run's. What a batch leaves for the collector is collected after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def first_load(models: Sequence[type[Model]], *, rollback: bool = False) -> Iterator[None]:
    """A bulk load into tables that are empty, in a transaction (a savepoint inside a caller's; rolled back at the
    end when `rollback`, for a dry run): the plain indexes of the empty tables among `models` are set aside, and
    their foreign keys too; all are put back when the load ends, each index built once and each key checked in one
    pass instead of row by row. A row the keys refuse fails the transaction, as the row-by-row check would. Tables
    holding rows load as usual.

    On PostgreSQL the keys set aside are those between the empty tables, which stay locked until the commit (readers
    wait for the load, which only matters in an empty CRM). SQLite cannot drop a key, and turns its key checks off
    only outside a transaction and for the whole connection: when the load opens the transaction and every table
    among `models` is empty, they are off during the load, and every key in the database is checked at its end (the
    load may write other tables, as an import does its reps)."""
    owned = connection.vendor == "sqlite" and not connection.in_atomic_block
    unchecked = owned and not any(model._base_manager.exists() for model in models)
    unchecked = unchecked and connection.disable_constraint_checking()
    try:  # temporary files: see SORTED_IN_RUNS (changed only outside a transaction)
        with _pragmas(temp_store="FILE") if owned else nullcontext(), transaction.atomic():
            with connection.cursor() as cursor:
                empty = [model for model in models if not model._base_manager.exists()]
                if connection.vendor == "postgresql":
                    keys, indexes = _set_aside_on_postgresql(cursor, empty)
                else:
                    keys, indexes = [], _plain_indexes_on_sqlite(cursor, empty)
                for table, name, _ in keys:
                    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
                for name, _ in indexes:
                    cursor.execute(f"DROP INDEX {name}")
            yield
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")  # no checks pending
                with _pragmas(**SORTED_IN_RUNS):
                    for _, definition in indexes:
                        cursor.execute(definition)
                for table, name, definition in keys:
                    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
                if unchecked:
                    _check_keys_on_sqlite(cursor)
            if rollback:
                transaction.set_rollback(True)
    finally:
        if unchecked:
            connection.enable_constraint_checking()


@contextmanager
def _pragmas(**settings: Any) -> Iterator[None]:
    """On SQLite, the connection's settings (PRAGMAs) changed for the block, and restored after it."""
    if connection.vendor != "sqlite":
        yield
        return
    kept = {}
    with connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"PRAGMA {name}")
            kept[name] = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in kept.items():
                cursor.execute(f"PRAGMA {name} = {value}")


def _check_keys_on_sqlite(cursor: Any) -> None:
    """Every foreign key in the database, each checked by one query (PRAGMA foreign_key_check, which looks the rows
    up one at a time, takes five times as long): a value that names no row raises IntegrityError."""
    quote = connection.ops.quote_name
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    for (table,) in cursor.fetchall():
        cursor.execute('SELECT "table", "from", "to" FROM pragma_foreign_key_list(%s)', [table])
        for parent, column, key in cursor.fetchall():
            cursor.execute(
                f"SELECT {quote(column)} FROM {quote(table)} WHERE {quote(column)} IS NOT NULL AND {quote(column)} "
                f"NOT IN (SELECT {quote(key or 'rowid')} FROM {quote(parent)}) LIMIT 1"
            )
            if (found := cursor.fetchone()) is not None:
                raise IntegrityError(f"{table}.{column} holds {found[0]!r}, which is no row of {parent}.")


def _set_aside_on_postgresql(cursor: Any, empty: list[type[Model]]) -> tuple[list[tuple], list[tuple]]:
    """Lock the empty tables, and name the keys between them and their plain indexes, with their definitions."""
    quote = connection.ops.quote_name
    if empty:
        cursor.execute(f"LOCK TABLE {', '.join(quote(m._meta.db_table) for m in empty)} IN ACCESS EXCLUSIVE MODE")
    tables = [model._meta.db_table for model in empty if not model._base_manager.exists()]  # still empty
    cursor.execute(
        "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) AND confrelid = ANY(%s::regclass[])",
        [tables, tables],
    )
    keys = cursor.fetchall()
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index WHERE "
        "indrelid = ANY(%s::regclass[]) AND NOT indisunique AND NOT indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)",
        [tables],
    )
    indexes = cursor.fetchall()
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")  # no checks pending: DDL may run
    return keys, indexes


def _plain_indexes_on_sqlite(cursor: Any, empty: list[type[Model]]) -> list[tuple]:
    """The empty tables' indexes made by CREATE INDEX (not unique), with their definitions."""
    indexes: list[tuple] = []
    for model in empty:
        cursor.execute(
            "SELECT list.name, master.sql FROM pragma_index_list(%s) AS list JOIN sqlite_master AS master "
            "ON master.name = list.name WHERE list.origin = 'c' AND NOT list.\"unique\"",
            [model._meta.db_table],
        )
        indexes.extend((connection.ops.quote_name(name), definition) for name, definition in cursor.fetchall())
    return indexes
