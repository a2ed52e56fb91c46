"""Request fields that carry their model column's limits, so the OpenAPI schema, the server and the database agree.

`column(Lead, "company_name")` is a pydantic field with the column's limits: the maximum length of a text column, the
range of an integer column (PostgreSQL's, the stricter of the two databases, so a value valid here is valid on both),
the digits of a decimal, the bounds of the column's own validators; text never holds a NUL character (PostgreSQL
refuses one). `Id` is a row id, `Text` any other string the API takes, `JsonValue` free-form JSON (no NUL in its text),
`Int`, `Number` and `Flag` JSON numbers and booleans in a body, `Date` and `DateTime` ISO 8601 text. `Body` is the
base of every request body.
"""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from django.core.validators import MaxLengthValidator, MaxValueValidator, MinLengthValidator, MinValueValidator
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict

NO_NUL = r"^[^\x00]*$"
INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges
BIGINT_MAX = INTEGER_RANGES["BigAutoField"][1]


def _without_nul(value: Any) -> Any:
    """The JSON value unchanged, or an error when any text in it holds a NUL character."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("Text may not contain a NUL character.")
    items = [*value, *value.values()] if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        _without_nul(item)
    return value


def _iso(pattern: str, example: str) -> BeforeValidator:
    """Accept a date or time only as ISO 8601 text: pydantic alone would read a number as a Unix timestamp."""
    form = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, str) and not form.match(value):
            raise ValueError(f"Give an ISO 8601 value, e.g. {example}.")
        if isinstance(value, int | float):
            raise ValueError(f"Give an ISO 8601 value, e.g. {example}, not a number.")
        return value

    return BeforeValidator(check)


def _in_utc(value: datetime) -> datetime:
    """The moment in UTC (a time without an offset is read as UTC): PostgreSQL refuses offsets past 15:59."""
    try:
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError("The moment is out of range.") from exc


def _not_a_flag(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Give a number, not true or false.")
    return value


Id = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="A row's id"), BeforeValidator(_not_a_flag)]
# Numbers in a JSON body are JSON numbers: pydantic alone would read true as 1 and "7" as 7.
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Text = Annotated[str, Field(pattern=NO_NUL)]
JsonValue = Annotated[Any, AfterValidator(_without_nul)]
Flag = Annotated[bool, Strict()]  # true or false in a JSON body, not 0, 1 or "yes"
Date = Annotated[date, _iso(r"^\d{4}-\d{2}-\d{2}$", "2026-01-31")]
DateTime = Annotated[
    datetime, _iso(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", "2026-01-31T09:30:00Z"), AfterValidator(_in_utc)
]


def column_limits(field: models.Field) -> dict[str, Any]:
    """The limits of one model field as pydantic `Field` arguments."""
    if field.is_relation:
        return {"ge": 1, "le": BIGINT_MAX}
    limits: dict[str, Any] = {}
    if isinstance(field, models.CharField | models.TextField):
        limits["pattern"] = NO_NUL
        if field.max_length:
            limits["max_length"] = field.max_length
    bounds = INTEGER_RANGES.get(field.get_internal_type())
    if bounds is not None:
        limits["ge"], limits["le"] = bounds
    if isinstance(field, models.DecimalField):
        limits.update(max_digits=field.max_digits, decimal_places=field.decimal_places)
    if isinstance(field, models.FloatField):
        limits["allow_inf_nan"] = False
    for validator in field._validators:  # type: ignore[attr-defined]  # the column's own, not the database's
        if isinstance(validator, MinValueValidator):
            limits["ge"] = max(validator.limit_value, limits.get("ge", validator.limit_value))
        elif isinstance(validator, MaxValueValidator):
            limits["le"] = min(validator.limit_value, limits.get("le", validator.limit_value))
        elif isinstance(validator, MinLengthValidator):
            limits["min_length"] = validator.limit_value
        elif isinstance(validator, MaxLengthValidator):
            limits["max_length"] = min(validator.limit_value, limits.get("max_length", validator.limit_value))
    return limits


def column(model: type[models.Model], name: str, default: Any = ..., **overrides: Any) -> Any:
    """A request field limited like `model`'s column `name`; `overrides` tighten or describe it.

    A `default` of None on a non-optional annotation makes a field that may be left out but is never null: the way
    a partial update (PATCH) leaves a column unchanged.
    """
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return Field(default, **{**column_limits(field), **overrides})


def omittable(**limits: Any) -> Any:
    """A field a partial update (PATCH) may leave out, but that is never null when sent."""
    return Field(None, **limits)


class Body(Schema):
    """A request body. A key it does not name is refused (422 naming the key), not dropped: a misspelt field
    would otherwise look saved."""

    model_config = ConfigDict(extra="forbid")
