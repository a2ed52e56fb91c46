"""Segment conditions: checked when saved, turned into one SQL filter over leads when used.

A condition is a dict. Field conditions: {"field": F, "op": OP, "value": V} with
- choice fields (lifecycle_stage, source, seniority, industry, employee_band, region, country): op "in" / "not_in",
  value a list;
- text fields (job_title, role_function, email): op "contains", value a text;
- numbers (score, fit, icp_match): op "gte" / "lte", value a number;
- email_opt_in: op "is", value true/false;
- inactive_days: op "gte", value N — no activity for N days (or never);
- created_days: op "lte", value N — captured within the last N days.
Event conditions: {"field": "event", "type": EVENT TYPE, "op": "at_least" | "none", "value": K (at_least),
"within_days": N (optional), "property": P, "contains": TEXT (optional)} — "visited pricing in the last 14 days" is
{"field": "event", "type": "pricing_page_view", "op": "at_least", "value": 1, "within_days": 14}.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import GreaterThanOrEqual

from leadflow.accounts.models import EmployeeBand, Seniority
from leadflow.engagement.models import Event, EventType
from leadflow.errors import InvalidInput
from leadflow.leads.models import Lead, LeadSource, LifecycleStage

CHOICES: dict[str, tuple[str, list[str] | None]] = {
    "lifecycle_stage": ("lifecycle_stage", LifecycleStage.values),
    "source": ("source", LeadSource.values),
    "seniority": ("contact__seniority", Seniority.values),
    "industry": ("contact__account__industry", None),
    "employee_band": ("contact__account__employee_band", EmployeeBand.values),
    "region": ("contact__account__region", None),
    "country": ("contact__account__country", None),
}
TEXTS = {"job_title": "contact__job_title", "role_function": "contact__role_function", "email": "contact__email"}
NUMBERS = {"score": "score__total", "fit": "score__fit", "icp_match": "score__icp_match"}
FIELDS = [*CHOICES, *TEXTS, *NUMBERS, "email_opt_in", "inactive_days", "created_days", "event"]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput.on(where, "Must be a number.")
    return float(value)


def _days(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput.on(where, "Must be a whole number of days, 0 or more.")
    return value


def clean_conditions(conditions: Any) -> list[dict[str, Any]]:
    """The conditions if each is well formed, else an error naming the condition and its key."""
    if not isinstance(conditions, list):
        raise InvalidInput.on("conditions", "Must be a list of conditions.")
    for index, condition in enumerate(conditions):
        where = f"conditions[{index}]"
        if not isinstance(condition, dict) or condition.get("field") not in FIELDS:
            raise InvalidInput.on(f"{where}.field", f"Must be one of: {', '.join(FIELDS)}.")
        field, op, value = condition["field"], condition.get("op"), condition.get("value")
        if field in CHOICES:
            allowed = CHOICES[field][1]
            if op not in ("in", "not_in"):
                raise InvalidInput.on(f"{where}.op", "Must be in or not_in.")
            if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
                raise InvalidInput.on(f"{where}.value", "Must be a list of one or more texts.")
            if allowed is not None and (wrong := [item for item in value if item not in allowed]):
                raise InvalidInput.on(f"{where}.value", f"{wrong[0]!r} is not one of: {', '.join(allowed)}.")
        elif field in TEXTS:
            if op != "contains" or not isinstance(value, str) or not value.strip():
                raise InvalidInput.on(f"{where}.value", "Give op contains and a text.")
        elif field in NUMBERS:
            if op not in ("gte", "lte"):
                raise InvalidInput.on(f"{where}.op", "Must be gte or lte.")
            _number(value, f"{where}.value")
        elif field == "email_opt_in":
            if op != "is" or not isinstance(value, bool):
                raise InvalidInput.on(f"{where}.value", "Give op is and true or false.")
        elif field in ("inactive_days", "created_days"):
            _days(value, f"{where}.value")
        else:
            if condition.get("type") not in EventType.values:
                raise InvalidInput.on(f"{where}.type", f"Must be one of: {', '.join(EventType.values)}.")
            if op not in ("at_least", "none"):
                raise InvalidInput.on(f"{where}.op", "Must be at_least or none.")
            if op == "at_least" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidInput.on(f"{where}.value", "Must be a whole number of times, at least 1.")
            if condition.get("within_days") is not None:
                _days(condition["within_days"], f"{where}.within_days")
            if bool(condition.get("property")) != bool(condition.get("contains")):
                raise InvalidInput.on(f"{where}.contains", "Give both the property and the text it contains.")
    return conditions


def _events(condition: dict[str, Any], at: datetime) -> QuerySet[Event]:
    events = Event.objects.filter(lead=OuterRef("pk"), type=condition["type"])
    if condition.get("within_days") is not None:
        events = events.filter(occurred_at__gte=at - timedelta(days=condition["within_days"]))
    if condition.get("property"):
        events = events.annotate(_value=KeyTextTransform(condition["property"], "properties")).filter(
            _value__icontains=condition["contains"]
        )
    return events


def condition_filter(condition: dict[str, Any], at: datetime) -> Q:
    """One condition as a filter on leads, as of `at`."""
    field, op, value = condition["field"], condition.get("op"), condition.get("value", 0)
    if field in CHOICES:
        matched = Q(**{f"{CHOICES[field][0]}__in": value})
        return ~matched if op == "not_in" else matched
    if field in TEXTS:
        return Q(**{f"{TEXTS[field]}__icontains": str(value).strip()})
    if field in NUMBERS:
        return Q(**{f"{NUMBERS[field]}__{op}": value})
    if field == "email_opt_in":
        return Q(contact__email_opt_in=value)
    if field == "inactive_days":
        return Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=at - timedelta(days=value))
    if field == "created_days":
        return Q(created_at__gte=at - timedelta(days=value))
    events = _events(condition, at)
    if op == "none":
        return Q(~Exists(events))
    if value == 1:
        return Q(Exists(events))
    counted = events.order_by().values("lead").annotate(n=Count("pk")).values("n")
    return Q(GreaterThanOrEqual(Subquery(counted), value))


def leads_matching(conditions: list[dict[str, Any]], match: str, at: datetime) -> QuerySet[Lead]:
    """Every lead that meets all the conditions (`match` "all") or any one ("any"), as of `at`."""
    filters = [condition_filter(condition, at) for condition in conditions]
    if not filters:
        return Lead.objects.all()
    combined = filters[0]
    for extra in filters[1:]:
        combined = combined & extra if match == "all" else combined | extra
    return Lead.objects.filter(combined)
