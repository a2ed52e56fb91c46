"""Hot reads whose SQL Django compiles once per process instead of on every run.

Django turns a queryset into SQL each time it runs it: 300 to 500 µs of CPU here for a one-row lookup that the
database answers in 20. A `Prepared` read is a queryset written once with its changing values named; the first run
compiles it, with a stand-in value of the named type in each place, and every run after sends that SQL with the
real values through `raw()`, so the model's converters (dates, JSON, booleans) still apply: about 100 µs. It is for
the few reads every capture makes; anything built per request stays a queryset."""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)
STAND_INS: dict[type, Callable[[int], Any]] = {
    str: lambda place: f"\x1fprepared value {place}\x1f",
    int: lambda place: -7_340_000_000_000 - place,
}


class Prepared(Generic[M]):
    """`Prepared(lambda email: Contact.objects.filter(email=email)[:1], email=str)`, then `read(email="a@b.c")`
    → the list of rows. Each named value must reach the SQL as given (an equality or `in`, not `contains`), and
    the queryset must select model rows, not `values()`."""

    def __init__(self, build: Callable[..., QuerySet[M]], **types: type) -> None:
        self.build, self.types = build, types
        self.compiled: dict[str, tuple[type[M], str, list[tuple[str | None, Any]]]] = {}  # by database vendor

    def _compile(self) -> tuple[type[M], str, list[tuple[str | None, Any]]]:
        stand_ins = {name: STAND_INS[kind](place) for place, (name, kind) in enumerate(self.types.items())}
        queryset = self.build(**stand_ins)
        sql, params = queryset.query.get_compiler(DEFAULT_DB_ALIAS).as_sql()
        names = {value: name for name, value in stand_ins.items()}
        slots = [(names.get(param), param) for param in params]
        missing = set(stand_ins) - {name for name, _ in slots if name}
        if missing:
            raise ValueError(f"{', '.join(sorted(missing))}: not sent to the database as given")
        return queryset.model, sql, slots

    def __call__(self, **values: Any) -> list[M]:
        vendor = connections[DEFAULT_DB_ALIAS].vendor
        if vendor not in self.compiled:
            self.compiled[vendor] = self._compile()
        model, sql, slots = self.compiled[vendor]
        return list(model._default_manager.raw(sql, [values[name] if name else constant for name, constant in slots]))


def keep_related(instance: Model, name: str, rows: list[Any]) -> None:
    """Keep `rows` as what `instance.<name>.all()` gives (a reverse foreign key, by its related name), as
    `prefetch_related` does: reading them then costs no query."""
    related = instance._meta.get_field(name).related_model
    kept: Any = related._default_manager.none()  # type: ignore[union-attr]
    kept._result_cache, kept._prefetch_done = list(rows), True
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[name] = kept
