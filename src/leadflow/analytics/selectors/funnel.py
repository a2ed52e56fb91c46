"""The funnel: leads reaching each lifecycle stage and the conversion between stages."""

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateField,
    Field,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from leadflow.leads.lifecycle import FORWARD
from leadflow.leads.models import Lead
from leadflow.users.models import Team, User

from .scope import Scope, _ratio

DIMENSIONS = {
    "source": "source",
    "channel": "first_touch_channel",
    "campaign": "utm_campaign",
    "owner": "owner",
    "team": "team",
    "cohort": "cohort",
}


def _bisect(lookup: str, boundaries: list[Any], values: list[Any], output_field: Field) -> Case | Value:
    """values[i] for the rows that meet `lookup` (say "created_at__lt") at boundaries[i] but not at boundaries[i - 1];
    the last value for those that meet it at none. CASEs nested into a binary search: the database makes a few
    comparisons per row instead of one per boundary (or a date function call)."""

    def search(first: int, stop: int) -> Case | Value:
        if stop - first == 1:
            return Value(values[first], output_field=output_field)
        middle = (first + stop) // 2
        return Case(When(**{lookup: boundaries[middle - 1]}, then=search(first, middle)), default=search(middle, stop))

    return search(0, len(values))


def _creation_month(leads: QuerySet[Lead]) -> Case | Value:
    """The month (first day, local time) each lead was created in, searched for over the months the leads span."""
    by_creation = leads.order_by("created_at").values_list("created_at", flat=True)  # two index probes
    first, last_at = by_creation.first(), by_creation.last()
    if first is None or last_at is None:
        return Value(None, output_field=DateField())
    month = timezone.localtime(first).date().replace(day=1)
    last = timezone.localtime(last_at).date()
    months = []
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    starts = [timezone.make_aware(datetime.combine(month, datetime.min.time())) for month in months[1:]]
    return _bisect("created_at__lt", starts, months, DateField())


_NAME = {"owner": "username", "team": "name"}


def funnel(scope: Scope, *, by: str | None = None) -> list[dict[str, Any]]:
    """Leads reaching each lifecycle stage and the stage-to-stage conversion, optionally per dimension
    (source, channel, campaign, owner, team, cohort = creation month)."""
    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {by!r}; choose one of {', '.join(DIMENSIONS)}.")
    leads = scope.leads().filter(furthest_stage__in=FORWARD)
    if by == "cohort":
        leads = leads.annotate(cohort=_creation_month(leads))
    # Without a dimension the leads are still grouped by source: the (source, furthest stage) index serves it.
    group = DIMENSIONS[by] if by else "source"
    rows = leads.values(group, "furthest_stage").annotate(n=Count("*")).order_by()
    # Count per group how many leads got at least as far as each stage (a skipped step counts as passed).
    table: dict[Any, list[int]] = defaultdict(lambda: [0] * len(FORWARD))
    for row in rows:
        counts = table[row[group] if by else "all"]
        for index in range(FORWARD.index(row["furthest_stage"]) + 1):
            counts[index] += row["n"]
    if by in ("owner", "team"):  # grouped by id (the index has it), named here
        model = User if by == "owner" else Team
        names = dict(model._default_manager.filter(pk__in=[pk for pk in table if pk]).values_list("pk", _NAME[by]))
        table = defaultdict(lambda: [0] * len(FORWARD), {names.get(pk, ""): counts for pk, counts in table.items()})
    result = []
    for group, counts in sorted(table.items(), key=lambda item: str(item[0])):
        reached = {str(stage): counts[i] for i, stage in enumerate(FORWARD)}
        entry: dict[str, Any] = {"group": group.isoformat()[:7] if hasattr(group, "isoformat") else group or "—"}
        entry.update(reached)
        for earlier, later in pairwise(FORWARD):
            entry[f"{earlier}_to_{later}"] = _ratio(reached[later], reached[earlier])
        result.append(entry)
    return result
