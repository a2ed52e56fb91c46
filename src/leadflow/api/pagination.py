"""Limit/offset pages: every list answers with its items, the total and the window it shows."""

from typing import Any

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import create_model

MAX_LIMIT = 200
MAX_OFFSET = 2**31 - 1  # far past any list; a larger offset overflows the database's integer


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"Rows per page, 1–{MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Rows to skip")


def page_of(item: type[Schema]) -> type[Schema]:
    """The response schema of a page of `item`."""
    return create_model(
        f"{item.__name__}Page",
        __base__=Schema,
        items=(list[item], ...),  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )


def paginate(rows: QuerySet, page: PageParams) -> dict[str, Any]:
    return {
        "items": list(rows[page.offset : page.offset + page.limit]),
        "total": rows.count(),
        "limit": page.limit,
        "offset": page.offset,
    }
