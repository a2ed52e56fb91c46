"""Engagement events: batch ingestion, idempotent by each event's external id, and the list of what happened."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import BaseModel, ConfigDict

from leadflow.engagement import selectors
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import MAX_BATCH, EventIn, ingest_events

from .auth import current_user
from .columns import DateTime, Id, Text, column
from .pagination import PageParams, page_of, paginate

router = Router(tags=["events"])


# The batch and its answer are plain pydantic models: ninja's Schema runs a wrapping validator (made for reading
# Django objects) on every item, a tenth of the time of a thousand-event batch in a profile.
class EventItem(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as every request body (columns.Body)

    type: Text = column(
        Event, "type", description="page_visit, pricing_page_view, demo_request, form_submission, email_open, …"
    )
    occurred_at: DateTime
    lead_id: Id | None = None
    email: Text | None = Field(None, max_length=254)
    lead_external_id: Text | None = Field(None, max_length=100)
    properties: dict[str, Any] = Field(default_factory=dict)
    source: Text = Field("api", max_length=50)
    external_id: Text | None = Field(None, max_length=100, description="Makes a retried event count once")


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventItem] = Field(..., min_length=1, max_length=MAX_BATCH)


class EventResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    index: int
    status: str
    id: int | None
    field: str | None
    message: str


class EventBatchOut(BaseModel):
    created: int
    duplicates: int
    errors: int
    results: list[EventResultOut]


class EventOut(Schema):
    id: int
    type: str
    occurred_at: datetime
    lead_id: int | None
    contact_id: int | None
    properties: dict[str, Any]
    source: str
    external_id: str | None


@router.post("/events", response=EventBatchOut)
def post_events(request: HttpRequest, payload: EventBatch) -> dict:
    """Record up to 1,000 events; each names its person by lead id, contact email or lead external id."""
    items = [EventIn(**item.model_dump()) for item in payload.events]
    results = ingest_events(items, by=current_user(request))
    return {
        "created": sum(r.status == "created" for r in results),
        "duplicates": sum(r.status == "duplicate" for r in results),
        "errors": sum(r.status == "error" for r in results),
        "results": results,
    }


@router.get("/events", response=page_of(EventOut))
def list_events(
    request: HttpRequest,
    page: Query[PageParams],
    lead_id: Id | None = None,
    contact_id: Id | None = None,
    type: EventType | None = None,
    since: DateTime | None = None,
) -> dict:
    """Events on the leads the caller may see, newest first."""
    events = selectors.event_list(
        current_user(request), lead_id=lead_id, contact_id=contact_id, event_type=type, since=since
    )
    return paginate(events, page)
