"""The leadforge preset: a small bundle written by the tests pins the mapping rules; the world-5k bundle checks
counts against its CSV files, history against the lifecycle graph, and that a second run changes nothing. The
leadforge-labels preset turns known outcomes into history."""

import csv
from collections import Counter
from datetime import UTC, datetime
from io import StringIO
from itertools import pairwise
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from leadflow.accounts.models import Account, Contact
from leadflow.engagement.models import Event
from leadflow.imports.labels import NO_CONVERSION, import_labels
from leadflow.imports.leadforge import TICK, LeadforgeImport
from leadflow.imports.report import FIRST_ROW
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, StageChange
from leadflow.leads.services import refresh_lead_history
from leadflow.pipeline.models import Activity, ForecastSnapshot, Opportunity, OpportunityStageChange
from leadflow.pipeline.services import convert_lead, refresh_deal_history, take_forecast_snapshots

from ..factories import LeadFactory

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "leadforge"
WORLD = DATA / "world-5k"
needs_world = pytest.mark.skipif(not WORLD.exists(), reason=f"the shared leadforge data is not at {DATA}")
pytestmark = pytest.mark.django_db

TINY = {
    "accounts": [
        {"account_id": "acct_1", "company_name": "Company acct_1", "industry": "logistics", "region": "UK",
         "employee_band": "200-499", "estimated_revenue_band": "$1M-$10M", "process_maturity_band": "high",
         "created_at": "2023-03-19"},
    ],
    "contacts": [
        {"contact_id": f"cnt_{n}", "account_id": "acct_1", "job_title": "VP Finance", "role_function": "vp_finance",
         "seniority": "vp", "buyer_role": "economic_buyer", "email_domain_type": "corporate",
         "created_at": "2023-04-01"} for n in range(1, 6)
    ] + [{"contact_id": "cnt_9", "account_id": "acct_404", "job_title": "", "role_function": "", "seniority": "",
          "buyer_role": "", "email_domain_type": "", "created_at": ""}],
    "leads": [
        {"lead_id": "lead_won", "contact_id": "cnt_1", "lead_created_at": "2024-01-01", "lead_source": "sdr_outbound",
         "first_touch_channel": "sdr_outbound", "owner_rep_id": "rep_000007", "is_sql": "True"},
        {"lead_id": "lead_lost", "contact_id": "cnt_2", "lead_created_at": "2024-01-02",
         "lead_source": "partner_referral", "first_touch_channel": "partner_referral", "owner_rep_id": "rep_000007",
         "is_sql": "False"},
        {"lead_id": "lead_open", "contact_id": "cnt_3", "lead_created_at": "2024-01-03",
         "lead_source": "inbound_marketing", "first_touch_channel": "inbound_marketing", "owner_rep_id": "",
         "is_sql": "False"},
        {"lead_id": "lead_plain", "contact_id": "cnt_4", "lead_created_at": "2024-01-04",
         "lead_source": "inbound_marketing", "first_touch_channel": "inbound_marketing", "owner_rep_id": "",
         "is_sql": "False"},
        {"lead_id": "lead_bad", "contact_id": "cnt_5", "lead_created_at": "2024-01-05", "lead_source": "billboard",
         "first_touch_channel": "", "owner_rep_id": "", "is_sql": "False"},
    ],
    "opportunities": [
        {"opportunity_id": "opp_won", "lead_id": "lead_won", "created_at": "2024-01-10", "stage": "closed_won",
         "estimated_acv": "40000", "closed_at": "2024-02-09"},
        {"opportunity_id": "opp_lost", "lead_id": "lead_lost", "created_at": "2024-01-12", "stage": "closed_lost",
         "estimated_acv": "1000.5", "closed_at": "2024-01-20"},
        {"opportunity_id": "opp_open", "lead_id": "lead_open", "created_at": "2024-01-05", "stage": "proposal_sent",
         "estimated_acv": "25000", "closed_at": ""},
    ],
    "touches": [
        {"touch_id": "t1", "lead_id": "lead_open", "touch_timestamp": "2024-01-03", "touch_type": "email",
         "touch_channel": "inbound_marketing", "touch_direction": "inbound", "campaign_id": "c1"},
        {"touch_id": "t2", "lead_id": "lead_nobody", "touch_timestamp": "2024-01-03", "touch_type": "email",
         "touch_channel": "", "touch_direction": "", "campaign_id": ""},
    ],
    "sessions": [
        {"session_id": "s1", "lead_id": "lead_open", "session_timestamp": "2024-01-07", "session_type": "pricing_page",
         "page_views": "7", "pricing_page_views": "2", "demo_page_views": "0", "session_duration_seconds": "139"},
    ],
    "sales_activities": [
        {"activity_id": "a1", "lead_id": "lead_open", "rep_id": "rep_000008", "activity_timestamp": "2024-01-11",
         "activity_type": "demo", "activity_outcome": "demo_completed"},
        {"activity_id": "a2", "lead_id": "lead_open", "rep_id": "rep_000008", "activity_timestamp": "2024-01-12",
         "activity_type": "carrier_pigeon", "activity_outcome": ""},
    ],
    "customers": [
        {"customer_id": "cust_1", "opportunity_id": "opp_won", "account_id": "acct_1",
         "customer_start_at": "2024-02-09"},
        {"customer_id": "cust_2", "opportunity_id": "opp_open", "account_id": "acct_1",
         "customer_start_at": "2024-02-09"},
    ],
}  # fmt: skip


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A bundle folder with one row for each rule, and a few broken rows."""
    (tmp_path / "tables").mkdir()
    for table, rows in TINY.items():
        with (tmp_path / "tables" / f"{table}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return tmp_path


def deal_path(external_id: str) -> list[tuple[str | None, str, str, str]]:
    moves = OpportunityStageChange.objects.filter(opportunity__external_id=external_id).order_by("at", "id")
    return [
        (m.from_stage.name if m.from_stage else None, m.to_stage.name, m.at.date().isoformat(), m.reason) for m in moves
    ]


def lead_path(external_id: str) -> list[tuple[str, str, str]]:
    lead = Lead.objects.get(external_id=external_id)
    return [(c.to_stage, c.at.date().isoformat(), c.reason) for c in lead.stage_changes.order_by("at", "id")]


def test_a_won_deal_passes_every_stage_and_makes_its_lead_a_customer(tiny):
    LeadforgeImport(tiny).run()
    deal = Opportunity.objects.get(external_id="opp_won")
    assert (deal.stage.name, float(deal.amount)) == ("Closed won", 40000)
    assert deal.closed_at.date().isoformat() == "2024-02-09"
    assert deal_path("opp_won") == [
        (None, "Prospecting", "2024-01-10", "Opened"),
        ("Prospecting", "Qualification", "2024-01-17", ""),
        ("Qualification", "Proposal", "2024-01-25", ""),
        ("Proposal", "Negotiation", "2024-02-01", ""),
        ("Negotiation", "Closed won", "2024-02-09", "Closed won"),
    ]
    assert lead_path("lead_won") == [
        ("lead", "2024-01-01", "Captured"),
        ("prospect", "2024-01-10", "Sales-qualified (imported)"),
        ("opportunity", "2024-01-10", f"Converted to opportunity {deal.pk}"),
        ("customer", "2024-02-09", f"Opportunity {deal.pk} closed won"),
    ]
    assert deal.lead.lifecycle_stage == "customer"


def test_a_lost_deal_closes_from_the_first_stage_with_a_reason(tiny):
    LeadforgeImport(tiny).run()
    deal = Opportunity.objects.get(external_id="opp_lost")
    assert (deal.stage.name, deal.lost_reason.name, deal.closed_at.date().isoformat()) == (
        "Closed lost", "Unknown (imported)", "2024-01-20",
    )  # fmt: skip
    assert deal_path("opp_lost") == [
        (None, "Prospecting", "2024-01-12", "Opened"),
        ("Prospecting", "Closed lost", "2024-01-20", "Closed lost"),
    ]
    assert Lead.objects.get(external_id="lead_lost").lifecycle_stage == "opportunity"


def test_an_open_deal_moves_up_to_its_stage_by_the_leads_latest_activity(tiny):
    LeadforgeImport(tiny).run()
    deal = Opportunity.objects.get(external_id="opp_open")
    assert (deal.stage.name, deal.closed_at) == ("Proposal", None)
    assert deal_path("opp_open") == [
        (None, "Prospecting", "2024-01-05", "Opened"),
        ("Prospecting", "Qualification", "2024-01-08", ""),
        ("Qualification", "Proposal", "2024-01-11", ""),
    ]
    lead = Lead.objects.get(external_id="lead_open")
    assert lead.lifecycle_stage == "opportunity"
    assert lead.last_activity_at.date().isoformat() == "2024-01-11"


def test_people_companies_and_owners_are_mapped(tiny):
    LeadforgeImport(tiny).run()
    account = Account.objects.get(external_id="acct_1")
    assert (account.country, account.employee_band) == ("GB", "200-499")
    assert account.attributes["process_maturity_band"] == "high"
    contact = Contact.objects.get(external_id="cnt_1")
    assert (contact.email, contact.first_name, str(contact)) == (None, "", "cnt_1")
    lead = Lead.objects.get(external_id="lead_won")
    assert lead.source == "outbound_prospecting"
    assert (lead.owner.username, lead.owner.team.name) == ("rep_000007", "Imported")
    assert not lead.owner.has_usable_password()
    assert Lead.objects.get(external_id="lead_lost").source == "referral_partner"
    assert lead_path("lead_plain") == [("lead", "2024-01-04", "Captured")]


def test_touches_sessions_and_activities_land_on_their_lead(tiny):
    LeadforgeImport(tiny).run()
    lead = Lead.objects.get(external_id="lead_open")
    assert sorted(lead.events.values_list("type", "external_id")) == [("email_open", "t1"), ("pricing_page_view", "s1")]
    assert lead.events.get(external_id="s1").properties["pricing_page_views"] == 2
    demo = Activity.objects.get(external_id="a1")
    assert (demo.lead, demo.kind, demo.is_done, demo.owner.username) == (lead, "demo", True, "rep_000008")


def test_customers_are_recorded_on_their_account(tiny):
    LeadforgeImport(tiny).run()
    assert Account.objects.get(external_id="acct_1").attributes["customers"] == {"cust_1": "2024-02-09"}


def test_broken_rows_are_reported_with_table_row_column_and_reason(tiny):
    report = LeadforgeImport(tiny).run()
    assert [(e.table, e.row, e.column) for e in report.errors] == [
        ("contacts", 7, "account_id"),
        ("leads", 6, "lead_source"),
        ("touches", 3, "lead_id"),
        ("sales_activities", 3, "activity_type"),
        ("customers", 3, "opportunity_id"),
    ]
    assert report.errors[1].reason == "Unknown source 'billboard'."


def test_a_second_run_of_a_bundle_changes_nothing(tiny):
    LeadforgeImport(tiny).run()
    counts = [model.objects.count() for model in (Lead, StageChange, OpportunityStageChange, Event, Activity)]
    again = LeadforgeImport(tiny).run()
    assert again.changed_nothing
    assert [model.objects.count() for model in (Lead, StageChange, OpportunityStageChange, Event, Activity)] == counts


def test_a_lead_carries_its_latest_imported_row_and_a_later_run_moves_it_up(tiny):
    LeadforgeImport(tiny).run()
    # lead_open: a touch on the 3rd, a session on the 7th, a demo on the 11th (the pigeon on the 12th is refused)
    assert Lead.objects.get(external_id="lead_open").last_activity_at.date().isoformat() == "2024-01-11"
    assert Lead.objects.get(external_id="lead_plain").last_activity_at is None
    later = [("t3", "lead_open", "2024-03-01"), ("t4", "lead_open", "2024-01-02"), ("t5", "lead_plain", "2024-02-01")]
    with (tiny / "tables" / "touches.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows([(touch, lead, at, "email", "", "", "") for touch, lead, at in later])
    LeadforgeImport(tiny).run()
    moved = dict(Lead.objects.filter(external_id__in=["lead_open", "lead_plain"]).values_list(
        "external_id", "last_activity_at"))  # fmt: skip
    assert {lead: at.date().isoformat() for lead, at in moved.items()} == {
        "lead_open": "2024-03-01", "lead_plain": "2024-02-01",
    }  # fmt: skip


def forecast_snapshots() -> dict[str, set[tuple[str, str]]]:
    return {
        snapshot.as_of.date().isoformat(): {
            (row.opportunity.external_id or row.opportunity.name, row.stage.name)
            for row in snapshot.deals.select_related("opportunity", "stage")
        }
        for snapshot in ForecastSnapshot.objects.order_by("as_of")
    }


def test_the_import_stores_the_forecast_snapshots_its_history_reaches(tiny):
    LeadforgeImport(tiny).run()
    snapshots = forecast_snapshots()
    assert list(snapshots) == ["2023-09-01", "2023-10-01", "2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01"]
    assert snapshots["2024-01-01"] == set()
    assert snapshots["2024-02-01"] == {("opp_won", "Proposal"), ("opp_open", "Proposal")}


def test_an_import_reaches_into_the_forecast_snapshots_stored_before_it(tiny, rep):
    deal, _ = convert_lead(LeadFactory(owner=rep, company_name="Later Co"), by=rep, amount=100)
    OpportunityStageChange.objects.filter(opportunity=deal).update(at=datetime(2024, 3, 5, tzinfo=UTC))
    refresh_deal_history([deal.pk])
    take_forecast_snapshots()
    assert forecast_snapshots()["2024-02-01"] == set()
    LeadforgeImport(tiny).run()
    snapshots = forecast_snapshots()
    assert snapshots["2024-02-01"] == {("opp_won", "Proposal"), ("opp_open", "Proposal")}
    assert snapshots["2024-03-01"] == {("opp_open", "Proposal")}


def test_a_folder_without_the_tables_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not a leadforge bundle"):
        call_command("import", str(tmp_path), "--preset", "leadforge")


def write_labels(path: Path, labels: dict[str, str]) -> Path:
    path.write_text("lead_id,converted_within_90_days\n" + "".join(f"{k},{v}\n" for k, v in labels.items()))
    return path


def test_labels_close_open_deals_and_decide_leads_without_one(tiny, tmp_path):
    LeadforgeImport(tiny).run()
    labels = write_labels(tmp_path / "labels.csv", {
        "lead_open": "False", "lead_plain": "True", "lead_won": "True", "lead_ghost": "False", "lead_lost": "maybe",
    })  # fmt: skip
    report = import_labels(labels)
    counts = report.tables["labels"]
    assert (counts.updated, counts.duplicate, counts.invalid) == (2, 1, 2)
    deal = Opportunity.objects.get(external_id="opp_open")
    assert (deal.stage.name, deal.lost_reason.name, deal.closed_at.date().isoformat()) == (
        "Closed lost", NO_CONVERSION, "2024-04-02",
    )  # fmt: skip
    assert deal_path("opp_open")[-1] == ("Proposal", "Closed lost", "2024-04-02", "Closed lost")
    assert Lead.objects.get(external_id="lead_open").lifecycle_stage == "opportunity"
    assert lead_path("lead_plain")[-1] == ("customer", "2024-04-03", "Converted within 90 days (known outcome)")
    assert [(e.row, e.column) for e in report.errors] == [(6, "converted_within_90_days"), (5, "lead_id")]


def test_a_lead_without_a_deal_that_did_not_convert_is_disqualified(tiny, tmp_path):
    LeadforgeImport(tiny).run()
    import_labels(write_labels(tmp_path / "labels.csv", {"lead_plain": "False"}))
    lead = Lead.objects.get(external_id="lead_plain")
    assert (lead.lifecycle_stage, lead_path("lead_plain")[-1][2]) == ("disqualified", NO_CONVERSION)


def test_labels_twice_change_nothing_the_second_time(tiny, tmp_path):
    LeadforgeImport(tiny).run()
    labels = write_labels(tmp_path / "labels.csv", {"lead_open": "False", "lead_plain": "True", "lead_lost": "False"})
    import_labels(labels)
    history = (StageChange.objects.count(), OpportunityStageChange.objects.count())
    again = import_labels(labels)
    assert again.changed_nothing and again.tables["labels"].duplicate == 3
    assert (StageChange.objects.count(), OpportunityStageChange.objects.count()) == history


def test_the_labels_dry_run_writes_nothing(tiny, tmp_path):
    LeadforgeImport(tiny).run()
    out = StringIO()
    labels = write_labels(tmp_path / "labels.csv", {"lead_plain": "True"})
    call_command("import", str(labels), "--preset", "leadforge-labels", "--dry-run", stdout=out)
    assert "1 updated" in out.getvalue()
    assert Lead.objects.get(external_id="lead_plain").lifecycle_stage == "lead"


# --- the world-5k bundle -------------------------------------------------------------------------------------------


def rows(table: str) -> list[dict[str, str]]:
    with (WORLD / "tables" / f"{table}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def world(db):
    return LeadforgeImport(WORLD).run()


@needs_world
def test_every_table_lands_with_the_counts_of_the_files(world):
    assert Account.objects.count() == len(rows("accounts"))
    assert Contact.objects.count() == len(rows("contacts"))
    assert Lead.objects.count() == len(rows("leads"))
    assert Opportunity.objects.count() == len(rows("opportunities"))
    assert Event.objects.count() == len(rows("touches")) + len(rows("sessions"))
    assert Activity.objects.count() == len(rows("sales_activities"))
    customers = sum(len(a["customers"]) for a in Account.objects.filter(attributes__has_key="customers").values_list(
        "attributes", flat=True))  # fmt: skip
    assert customers == len(rows("customers"))
    assert all(counts.invalid == 0 for counts in world.tables.values())


@needs_world
def test_every_lead_s_last_activity_is_its_latest_event_or_activity(world):
    latest: dict[int, datetime] = {}
    events, activities = (
        Event.objects.values_list("lead_id", "occurred_at"),
        Activity.objects.values_list("lead_id", "done_at"),
    )
    for lead, at in [*events, *activities]:
        latest[lead] = max(at, latest.get(lead, at))
    assert dict(Lead.objects.exclude(last_activity_at=None).values_list("pk", "last_activity_at")) == latest


@needs_world
def test_closed_outcomes_set_won_and_lost(world):
    outcomes = Counter(row["close_outcome"] for row in rows("opportunities"))
    assert Opportunity.objects.filter(stage__is_won=True, closed_at__isnull=False).count() == outcomes["closed_won"]
    lost = Opportunity.objects.filter(stage__is_lost=True, lost_reason__isnull=False, closed_at__isnull=False)
    assert lost.count() == outcomes["closed_lost"]
    assert Opportunity.objects.filter(closed_at__isnull=True).count() == outcomes[""]
    assert Lead.objects.filter(lifecycle_stage="customer").count() == outcomes["closed_won"]


@needs_world
def test_every_imported_lead_history_follows_the_lifecycle_graph(world):
    histories: dict[int, list[StageChange]] = {}
    for change in StageChange.objects.order_by("lead_id", "at", "id"):
        histories.setdefault(change.lead_id, []).append(change)
    for lead in Lead.objects.only("pk", "lifecycle_stage"):
        steps = histories[lead.pk]
        assert (steps[0].from_stage, steps[0].reason) == ("", "Captured")
        assert steps[-1].to_stage == lead.lifecycle_stage
        assert all(a.to_stage == b.from_stage and is_allowed(a.to_stage, b.to_stage) for a, b in pairwise(steps))


@needs_world
def test_every_deal_history_opens_then_moves_forward_to_its_stage(world):
    histories: dict[int, list[OpportunityStageChange]] = {}
    for move in OpportunityStageChange.objects.select_related("from_stage", "to_stage").order_by("at", "id"):
        histories.setdefault(move.opportunity_id, []).append(move)
    for deal in Opportunity.objects.select_related("stage"):
        moves = histories[deal.pk]
        assert (moves[0].from_stage, moves[0].to_stage.name, moves[0].reason) == (None, "Prospecting", "Opened")
        assert moves[-1].to_stage == deal.stage and moves[0].at == deal.created_at
        assert all(a.to_stage == b.from_stage and a.at <= b.at for a, b in pairwise(moves))
        assert deal.closed_at == (moves[-1].at if deal.stage.is_closed else None)


@needs_world
def test_sources_owners_and_amounts_are_as_in_the_files(world):
    first = rows("leads")[0]
    lead = Lead.objects.get(external_id=first["lead_id"])
    assert lead.owner.username == first["owner_rep_id"]
    deal = rows("opportunities")[0]
    assert float(Opportunity.objects.get(external_id=deal["opportunity_id"]).amount) == float(deal["estimated_acv"])


@needs_world
def test_a_second_run_of_the_world_changes_nothing_and_says_so(world):
    out = StringIO()
    call_command("import", str(WORLD), "--preset", "leadforge", stdout=out, stderr=StringIO())
    assert "Nothing changed" in out.getvalue()
    assert Lead.objects.count() == len(rows("leads"))


@needs_world
def test_progress_is_told_as_rows_are_read_also_from_the_tables_made_aside(db):
    told = []
    LeadforgeImport(WORLD, dry_run=True, progress=lambda table, row: told.append((table, row))).run()
    expected = [(table, row) for table in ("accounts", "contacts", "leads", "opportunities", "touches", "sessions",
                                           "sales_activities")
                for row in range(TICK, len(rows(table)) + FIRST_ROW, TICK)]  # fmt: skip
    assert told == expected and ("sales_activities", 60000) in told


@needs_world
def test_the_world_dry_run_writes_nothing(db):
    report = LeadforgeImport(WORLD, dry_run=True).run()
    assert report.tables["leads"].new == len(rows("leads"))
    assert not Lead.objects.exists() and not Event.objects.exists()


@needs_world
def test_known_outcomes_of_the_scoring_bundle_become_history(db):
    scoring = DATA / "scoring-5k"
    LeadforgeImport(scoring).run()
    labels = scoring / "labels" / "train.csv"
    out = StringIO()
    call_command("import", str(labels), "--preset", "leadforge-labels", stdout=out)
    assert "0 invalid" in out.getvalue()
    outcomes = {r["lead_id"]: r["converted_within_90_days"] == "True" for r in csv.DictReader(labels.open())}
    customers = set(Lead.objects.filter(lifecycle_stage="customer").values_list("external_id", flat=True))
    assert {lead for lead, converted in outcomes.items() if converted} <= customers
    undecided = Lead.objects.filter(external_id__in=[lead for lead, converted in outcomes.items() if not converted])
    assert not undecided.filter(lifecycle_stage__in=["lead", "prospect"]).exists()
    assert not Opportunity.objects.filter(lead__in=undecided, closed_at__isnull=True).exists()


def test_imported_histories_carry_what_a_refresh_would_give(world):
    """The importer writes spells, furthest stages and deals' lead sources with the rows; recomputing them from the
    history changes nothing."""

    def kept():
        def spells(model):
            rows = model.objects.order_by("pk").values_list("pk", "left_at", "days_in_stage")
            return [(pk, left_at, None if days is None else round(days, 4)) for pk, left_at, days in rows]

        return (
            spells(StageChange),
            spells(OpportunityStageChange),
            list(Lead.objects.order_by("pk").values_list("pk", "furthest_stage")),
            list(Opportunity.objects.order_by("pk").values_list("pk", "furthest_stage", "lead_source")),
        )

    imported = kept()
    refresh_lead_history()
    refresh_deal_history()
    source = Subquery(Lead.objects.filter(pk=OuterRef("lead_id")).values("source")[:1])
    Opportunity.objects.update(lead_source=Coalesce(source, Value("")))
    assert kept() == imported
