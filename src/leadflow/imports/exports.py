"""CSV export of any filtered list (leads, contacts, accounts, opportunities), streamed row by row."""

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from leadflow.accounts.selectors import account_list, contact_list
from leadflow.leads.selectors import lead_list
from leadflow.pipeline.selectors import can_see_amounts, opportunity_list
from leadflow.users.models import User

from .cells import to_cell

Column = tuple[str, Callable[[Any], Any]]

LEAD_COLUMNS: list[Column] = [
    ("id", lambda lead: lead.pk),
    ("external_id", lambda lead: lead.external_id or ""),
    ("email", lambda lead: lead.contact.email or ""),
    ("first_name", lambda lead: lead.contact.first_name),
    ("last_name", lambda lead: lead.contact.last_name),
    ("job_title", lambda lead: lead.contact.job_title),
    ("company", lambda lead: lead.contact.account.name if lead.contact.account else lead.company_name),
    ("lifecycle_stage", lambda lead: lead.lifecycle_stage),
    ("source", lambda lead: lead.source),
    ("first_touch_channel", lambda lead: lead.first_touch_channel),
    ("utm_campaign", lambda lead: lead.utm_campaign),
    ("owner", lambda lead: lead.owner.username if lead.owner else ""),
    ("team", lambda lead: lead.team.name if lead.team else ""),
    ("budget_amount", lambda lead: lead.budget_amount if lead.budget_amount is not None else ""),
    ("authority", lambda lead: lead.authority),
    ("timing_target_date", lambda lead: lead.timing_target_date or ""),
    ("created_at", lambda lead: lead.created_at.isoformat()),
    ("last_activity_at", lambda lead: lead.last_activity_at.isoformat() if lead.last_activity_at else ""),
]
CONTACT_COLUMNS: list[Column] = [
    ("id", lambda c: c.pk),
    ("external_id", lambda c: c.external_id or ""),
    ("email", lambda c: c.email or ""),
    ("first_name", lambda c: c.first_name),
    ("last_name", lambda c: c.last_name),
    ("phone", lambda c: c.phone),
    ("job_title", lambda c: c.job_title),
    ("seniority", lambda c: c.seniority),
    ("account", lambda c: c.account.name if c.account else ""),
    ("email_opt_in", lambda c: c.email_opt_in),
    ("do_not_contact", lambda c: c.do_not_contact),
]
ACCOUNT_COLUMNS: list[Column] = [
    ("id", lambda a: a.pk),
    ("external_id", lambda a: a.external_id or ""),
    ("name", lambda a: a.name),
    ("domain", lambda a: a.domain or ""),
    ("industry", lambda a: a.industry),
    ("employee_band", lambda a: a.employee_band),
    ("revenue_band", lambda a: a.revenue_band),
    ("region", lambda a: a.region),
    ("country", lambda a: a.country),
]
OPPORTUNITY_COLUMNS: list[Column] = [
    ("id", lambda o: o.pk),
    ("external_id", lambda o: o.external_id or ""),
    ("name", lambda o: o.name),
    ("account", lambda o: o.account.name if o.account else ""),
    ("stage", lambda o: o.stage.name),
    ("amount", lambda o: o.amount),
    ("currency", lambda o: o.currency),
    ("probability", lambda o: o.probability),
    ("expected_close_date", lambda o: o.expected_close_date or ""),
    ("owner", lambda o: o.owner.username if o.owner else ""),
    ("created_at", lambda o: o.created_at.isoformat()),
    ("closed_at", lambda o: o.closed_at.isoformat() if o.closed_at else ""),
    ("lost_reason", lambda o: o.lost_reason.name if o.lost_reason else ""),
]
KINDS = ("leads", "contacts", "accounts", "opportunities")


def export_rows(kind: str, user: User, filters: dict[str, Any]) -> tuple[list[Column], QuerySet]:
    """The columns and the rows of one kind of list, as the user may see them, with the list's own filters."""
    if kind == "leads":
        return LEAD_COLUMNS, lead_list(user, **filters).select_related("team")
    if kind == "contacts":
        return CONTACT_COLUMNS, contact_list(**filters)
    if kind == "accounts":
        return ACCOUNT_COLUMNS, account_list(**filters)
    if kind == "opportunities":
        columns = OPPORTUNITY_COLUMNS if can_see_amounts(user) else [c for c in OPPORTUNITY_COLUMNS if c[0] != "amount"]
        return columns, opportunity_list(user, **filters)
    raise ValueError(f"Unknown list {kind!r}; choose one of {', '.join(KINDS)}.")


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(columns: list[Column], rows: Iterable[Any]) -> Iterator[str]:
    """The CSV text, a line at a time (for streaming responses and files alike), spreadsheet-safe."""
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in columns])
    for row in rows:
        yield writer.writerow([to_cell(value(row)) for _, value in columns])


def iterate(rows: QuerySet) -> Iterator[Any]:
    """Walk a large queryset in chunks without caching it."""
    return rows.iterator(chunk_size=2000)
