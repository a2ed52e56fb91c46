"""The KPIs of the imported world-5k bundle equal an independent computation from its CSV files (standard library
only, none of leadflow's code)."""

import csv
import json
from collections import defaultdict
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "leadforge" / "world-5k"
SOURCES = {"inbound_marketing": "inbound_marketing", "sdr_outbound": "outbound_prospecting",
           "partner_referral": "referral_partner"}  # fmt: skip
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not DATA.exists(), reason=f"the shared leadforge data is not at {DATA}"),
]


def table(name: str) -> list[dict[str, str]]:
    with (DATA / "tables" / f"{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def expected_kpis(leads: list[dict[str, str]], deals: list[dict[str, str]]) -> dict:
    with_deal = {deal["lead_id"] for deal in deals}
    won = [deal for deal in deals if deal["close_outcome"] == "closed_won"]
    lost = [deal for deal in deals if deal["close_outcome"] == "closed_lost"]
    revenue = sum(float(deal["estimated_acv"]) for deal in won)
    cycles = [(date.fromisoformat(d["closed_at"]) - date.fromisoformat(d["created_at"])).days for d in won]
    return {
        "leads": len(leads),
        "prospects": sum(1 for lead in leads if lead["is_sql"] == "True" or lead["lead_id"] in with_deal),
        "opportunities": len(deals),
        "won": len(won),
        "lost": len(lost),
        "win_rate": round(len(won) / (len(won) + len(lost)), 4) if won or lost else None,
        "avg_sales_cycle_days": round(sum(cycles) / len(cycles), 1) if cycles else None,
        "revenue_won": revenue,
        "avg_deal_size_won": round(revenue / len(won), 2) if won else None,
        "lead_to_opportunity_rate": round(sum(1 for lead in leads if lead["lead_id"] in with_deal) / len(leads), 4),
        "lead_to_customer_rate": round(len({d["lead_id"] for d in won}) / len(leads), 4),
    }


def test_the_kpis_equal_an_independent_computation_from_the_csv_files():
    call_command("import", str(DATA), "--preset", "leadforge", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("report", "kpis", "--json", stdout=out)
    actual = json.loads(out.getvalue())

    leads, deals = table("leads"), table("opportunities")
    expected = expected_kpis(leads, deals)
    by_source = defaultdict(list)
    for lead in leads:
        by_source[SOURCES[lead["lead_source"]]].append(lead)
    lead_source = {lead["lead_id"]: SOURCES[lead["lead_source"]] for lead in leads}
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value), key
    for source, its_leads in by_source.items():
        its_deals = [deal for deal in deals if lead_source[deal["lead_id"]] == source]
        for key, value in expected_kpis(its_leads, its_deals).items():
            assert actual["by_source"][source][key] == pytest.approx(value), (source, key)
