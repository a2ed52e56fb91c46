"""What the conversion model learns from: per lead, facts the CRM holds about its first WINDOW_DAYS (firmographics,
persona, source and channel; counts and recency of each kind of event; session depth, pricing and demo pages;
sales activities, their outcomes and when sales first and last worked the lead; deals opened), built set-based in
SQL, and the words that explain each one.

Nothing here reads how a lead's story ended (lifecycle stage, a deal's stage or close, lost reasons): those are
what the model predicts. A lead older than the window is seen as it was at the window's end, so leads with a known
outcome and open leads are described the same way.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, FloatField, Model, TextField
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from leadflow.engagement.models import Event, EventType
from leadflow.history import chunks, days_between, most_or_all, qualified_column
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Activity, ActivityKind, Opportunity

WINDOW_DAYS = 30
MISSING = float("nan")

# The categorical facts: (feature name, label, ORM path from Lead).
CATEGORIES = [
    ("source", "Lead source", "source"),
    ("first_touch_channel", "First-touch channel", "first_touch_channel"),
    ("industry", "Industry", "contact__account__industry"),
    ("region", "Region", "contact__account__region"),
    ("country", "Country", "contact__account__country"),
    ("employee_band", "Employee band", "contact__account__employee_band"),
    ("revenue_band", "Revenue band", "contact__account__revenue_band"),
    ("process_maturity", "Process maturity", "contact__account__attributes__process_maturity_band"),
    ("seniority", "Seniority", "contact__seniority"),
    ("role_function", "Role / function", "contact__role_function"),
    ("buyer_role", "Buyer role", "contact__attributes__buyer_role"),
    ("email_domain_type", "Email domain", "contact__attributes__email_domain_type"),
    ("owner", "Owner", "owner__username"),
]
CATEGORY_LABELS = {name: label for name, label, _ in CATEGORIES}
SESSION_NUMBERS = [
    ("page_views", "pages viewed"),
    ("pricing_page_views", "pricing pages viewed in sessions"),
    ("demo_page_views", "demo pages viewed in sessions"),
    ("session_duration_seconds", "seconds on the site"),
]
MIN_CATEGORY_COUNT = 20  # a category value seen fewer times than this is treated as unknown
OUTCOMES_KEPT = 12  # the most frequent activity outcomes each get a count of their own


@dataclass(frozen=True)
class Feature:
    name: str
    topic: str  # features explained together ("event:call": how many calls and when the last was)


@dataclass
class FeatureTable:
    """Rows of features for some leads: `values[i]` belongs to `lead_ids[i]`, in the order of `names`."""

    lead_ids: list[int]
    names: list[str]
    topics: list[str]
    vocabularies: dict[str, list[str]]  # each category's values, coded by their place
    values: np.ndarray
    observed: np.ndarray  # how many days of each lead's life the row describes (WINDOW_DAYS, or its age)


def feature_spec(outcomes: Sequence[str]) -> list[Feature]:
    """The model's columns, given the activity outcomes it counts."""
    features = [Feature(name, name) for name, _, _ in CATEGORIES]
    for event_type in EventType.values:
        features += [Feature(f"events:{event_type}", f"event:{event_type}"),
                     Feature(f"days_since:{event_type}", f"event:{event_type}")]  # fmt: skip
    features += [Feature(f"session:{name}", f"session:{name}") for name, _ in SESSION_NUMBERS]
    features += [Feature(name, name) for name in ("touches:inbound", "touches:outbound", "events:first_week",
                                                  "events:last_week")]  # fmt: skip
    for kind in ActivityKind.values:
        features += [Feature(f"activities:{kind}", f"activities:{kind}"),
                     Feature(f"days_since_activity:{kind}", f"activities:{kind}")]  # fmt: skip
    features += [Feature("activities:first_day", "activities"), Feature("days_since_activity", "activities")]
    features += [Feature(f"outcome:{outcome}", f"outcome:{outcome}") for outcome in outcomes]
    features += [Feature("deals:opened", "deals"), Feature("deals:days_to_open", "deals"),
                 Feature("deals:amount", "deals:amount")]  # fmt: skip
    return features


def _json_number(column: str, key: str) -> str:
    if connection.vendor == "sqlite":
        return f"json_extract({column}, '$.{key}')"  # SUM counts text as 0
    return f"(CASE WHEN jsonb_typeof({column} -> '{key}') = 'number' THEN ({column} ->> '{key}')::double precision END)"


def _json_text(column: str, key: str) -> str:
    if connection.vendor == "sqlite":
        return f"json_extract({column}, '$.{key}')"
    return f"({column} ->> '{key}')"


def _window_end(created: str, now: datetime) -> tuple[str, list[Any]]:
    """SQL (and its parameters) for how many days of a lead's life the features look at: WINDOW_DAYS, or its age
    when younger."""
    age = days_between("%s", created)
    return f"(CASE WHEN {age} < {WINDOW_DAYS} THEN {age} ELSE {WINDOW_DAYS} END)", [now, now]


def _where_leads(column: str, ids: list[int] | None) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _event_rows(ids: list[int] | None, now: datetime) -> list[tuple[Any, ...]]:
    """Per lead and event type, over the window: count, days from the last one to the window's end, session sums,
    touches by direction, events in the first and the last week."""
    quote = connection.ops.quote_name
    event, lead = quote(Event._meta.db_table), quote(Lead._meta.db_table)
    day = days_between("e.occurred_at", "l.created_at")
    end, end_params = _window_end("l.created_at", now)
    sums = ", ".join(f"SUM({_json_number('properties', name)})" for name, _ in SESSION_NUMBERS)
    direction = _json_text("e.properties", "direction")
    where, params = _where_leads("e.lead_id", ids)
    sql = f"""
        SELECT lead_id, type, COUNT(*), MIN(end_day - day), {sums},
               SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END),
               SUM(CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END),
               SUM(CASE WHEN day < 7 THEN 1 ELSE 0 END), SUM(CASE WHEN end_day - day <= 7 THEN 1 ELSE 0 END)
        FROM (
            SELECT e.lead_id, e.type, e.properties, {direction} AS direction, {day} AS day, {end} AS end_day
            FROM {event} e JOIN {lead} l ON l.id = e.lead_id
            WHERE e.lead_id IS NOT NULL{where}
        ) AS seen
        WHERE day <= end_day
        GROUP BY lead_id, type
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*end_params, *params])
        return cursor.fetchall()


def _in_window(
    model: type[Model], moment: str, columns: str, ids: list[int] | None, now: datetime, *, by: str = ""
) -> list[tuple[Any, ...]]:
    """Rows of `model` (as `r`) from each lead's window, grouped by lead (and `by`): SELECT r.lead_id, `columns`,
    where `{day}` in `columns` stands for the row's day in the lead's life (`moment` is its timestamp)."""
    quote = connection.ops.quote_name
    table, lead = quote(model._meta.db_table), quote(Lead._meta.db_table)
    day = days_between(moment, "l.created_at")
    where, params = _where_leads("r.lead_id", ids)
    end, end_params = _window_end("l.created_at", now)
    sql = f"""
        SELECT r.lead_id, {columns.format(day=day)}
        FROM {table} r JOIN {lead} l ON l.id = r.lead_id
        WHERE {day} <= {end}{where}
        GROUP BY r.lead_id{by}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*end_params, *params])
        return cursor.fetchall()


def _activity_rows(ids: list[int] | None, now: datetime) -> list[tuple[Any, ...]]:
    """Per lead, activity kind and outcome: how many sales activities in the window, the days of the first and the
    last."""
    moment = "COALESCE(r.done_at, r.due_at, r.created_at)"
    columns = "r.kind, r.outcome, COUNT(*), MIN({day}), MAX({day})"
    return _in_window(Activity, moment, columns, ids, now, by=", r.kind, r.outcome")


def _deal_rows(ids: list[int] | None, now: datetime) -> list[tuple[Any, ...]]:
    """Per lead, the deals opened in the window: how many, how soon the first, the largest amount. Nothing about
    how they closed: that is the outcome (and a bundle without close dates has its deals close when they open)."""
    return _in_window(Opportunity, "r.created_at", "COUNT(*), MIN({day}), MAX(r.amount)", ids, now)


def lead_categories(ids: list[int] | None, now: datetime) -> list[tuple[Any, ...]]:
    """Per lead: its id, its age in days at `now`, then its categorical facts in the order of CATEGORIES, as text
    (None when unknown)."""
    leads = Lead.objects.all() if ids is None else Lead.objects.filter(pk__in=ids)
    annotations = {
        f"f_{name}": Cast(KeyTextTransform(path.rsplit("__", 1)[1], path.rsplit("__", 1)[0]), TextField())
        for name, _, path in CATEGORIES
        if "__attributes__" in path
    }
    paths = [path if "__attributes__" not in path else f"f_{name}" for name, _, path in CATEGORIES]
    age = RawSQL(days_between("%s", qualified_column(Lead, "created_at")), (now,), output_field=FloatField())
    return list(leads.annotate(age=age, **annotations).values_list("pk", "age", *paths).iterator(chunk_size=5000))


def activity_outcomes(limit: int = OUTCOMES_KEPT) -> list[str]:
    """The most frequent activity outcomes (each becomes a count of its own)."""
    ranked = Activity.objects.exclude(outcome="").values("outcome").annotate(n=Count("pk")).order_by("-n", "outcome")
    return [row["outcome"] for row in ranked[:limit]]


def _vocabularies(columns: dict[str, list[str | None]]) -> dict[str, list[str]]:
    """Each category's values seen often enough to learn from (rarer ones count as missing), most frequent first."""
    vocabularies = {}
    for name, values in columns.items():
        seen = Counter(value for value in values if value)
        vocabularies[name] = [value for value, count in seen.most_common() if count >= MIN_CATEGORY_COUNT]
    return vocabularies


def _accumulate(
    values: np.ndarray,
    column: dict[str, int],
    rows: np.ndarray,
    prefix: str,
    keys: list[str],
    numbers: np.ndarray,
    ufunc: Any,
) -> None:
    """Fold `numbers` into the cells (rows[i], column `prefix` + keys[i]) with `ufunc` (np.add, np.fmin…); keys
    without a column are skipped."""
    place_of = {key: column.get(prefix + key, -1) for key in set(keys)}
    places = np.fromiter((place_of[key] for key in keys), dtype=int, count=len(keys))
    known = places >= 0
    ufunc.at(values, (rows[known], places[known]), numbers[known])


def build_features(
    ids: Sequence[int] | None,
    *,
    now: datetime,
    outcomes: Sequence[str],
    vocabularies: dict[str, list[str]] | None = None,
) -> FeatureTable:
    """The features of these leads (every lead when None) as of `now`. Categories are coded by their place in
    `vocabularies` (a value not in it is missing); without them, they are learnt from these leads."""
    spec = feature_spec(outcomes)
    names = [feature.name for feature in spec]
    column = {name: place for place, name in enumerate(names)}
    every = most_or_all(Lead, list(ids) if ids is not None else None)  # most leads: one pass over every table
    parts = [None] if every is None else list(chunks(every))
    leads, events, activities, deals = [], [], [], []
    for part in parts:
        leads += lead_categories(part, now)
        events += _event_rows(part, now)
        activities += _activity_rows(part, now)
        deals += _deal_rows(part, now)
    if ids is not None:
        wanted = set(ids)
        leads = [lead for lead in leads if lead[0] in wanted]
    leads.sort(key=lambda lead: lead[0])
    lead_ids = [lead[0] for lead in leads]
    facts = {name: [lead[place] for lead in leads] for place, (name, _, _) in enumerate(CATEGORIES, start=2)}
    if vocabularies is None:
        vocabularies = _vocabularies(facts)
    row_of = {lead: place for place, lead in enumerate(lead_ids)}
    values = np.zeros((len(lead_ids), len(names)))
    for name in names:
        if name.startswith(("days_since", "activities:first_day", "deals:days", "deals:amount")):
            values[:, column[name]] = MISSING
    observed = np.clip(np.array([lead[1] for lead in leads], dtype=float), 0.0, WINDOW_DAYS)
    for name, known in vocabularies.items():
        codes = {value: float(code) for code, value in enumerate(known)}
        values[:, column[name]] = [codes.get(value, MISSING) for value in facts[name]]
    events = [row for row in events if row[0] in row_of]
    if events:
        rows = np.array([row_of[row[0]] for row in events])
        numbers = np.nan_to_num(np.array([row[2:] for row in events], dtype=float), nan=0.0)
        types = [row[1] for row in events]
        _accumulate(values, column, rows, "events:", types, numbers[:, 0], np.add)
        _accumulate(values, column, rows, "days_since:", types, np.maximum(numbers[:, 1], 0.0), np.fmin)
        summed = [f"session:{name}" for name, _ in SESSION_NUMBERS]
        summed += ["touches:inbound", "touches:outbound", "events:first_week", "events:last_week"]
        for offset, name in enumerate(summed, start=2):
            np.add.at(values[:, column[name]], rows, numbers[:, offset])
    activities = [row for row in activities if row[0] in row_of]
    if activities:
        rows = np.array([row_of[row[0]] for row in activities])
        counts, first, last = (np.array([row[place] for row in activities], dtype=float) for place in (3, 4, 5))
        kinds = [row[1] for row in activities]
        since = np.maximum(observed[rows] - last, 0.0)
        _accumulate(values, column, rows, "activities:", kinds, counts, np.add)
        _accumulate(values, column, rows, "outcome:", [row[2] for row in activities], counts, np.add)
        _accumulate(values, column, rows, "days_since_activity:", kinds, since, np.fmin)
        np.fmin.at(values[:, column["days_since_activity"]], rows, since)
        np.fmin.at(values[:, column["activities:first_day"]], rows, np.maximum(first, 0.0))
    for lead, count, first_day, amount in deals:
        if lead in row_of:
            row = values[row_of[lead]]
            row[column["deals:opened"]] = count
            row[column["deals:days_to_open"]] = max(0.0, float(first_day))
            row[column["deals:amount"]] = float(amount) if amount is not None else MISSING
    return FeatureTable(
        lead_ids=lead_ids,
        names=names,
        topics=[feature.topic for feature in spec],
        vocabularies=vocabularies,
        values=values,
        observed=observed,
    )


def model_features(ids: Sequence[int] | None, *, now: datetime, spec: dict[str, Any]) -> FeatureTable:
    """The features of these leads as a trained model reads them: its spec's outcomes and vocabularies, and only
    the columns it was trained on, in their order (a model trained before a feature was added keeps serving)."""
    table = build_features(ids, now=now, outcomes=spec["outcomes"], vocabularies=spec["vocabularies"])
    if spec["names"] == table.names:
        return table
    places = [table.names.index(name) for name in spec["names"]]
    return replace(
        table,
        names=list(spec["names"]),
        topics=[table.topics[place] for place in places],
        values=table.values[:, places],
    )


def _plural(count: float, one: str, many: str) -> str:
    return f"{'No' if not count else f'{count:,.0f}'} {one if count == 1 else many}"


def explain(topic: str, facts: dict[str, float], vocabularies: dict[str, list[str]], observed: float) -> str:
    """A topic's facts for one lead in words a rep reads ("3 pricing page views, the last on day 12"), given how
    many days of its life the facts cover."""
    kind, _, name = topic.partition(":")
    if topic in CATEGORY_LABELS:
        code, label = facts[topic], CATEGORY_LABELS[topic]
        value = vocabularies[topic][int(code)] if code == code and int(code) < len(vocabularies[topic]) else ""
        return f"{label}: {value.replace('_', ' ')}" if value else f"{label} unknown"
    if kind == "event":
        label = EventType(name).label.lower()
        count, since = facts[f"events:{name}"], facts[f"days_since:{name}"]
        if not count:
            return _plural(count, label, label + "s")
        return f"{_plural(count, label, label + 's')}, the last on day {max(0.0, observed - since):.0f}"
    if kind == "session":
        label = dict(SESSION_NUMBERS)[name]
        if name == "session_duration_seconds":
            return f"{facts[topic] / 60:,.0f} minutes on the site"
        return _plural(facts[topic], label, label)
    if kind == "touches":
        return _plural(facts[topic], f"{name} touch", f"{name} touches")
    if topic == "events:first_week":
        return f"{_plural(facts[topic], 'event', 'events')} in its first week"
    if topic == "events:last_week":
        return f"{_plural(facts[topic], 'event', 'events')} in the week up to day {observed:.0f}"
    if topic == "activities":
        first, since = facts["activities:first_day"], facts["days_since_activity"]
        if first != first:
            return "No sales activity"
        return f"Sales first worked it on day {first:.0f}, the last time on day {max(0.0, observed - since):.0f}"
    if kind == "activities":
        label = ActivityKind(name).label.lower()
        logged = f"{_plural(facts[topic], f'{label} logged', f'{label}s logged')} by sales"
        since = facts.get(f"days_since_activity:{name}", MISSING)  # a model trained before it came lacks it
        return logged if since != since else f"{logged}, the last on day {max(0.0, observed - since):.0f}"
    if kind == "outcome":
        return f"{_plural(facts[topic], 'activity', 'activities')} with outcome “{name.replace('_', ' ')}”"
    if topic == "deals":
        if not facts["deals:opened"]:
            return f"No opportunity in its first {WINDOW_DAYS} days"
        return f"Opportunity opened on day {facts['deals:days_to_open']:.0f}"
    if topic == "deals:amount":
        amount = facts[topic]
        return f"Deal size {amount:,.0f}" if amount == amount else "No deal size"
    return topic


def topic_label(topic: str) -> str:
    """What a topic is about, for the model page ("Calls: how many, how recent")."""
    kind, _, name = topic.partition(":")
    if topic in CATEGORY_LABELS:
        return CATEGORY_LABELS[topic]
    if kind == "event":
        return f"{EventType(name).label}s: how many, how recent"
    if kind == "session":
        return dict(SESSION_NUMBERS)[name].capitalize()
    if topic == "activities":
        return "When sales first and last worked the lead"
    if kind == "activities":
        return f"{ActivityKind(name).label}s logged by sales: how many, how recent"
    if kind == "outcome":
        return f"Activities with outcome “{name.replace('_', ' ')}”"
    return {
        "touches:inbound": "Inbound touches",
        "touches:outbound": "Outbound touches",
        "events:first_week": "Events in the first week",
        "events:last_week": "Events in the latest week",
        "deals": "Opportunity opened, and how soon",
        "deals:amount": "Deal size",
    }.get(topic, topic)
