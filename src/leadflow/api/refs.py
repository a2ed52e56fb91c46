"""Turning ids in request bodies into rows, with an error that names the field when there is none."""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db.models import Model
from django.http import Http404

from leadflow.errors import InvalidInput

M = TypeVar("M", bound=Model)


def row(model: type[M], pk: int | None, field: str) -> M | None:
    """The row with this id, None for no id, or an error on `field`."""
    if pk is None:
        return None
    found = model._default_manager.filter(pk=pk).first()
    if found is None:
        raise InvalidInput.on(field, f"No {model._meta.verbose_name} with id {pk}.")
    return found


def visible_row(get: Callable[[Any, int], M], user: Any, pk: int | None, field: str) -> M | None:
    """The row with this id if the user may see it, None for no id, or an error on `field`."""
    if pk is None:
        return None
    try:
        return get(user, pk)
    except Http404 as exc:
        raise InvalidInput.on(field, f"No such row with id {pk}.") from exc


def resolve_ids(fields: dict[str, Any], refs: Mapping[str, tuple[type[Model], str]]) -> dict[str, Any]:
    """Replace each `<name>_id` in `fields` with the row it names (under `<name>`)."""
    resolved = dict(fields)
    for key, (model, name) in refs.items():
        if key in resolved:
            resolved[name] = row(model, resolved.pop(key), key)
    return resolved
