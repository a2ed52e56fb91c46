"""The leadforge preset: a whole CRM export bundle (accounts, contacts, leads, opportunities, touches, sessions,
sales activities, customers) imported set-based, fast and idempotently (rows whose external id is known are
skipped).

Mapping decisions (the bundle has no names or emails; the display falls back to external ids):
- lead_source inbound_marketing / sdr_outbound / partner_referral → inbound_marketing / outbound_prospecting /
  referral_partner; owner_rep_id → a sales user of that name in team "Imported", created on first sight.
- Lifecycle history: captured at lead_created_at; a sales-qualified lead (is_sql) becomes a prospect and a lead
  with an opportunity an opportunity, both when the deal opens; a won deal makes a customer when it closes; a lead
  closed lost without a deal is disqualified. Nothing is invented beyond those steps.
- Deal stages: sql → Prospecting, demo_scheduled / demo_completed → Qualification, proposal_sent → Proposal,
  negotiation → Negotiation, closed_won / closed_lost → the closed stages. Every deal opens in the first stage at
  its created_at and moves forward one stage at a time to where the bundle has it, the moves spread evenly up to
  its closed_at (a won deal passes every open stage; a lost one closes from the first, as nothing says how far it
  got) or, for an open deal, up to the lead's latest touch, session or activity. A bundle that withholds closed_at
  has its closed deals close when they open.
- Touches and sessions become engagement events; sales activities become done activities; a customer row names the
  won deal it came from, and its account's attributes record the customer id and start date.
"""

import csv
import gzip
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from leadflow.accounts.models import Account, Contact
from leadflow.bulk import (
    BATCH,
    database_datetime,
    drawn_aside,
    first_load,
    ids_by_external_id,
    insert_rows,
    parse_datetime,
    stored_datetime,
    stored_json,
    update_rows,
    worked_out_aside,
)
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import advance_last_activity
from leadflow.errors import InvalidInput
from leadflow.history import spells_of
from leadflow.leads.lifecycle import FORWARD
from leadflow.leads.models import Lead, LeadSource, LifecycleStage, StageChange
from leadflow.pipeline.models import Activity, LostReason, Opportunity, OpportunityStageChange, Stage
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import refresh_forecast_snapshots, take_forecast_snapshots
from leadflow.users.models import Role, Team, User

from .report import FIRST_ROW, ImportReport, Progress

SOURCES = {
    "inbound_marketing": LeadSource.INBOUND_MARKETING,
    "sdr_outbound": LeadSource.OUTBOUND_PROSPECTING,
    "partner_referral": LeadSource.REFERRAL_PARTNER,
}
STAGES = {
    "sql": "Prospecting",
    "demo_scheduled": "Qualification",
    "demo_completed": "Qualification",
    "proposal_sent": "Proposal",
    "negotiation": "Negotiation",
}
TOUCH_TYPES = {
    "call": EventType.CALL,
    "content_download": EventType.CONTENT_DOWNLOAD,
    "email": EventType.EMAIL_OPEN,
    "webinar": EventType.WEBINAR_ATTENDANCE,
    "linkedin_message": EventType.SOCIAL_INTERACTION,
}
SESSION_TYPES = {"pricing_page": EventType.PRICING_PAGE_VIEW, "demo_page": EventType.PAGE_VISIT}
ACTIVITY_KINDS = {"call", "email", "meeting", "demo"}
# Per table of moments: the columns of its id, its type and its time, and the types it imports.
MOMENTS = {
    "touches": ("touch_id", "touch_type", "touch_timestamp"),
    "sessions": ("session_id", "session_type", "session_timestamp"),
    "sales_activities": ("activity_id", "activity_type", "activity_timestamp"),
}
KINDS: dict[str, Any] = {
    "touches": TOUCH_TYPES,
    "sessions": {*SESSION_TYPES, "website"},
    "sales_activities": ACTIVITY_KINDS,
}
COUNTRIES = {"UK": "GB", "US": "US"}
IMPORTED_LOST_REASON = "Unknown (imported)"
# An event as a table row describes it: its type, when (ISO text), and its properties as (key, value) pairs.
EventFacts = tuple[str, str, tuple[tuple[str, Any], ...]]
REQUIRED = ("accounts", "contacts", "leads", "opportunities")  # the other tables are read when present
TICK = 20000  # rows between progress reports
# The tables an import fills: into an empty CRM, it loads them all and checks them once at the end (`first_load`).
LOADED = (Account, Contact, Lead, Opportunity, StageChange, OpportunityStageChange, Event, Activity)


def table_path(root: Path, name: str) -> Path | None:
    """The bundle's file for a table (.csv or .csv.gz), or None when the bundle has no such table."""
    for candidate in (root / "tables" / f"{name}.csv", root / "tables" / f"{name}.csv.gz"):
        if candidate.exists():
            return candidate
    return None


def _records(path: Path) -> Iterator[list[str]]:
    """A table file's header, then its rows, as lists of text."""
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield from csv.reader(text)


def _rows(path: Path) -> Iterator[dict[str, str]]:
    records = _records(path)
    header = next(records)
    for values in records:
        yield dict(zip(header, values, strict=False))


def _columns(path: Path, names: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The named columns of each row, without building the whole row ("" for a column the file lacks or a short
    row leaves out)."""
    records = _records(path)
    header = next(records)
    places = [header.index(name) if name in header else len(header) for name in names]
    for values in records:
        yield tuple(values[place] if place < len(values) else "" for place in places)


class LeadforgeImport:
    """One run of the leadforge preset over a bundle folder."""

    def __init__(self, root: Path, *, dry_run: bool = False, progress: Progress | None = None) -> None:
        if not (root / "tables").is_dir():
            raise InvalidInput.on("path", f"{root} is not a leadforge bundle (it has no tables/ folder).")
        missing = [name for name in REQUIRED if table_path(root, name) is None]
        if missing:
            raise InvalidInput.on("path", f"The bundle lacks {', '.join(missing)}.")
        self.root = root
        self.report = ImportReport(dry_run=dry_run)
        self.progress = progress or (lambda table, rows: None)
        self.now = database_datetime(timezone.now())

    def run(self) -> ImportReport:
        """Import every table in one transaction (rolled back for a dry run) and report what happened."""
        started = time.perf_counter()
        with first_load(LOADED, rollback=self.report.dry_run):
            self._import_all()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _import_all(self) -> None:
        self.pipeline = default_pipeline()
        stages = list(self.pipeline.stages.order_by("order"))
        self.open_stages = [stage for stage in stages if not stage.is_closed]
        self.stages = {stage.name: stage for stage in stages}
        self.won_stage = next(stage for stage in stages if stage.is_won)
        self.lost_stage = next(stage for stage in stages if stage.is_lost)
        self.reps = dict(User.objects.filter(role=Role.SALES).order_by().values_list("username", "pk"))
        self.rep_teams = dict(User.objects.filter(role=Role.SALES).order_by().values_list("pk", "team_id"))
        self.known_events = {
            table: set(Event.objects.filter(source=f"import:{table}").order_by().values_list("external_id", flat=True))
            for table in ("touches", "sessions")
        }
        self.known_activities = set(
            Activity.objects.exclude(external_id=None).order_by().values_list("external_id", flat=True)
        )
        with worked_out_aside(self._latest_by_lead) as latest:  # read while the people and companies go in
            self._accounts()
            self._contacts()
            opportunities = {row["lead_id"]: row for row in self._read("opportunities")}
            self._leads(opportunities, latest())
        with ExitStack() as ahead:  # the rows that take longest to make are made in helpers meanwhile
            touches = ahead.enter_context(self._events("touches", "touch_id", self._touch))
            sessions = ahead.enter_context(self._events("sessions", "session_id", self._session))
            activities = ahead.enter_context(self._activities())
            self._opportunities(opportunities)
            lead_histories = ahead.enter_context(self._lead_histories(opportunities))
            deal_histories = ahead.enter_context(self._deal_histories())
            for write in (touches, sessions, activities, lead_histories, deal_histories):  # as forked
                write()
        self._last_activity()
        self._customers()

    def _read(self, table: str) -> Iterator[dict[str, str]]:
        path = table_path(self.root, table)
        return _rows(path) if path is not None else iter(())

    def _tick(self, table: str, row: int) -> None:
        if row % TICK == 0:
            self.progress(table, row)

    # --- people and companies -------------------------------------------------------------------------------

    def _rep(self, rep_id: str) -> int | None:
        """The user for a leadforge rep id, created on first sight."""
        if not rep_id:
            return None
        if rep_id not in self.reps:
            team, _ = Team.objects.get_or_create(name="Imported")
            user = User.objects.create(
                username=rep_id, role=Role.SALES, team=team, first_name="Rep", last_name=rep_id.split("_")[-1],
                password=make_password(None),
            )  # fmt: skip
            self.reps[rep_id] = user.pk
            self.rep_teams[user.pk] = team.pk
        return self.reps[rep_id]

    def _accounts(self) -> None:
        counts = self.report.table("accounts")
        known = ids_by_external_id(Account)
        fields = ["external_id", "name", "industry", "region", "country", "employee_band", "revenue_band", "attributes",
                  "created_at", "updated_at"]  # fmt: skip

        def rows() -> Iterator[tuple]:
            for number, row in enumerate(self._read("accounts"), start=FIRST_ROW):
                counts.read += 1
                if row["account_id"] in known:
                    counts.duplicate += 1
                    continue
                counts.new += 1
                extra = {"process_maturity_band": row.get("process_maturity_band", "")}
                yield (
                    row["account_id"], row.get("company_name") or row["account_id"], row.get("industry", ""),
                    row.get("region", ""), COUNTRIES.get(row.get("region", ""), ""), row.get("employee_band", ""),
                    row.get("estimated_revenue_band", ""), json.dumps(extra),
                    stored_datetime(row["created_at"]) if row.get("created_at") else self.now, self.now,
                )  # fmt: skip
                self._tick("accounts", number)

        insert_rows(Account, fields, rows())
        self.accounts = ids_by_external_id(Account)

    def _contacts(self) -> None:
        counts = self.report.table("contacts")
        known = ids_by_external_id(Contact)
        fields = ["external_id", "first_name", "last_name", "phone", "job_title", "seniority", "role_function",
                  "account_id", "email_opt_in", "do_not_contact", "attributes", "created_at", "updated_at"]  # fmt: skip

        def rows() -> Iterator[tuple]:
            for number, row in enumerate(self._read("contacts"), start=FIRST_ROW):
                counts.read += 1
                if row["contact_id"] in known:
                    counts.duplicate += 1
                    continue
                account = self.accounts.get(row.get("account_id", ""))
                if account is None:
                    self.report.reject("contacts", number, "account_id", f"No account {row.get('account_id')!r}.")
                    continue
                counts.new += 1
                extra = {"buyer_role": row.get("buyer_role", ""), "email_domain_type": row.get("email_domain_type", "")}
                yield (
                    row["contact_id"], "", "", "", row.get("job_title", ""), row.get("seniority", ""),
                    row.get("role_function", ""), account, False, False, json.dumps(extra),
                    stored_datetime(row["created_at"]) if row.get("created_at") else self.now, self.now,
                )  # fmt: skip
                self._tick("contacts", number)

        insert_rows(Contact, fields, rows())
        self.contacts = ids_by_external_id(Contact)

    # --- leads and deals ----------------------------------------------------------------------------------------

    def _latest_by_lead(self) -> dict[str, str]:
        """A first pass over the touches, sessions and sales activities to import: each lead's (external id) latest
        moment among them, so that a new lead is written with its last activity instead of updated afterwards, and
        the helpers making those rows have nothing to tell of it."""
        latest: dict[str, str] = {}
        known = {**self.known_events, "sales_activities": self.known_activities}
        for table, (key, kind, when) in MOMENTS.items():
            path = table_path(self.root, table)
            for lead, external_id, kind_value, at in _columns(path, ("lead_id", key, kind, when)) if path else ():
                if _moment(table, kind_value, at) and external_id not in known[table] and at > latest.get(lead, ""):
                    latest[lead] = at
        return latest

    def _leads(self, opportunities: dict[str, dict[str, str]], latest: dict[str, str]) -> None:
        counts = self.report.table("leads")
        known = ids_by_external_id(Lead)
        self.new_leads: dict[str, dict[str, str]] = {}
        fields = ["external_id", "contact_id", "source", "source_detail", "first_touch_channel", "owner_id", "team_id",
                  "lifecycle_stage", "furthest_stage", "authority", "budget_confirmed", "need", "company_name",
                  "last_activity_at", "created_at", "updated_at"]  # fmt: skip

        def rows() -> Iterator[tuple]:
            for number, row in enumerate(self._read("leads"), start=FIRST_ROW):
                counts.read += 1
                if row["lead_id"] in known:
                    counts.duplicate += 1
                    continue
                contact = self.contacts.get(row.get("contact_id", ""))
                if contact is None:
                    self.report.reject("leads", number, "contact_id", f"No contact {row.get('contact_id')!r}.")
                    continue
                source = SOURCES.get(row.get("lead_source", ""))
                if source is None:
                    self.report.reject("leads", number, "lead_source", f"Unknown source {row.get('lead_source')!r}.")
                    continue
                if not row.get("lead_created_at"):
                    self.report.reject("leads", number, "lead_created_at", "A lead needs its creation date.")
                    continue
                owner = self._rep(row.get("owner_rep_id", ""))
                team = self.rep_teams.get(owner) if owner is not None else None
                steps = _lifecycle(row, opportunities.get(row["lead_id"]), {})
                stage = steps[-1][1]
                furthest = max((step[1] for step in steps if step[1] in FORWARD), key=FORWARD.index, default="")
                counts.new += 1
                self.new_leads[row["lead_id"]] = row
                last_activity = latest.get(row["lead_id"])
                yield (
                    row["lead_id"], contact, source, "", row.get("first_touch_channel", ""), owner, team, stage,
                    furthest, "unknown", False, "", "", stored_datetime(last_activity) if last_activity else None,
                    stored_datetime(row["lead_created_at"]), self.now,
                )  # fmt: skip
                self._tick("leads", number)

        insert_rows(Lead, fields, rows())
        self.leads = ids_by_external_id(Lead)
        # Each lead's latest touch, session or sales activity to import (the rows that make it are made aside).
        self.latest = {self.leads[external_id]: at for external_id, at in latest.items() if external_id in self.leads}
        self.written_last_activity = {
            self.leads[external_id]: latest[external_id] for external_id in self.new_leads if external_id in latest
        }
        people = (
            Lead.objects.exclude(external_id=None).order_by().values_list("pk", "contact_id", "owner_id", "team_id")
        )
        self.lead_people = {pk: (contact, owner, team) for pk, contact, owner, team in people}

    def _opportunities(self, opportunities: dict[str, dict[str, str]]) -> None:
        counts = self.report.table("opportunities")
        known = ids_by_external_id(Opportunity)
        lost_reason, _ = LostReason.objects.get_or_create(name=IMPORTED_LOST_REASON)
        contact_accounts: dict[int, int] = dict(
            Contact.objects.exclude(external_id=None, account=None).order_by().values_list("pk", "account_id")
        )
        account_names = dict(Account.objects.exclude(external_id=None).order_by().values_list("pk", "name"))
        fields = ["external_id", "name", "account_id", "contact_id", "lead_id", "lead_source", "owner_id", "team_id",
                  "pipeline_id", "stage_id", "furthest_stage_id", "amount", "currency", "closed_at", "lost_reason_id",
                  "review_note", "created_at", "updated_at"]  # fmt: skip
        sources = dict(Lead.objects.exclude(external_id=None).order_by().values_list("pk", "source"))
        self.new_deals: list[tuple[str, dict[str, str]]] = []

        def rows() -> Iterator[tuple]:
            # Numbered in file order: the dict keeps the order the rows were read in.
            for number, row in enumerate(opportunities.values(), start=FIRST_ROW):
                counts.read += 1
                if row["opportunity_id"] in known:
                    counts.duplicate += 1
                    continue
                lead = self.leads.get(row["lead_id"])
                stage = self._deal_stage(row)
                if lead is None:
                    self.report.reject("opportunities", number, "lead_id", f"No lead {row['lead_id']!r}.")
                    continue
                if stage is None:
                    self.report.reject("opportunities", number, "stage", f"Unknown stage {row.get('stage')!r}.")
                    continue
                try:
                    amount = round(float(row.get("estimated_acv") or 0), 2)
                except ValueError:
                    self.report.reject("opportunities", number, "estimated_acv", "Not a number.")
                    continue
                contact, owner, team = self.lead_people[lead]
                account = contact_accounts.get(contact)
                name = f"{account_names.get(account, 'Deal') if account else 'Deal'}: {row['opportunity_id']}"
                closed_at = _closed_at(row) if stage.is_closed else None
                counts.new += 1
                self.new_deals.append((row["opportunity_id"], row))
                yield (
                    row["opportunity_id"], name, account,
                    contact, lead, sources.get(lead, ""), owner, team, self.pipeline.pk, stage.pk,
                    self._furthest_stage(stage).pk, amount,
                    settings.LEADFLOW_DEFAULT_CURRENCY, stored_datetime(closed_at) if closed_at else None,
                    lost_reason.pk if stage.is_lost else None, "", stored_datetime(row["created_at"]), self.now,
                )  # fmt: skip
                self._tick("opportunities", number)

        insert_rows(Opportunity, fields, rows())
        self.deals = ids_by_external_id(Opportunity)

    def _furthest_stage(self, stage: Stage) -> Stage:
        """The furthest open stage the moves `_deal_histories` writes reach: a won deal passes them all, a lost one
        is lost from the first."""
        if not stage.is_closed:
            return stage
        return self.open_stages[-1] if stage.is_won else self.open_stages[0]

    def _deal_stage(self, row: dict[str, str]) -> Stage | None:
        stage = row.get("stage", "")
        if stage == "closed_won":
            return self.won_stage
        if stage == "closed_lost":
            return self.lost_stage
        return self.stages.get(STAGES.get(stage, ""))

    @contextmanager
    def _deal_histories(self) -> Iterator[Callable[[], object]]:
        """Each new deal's moves: opened in the first stage, then forward a stage at a time to where it is now (made
        in a helper forked now; the block gets what writes them)."""
        first = self.open_stages[0]
        # Per stage a deal can be in: the moves that lead there from the first stage, as (from, to, reason).
        paths = {
            stage.pk: _moves(first, self.open_stages[1 : index + 1]) for index, stage in enumerate(self.open_stages)
        }
        paths[self.won_stage.pk] = _moves(first, [*self.open_stages[1:], self.won_stage], "Closed won")
        paths[self.lost_stage.pk] = _moves(first, [self.lost_stage], "Closed lost")

        def rows() -> Iterator[tuple]:
            for external_id, row in self.new_deals:
                deal, stage = self.deals[external_id], self._deal_stage(row)
                assert stage is not None  # deals with an unknown stage were refused
                opened = parse_datetime(row["created_at"])
                if stage.is_closed:
                    end = parse_datetime(_closed_at(row))
                else:
                    latest = self.latest.get(self.leads[row["lead_id"]])
                    end = max(opened, parse_datetime(latest)) if latest else opened
                moves = paths[stage.pk]
                history = [(None, first.pk, opened, "Opened")] + [
                    (from_stage, to_stage, opened + (end - opened) * step / len(moves), reason)
                    for step, (from_stage, to_stage, reason) in enumerate(moves, start=1)
                ]
                yield from _with_spells(deal, history, database_datetime)

        def write(made: Iterator[Sequence[Any]]) -> None:
            # A new deal's whole history is written here, so its spells go in with it (no pass afterwards).
            insert_rows(OpportunityStageChange, ["opportunity_id", "from_stage_id", "to_stage_id", "at", "reason",
                                                 "left_at", "days_in_stage"], made)  # fmt: skip
            # The forecast snapshots hold them too: those stored already, and those the history now reaches.
            refresh_forecast_snapshots([self.deals[external_id] for external_id, _ in self.new_deals])
            take_forecast_snapshots()

        with drawn_aside(rows) as made:
            yield lambda: write(made)

    @contextmanager
    def _lead_histories(self, opportunities: dict[str, dict[str, str]]) -> Iterator[Callable[[], object]]:
        """Each new lead's lifecycle moves (made in a helper forked now; the block gets what writes them)."""

        def rows() -> Iterator[tuple]:
            for external_id, row in self.new_leads.items():
                steps = _lifecycle(row, opportunities.get(external_id), self.deals)
                history = [
                    (from_stage, to_stage, parse_datetime(at), reason) for from_stage, to_stage, at, reason in steps
                ]
                yield from _with_spells(self.leads[external_id], history, database_datetime)

        # A new lead's whole history (and its furthest stage, with the lead) is written here, spells included.
        fields = ["lead_id", "from_stage", "to_stage", "at", "reason", "left_at", "days_in_stage"]
        with drawn_aside(rows) as made:
            yield lambda: insert_rows(StageChange, fields, made)

    # --- engagement ---------------------------------------------------------------------------------------------

    @contextmanager
    def _events(
        self, table: str, key: str, convert: Callable[[dict[str, str]], EventFacts | None]
    ) -> Iterator[Callable[[], object]]:
        """The table's touches or sessions as events (made in a helper forked now; the block gets what writes
        them)."""
        known = self.known_events[table]

        def rows() -> Iterator[tuple]:
            counts = self.report.table(table)
            for number, row in enumerate(self._read(table), start=FIRST_ROW):
                counts.read += 1
                if row[key] in known:
                    counts.duplicate += 1
                    continue
                lead = self.leads.get(row.get("lead_id", ""))
                if lead is None:
                    self.report.reject(table, number, "lead_id", f"No lead {row.get('lead_id')!r}.")
                    continue
                converted = convert(row)
                if converted is None:
                    self.report.reject(table, number, "type", "Unknown type or no timestamp.")
                    continue
                event_type, at, properties = converted
                counts.new += 1
                yield (
                    event_type, stored_datetime(at), lead, self.lead_people[lead][0], stored_json(properties),
                    f"import:{table}", row[key], self.now,
                )  # fmt: skip
                self._tick(table, number)

        fields = ["type", "occurred_at", "lead_id", "contact_id", "properties", "source", "external_id", "created_at"]
        with self._drawn_aside(table, rows) as made:
            yield lambda: insert_rows(Event, fields, made)

    @staticmethod
    def _touch(row: dict[str, str]) -> EventFacts | None:
        at = _moment("touches", row.get("touch_type", ""), row.get("touch_timestamp", ""))
        if at is None:
            return None
        properties = (
            ("touch_type", row.get("touch_type", "")),
            ("channel", row.get("touch_channel", "")),
            ("direction", row.get("touch_direction", "")),
            ("campaign_id", row.get("campaign_id", "")),
        )
        return TOUCH_TYPES[row["touch_type"]], at, properties

    @staticmethod
    def _session(row: dict[str, str]) -> EventFacts | None:
        session_type = row.get("session_type", "")
        at = _moment("sessions", session_type, row.get("session_timestamp", ""))
        if at is None:
            return None
        properties: dict[str, Any] = {"session_type": session_type}
        for column in ("page_views", "pricing_page_views", "demo_page_views", "session_duration_seconds"):
            value = row.get(column, "")
            properties[column] = int(float(value)) if value else None
        if session_type == "demo_page":
            properties["page"] = "/demo"
        return SESSION_TYPES.get(session_type, EventType.PAGE_VISIT), at, tuple(properties.items())

    @contextmanager
    def _activities(self) -> Iterator[Callable[[], object]]:
        """The sales activities (made in a helper forked now; the block gets what writes them)."""
        known = self.known_activities
        unseen_reps: dict[str, list[str]] = {}  # a rep first seen here → its activities (given it afterwards)

        def owner(rep_id: str, activity_id: str) -> int | None:
            """The activity's owner, if known; a new rep is made once the rows are in (not where they are made)."""
            if rep_id and rep_id not in self.reps:
                unseen_reps.setdefault(rep_id, []).append(activity_id)
            return self.reps.get(rep_id)

        def rows() -> Iterator[tuple]:
            counts = self.report.table("sales_activities")
            for number, row in enumerate(self._read("sales_activities"), start=FIRST_ROW):
                counts.read += 1
                if row["activity_id"] in known:
                    counts.duplicate += 1
                    continue
                lead = self.leads.get(row.get("lead_id", ""))
                kind = row.get("activity_type", "")
                at = _moment("sales_activities", kind, row.get("activity_timestamp", ""))
                if lead is None:
                    self.report.reject("sales_activities", number, "lead_id", f"No lead {row.get('lead_id')!r}.")
                    continue
                if kind not in ACTIVITY_KINDS:
                    self.report.reject("sales_activities", number, "activity_type", f"Unknown type {kind!r}.")
                    continue
                if not at:
                    self.report.reject("sales_activities", number, "activity_timestamp", "Missing.")
                    continue
                counts.new += 1
                when = stored_datetime(at)
                yield (
                    kind, f"{kind.capitalize()} (imported)", "", True, when, row.get("activity_outcome", ""),
                    owner(row.get("rep_id", ""), row["activity_id"]), lead, row["activity_id"], when, self.now,
                )  # fmt: skip
                self._tick("sales_activities", number)

        fields = ["kind", "subject", "body", "is_done", "done_at", "outcome", "owner_id", "lead_id", "external_id",
                  "created_at", "updated_at"]  # fmt: skip

        def write(made: Iterator[Sequence[Any]]) -> None:
            insert_rows(Activity, fields, made)
            for rep_id, activities in unseen_reps.items():  # in the order first seen, as they were made before
                rep = self._rep(rep_id)
                for start in range(0, len(activities), BATCH):
                    Activity.objects.filter(external_id__in=activities[start : start + BATCH]).update(owner_id=rep)

        with self._drawn_aside("sales_activities", rows, unseen_reps) as made:
            yield lambda: write(made)

    @contextmanager
    def _drawn_aside(
        self, table: str, rows: Callable[[], Iterator[tuple]], *kept: dict
    ) -> Iterator[Iterator[Sequence[Any]]]:
        """The table's rows, made in a helper process forked now (`drawn_aside`). What making them finds comes back:
        the table's counts and refused rows at the end, the progress with each batch, and each dict in `kept`
        (filled as the rows are made) as the helper left it."""
        report, reasons_before, ticks = self.report, len(self.report.errors), []

        def make() -> Iterator[tuple]:
            self.progress = lambda _, row: ticks.append(row)  # in the helper: told with the batches instead
            return rows()

        def news(final: bool) -> tuple:
            told = (ticks.copy(), (report.tables[table], report.errors[reasons_before:], kept) if final else None)
            ticks.clear()
            return told

        def apply(told: tuple) -> None:
            done, end = told
            for row in done:
                self.progress(table, row)
            if end is not None:
                report.tables[table], errors, filled = end
                report.errors.extend(errors)
                for mine, theirs in zip(kept, filled, strict=True):
                    mine.clear()
                    mine.update(theirs)

        with drawn_aside(make, news, apply) as made:
            yield made

    def _last_activity(self) -> None:
        """Each lead's last activity time is at least its latest imported touch, session or sales activity: a lead
        already there moves up to it (a new one was written with it)."""
        written = self.written_last_activity
        advance_last_activity({lead: parse_datetime(at) for lead, at in self.latest.items() if written.get(lead) != at})

    # --- customers ----------------------------------------------------------------------------------------------

    def _customers(self) -> None:
        """A customer row must name a won deal; its account's attributes record {customer id: start date}."""
        path = table_path(self.root, "customers")
        if path is None:
            return
        counts = self.report.table("customers")
        won = dict(
            Opportunity.objects.filter(stage__is_won=True)
            .exclude(external_id=None)
            .order_by()
            .values_list("external_id", "account_id")
        )
        attributes = dict(Account.objects.filter(pk__in=set(won.values())).order_by().values_list("pk", "attributes"))
        changed: set[int] = set()
        for number, row in enumerate(_rows(path), start=FIRST_ROW):
            counts.read += 1
            account = won.get(row.get("opportunity_id", ""))
            if account is None:
                self.report.reject(
                    "customers", number, "opportunity_id", f"No won opportunity {row.get('opportunity_id')!r}."
                )
                continue
            customers = attributes[account].get("customers", {})
            if row.get("customer_id") in customers:
                counts.duplicate += 1
                continue
            customers = {**customers, row.get("customer_id", ""): row.get("customer_start_at", "")}
            attributes[account] = {**attributes[account], "customers": customers}
            changed.add(account)
            counts.updated += 1
        adapt = connection.ops.adapt_json_value
        update_rows(Account, ["attributes"], ((adapt(attributes[pk], None), pk) for pk in changed))


def _moves(first: Stage, path: list[Stage], closing: str = "") -> list[tuple[int, int, str]]:
    """The moves from the first stage along the path, as (from id, to id, reason); the last one closes the deal
    with that reason, when it is a closing move."""
    return [(before.pk, after.pk, closing if after.is_closed else "") for before, after in pairwise([first, *path])]


def _moment(table: str, kind: str, at: str) -> str | None:
    """When a touch, session or sales activity row happened, or None when it is not one to import (a type the
    table does not know, or no time)."""
    return at if at and kind in KINDS[table] else None


def _closed_at(row: dict[str, str]) -> str:
    return row.get("closed_at") or row["created_at"]


def _with_spells(
    owner: int, history: list[tuple[Any, Any, datetime, str]], adapt: Callable[[datetime], Any]
) -> Iterator[tuple]:
    """History rows (owner, from, to, at, reason, left_at, days_in_stage) with their spells worked out."""
    for (from_stage, to_stage, at, reason), (left_at, days) in zip(
        history, spells_of([step[2] for step in history]), strict=True
    ):
        yield (owner, from_stage, to_stage, adapt(at), reason, adapt(left_at) if left_at else None, days)


def _lifecycle(
    lead: dict[str, str], deal: dict[str, str] | None, deals: dict[str, Any]
) -> list[tuple[str, str, str, str]]:
    """The lead's lifecycle steps as (from, to, at, reason), following the lifecycle graph."""
    steps: list[tuple[str, str, str, str]] = [("", LifecycleStage.LEAD, lead["lead_created_at"], "Captured")]
    qualified = lead.get("is_sql") == "True"
    if deal is not None:
        opened = deal["created_at"]
        if qualified:
            steps.append((LifecycleStage.LEAD, LifecycleStage.PROSPECT, opened, "Sales-qualified (imported)"))
        deal_id = deals.get(deal["opportunity_id"], deal["opportunity_id"])
        steps.append((steps[-1][1], LifecycleStage.OPPORTUNITY, opened, f"Converted to opportunity {deal_id}"))
        if deal.get("stage") == "closed_won":
            steps.append((LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER, _closed_at(deal),
                          f"Opportunity {deal_id} closed won"))  # fmt: skip
    elif lead.get("current_stage") == "closed_lost":
        steps.append((LifecycleStage.LEAD, LifecycleStage.DISQUALIFIED, lead["lead_created_at"],
                      "Closed lost before an opportunity (imported)"))  # fmt: skip
    elif qualified:
        steps.append(
            (LifecycleStage.LEAD, LifecycleStage.PROSPECT, lead["lead_created_at"], "Sales-qualified (imported)")
        )
    return steps
