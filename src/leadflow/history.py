"""Spells in a stage history (a lead's lifecycle steps, a deal's stage moves): each history row starts a spell that
ends when the same lead's or deal's next row begins. The end (`left_at`) and the length (`days_in_stage`) are
stored on the row, so analytics reads durations and "where was it on date D" straight off indexed columns.

Every writer of history rows calls `refresh_spells` for the leads or deals it touched, after writing; it recomputes
their whole history, so rows written out of order (back-dated steps, label imports) come out right. A writer that
builds a whole new history at once (the leadforge import) stores the spells `spells_of` works out instead, and one
that adds a row after all the others (a lead's new lifecycle step) ends the spell of the row before it.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model

CHUNK = 5000


def chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    """The ids in lists short enough for one SQL parameter list."""
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def most_or_all(model: type[Model], ids: Sequence[int] | None) -> Sequence[int] | None:
    """None (meaning every row) when the ids are many and most of the model's rows: one pass over the table beats
    matching long id lists (an import into an empty database names every lead). A few ids are never counted."""
    if ids is None or (len(ids) > CHUNK and len(ids) * 2 >= model._default_manager.count()):
        return None
    return ids


def set_on(model: type[Model], ids: Sequence[int] | None, **values: Any) -> None:
    """Set these values (expressions welcome) on the model's rows with these ids, every row when None: in one pass
    or in id chunks, as `most_or_all` decides."""
    ids = most_or_all(model, ids)
    if ids is None:
        model._default_manager.update(**values)
        return
    for chunk in chunks(ids):
        model._default_manager.filter(pk__in=chunk).update(**values)


def spells_of(moments: Sequence[datetime]) -> list[tuple[datetime | None, float | None]]:
    """For one lead's or deal's history rows, in the order they are written: when each row's spell ended and how
    many days it lasted (as `refresh_spells` works them out: rows taken by time, then by order written). For
    writers that build a whole history at once and can store it with its spells."""
    order = sorted(range(len(moments)), key=lambda index: (moments[index], index))
    spells: list[tuple[datetime | None, float | None]] = [(None, None)] * len(moments)
    for this, following in pairwise(order):
        ended = moments[following]
        spells[this] = (ended, (ended - moments[this]).total_seconds() / 86400)
    return spells


def days_between(later: str, earlier: str) -> str:
    """SQL for the days between two timestamp expressions, as a float, in this database's dialect."""
    if connection.vendor == "sqlite":
        return f"(julianday({later}) - julianday({earlier}))"
    return f"(CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS double precision) / 86400.0)"  # numeric otherwise


def epoch_days(moment: str) -> str:
    """SQL for a timestamp expression as days since 1970-01-01 (a float), in this database's dialect: an average of
    it is an average moment, so an average age is one subtraction, not one per row."""
    if connection.vendor == "sqlite":
        return f"(julianday({moment}) - 2440587.5)"
    return f"(date_part('epoch', {moment}) / 86400.0)"  # a float at once; EXTRACT gives a slow numeric


def qualified_column(model: type[Model], name: str) -> str:
    """A column's SQL name, qualified by its table (for raw expressions in joined queries)."""
    return f"{connection.ops.quote_name(model._meta.db_table)}.{connection.ops.quote_name(name)}"


def refresh_spells(model: type[Model], owner_field: str, owner_ids: Sequence[int] | None = None) -> None:
    """Recompute `left_at` and `days_in_stage` on the history rows of these owners (every owner when None)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    owner = quote(cast(Field, model._meta.get_field(owner_field)).column)
    statement = f"""
        UPDATE {table} SET left_at = spells.left_at, days_in_stage = {days_between("spells.left_at", "spells.at")}
        FROM (
            SELECT id, at, LEAD(at) OVER (PARTITION BY {owner} ORDER BY at, id) AS left_at
            FROM {table} {{where}}
        ) AS spells
        WHERE {table}.id = spells.id
    """
    owner_ids = most_or_all(cast(type[Model], model._meta.get_field(owner_field).related_model), owner_ids)
    with connection.cursor() as cursor:
        if owner_ids is None:
            cursor.execute(statement.format(where=""))
            return
        for chunk in chunks(owner_ids):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(statement.format(where=f"WHERE {owner} IN ({marks})"), chunk)
