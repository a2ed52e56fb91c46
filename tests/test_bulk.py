"""Set-based writing: rows written over those with the same key."""

import json

import pytest
from django.db import transaction
from django.utils import timezone

from leadflow import bulk
from leadflow.bulk import database_datetime, upsert_rows
from leadflow.scoring.models import LeadScore

from .factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("copy_from", [2, bulk.COPY_FROM], ids=["copied", "one by one"])
def test_upserted_rows_replace_those_with_their_key_and_add_the_rest(monkeypatch, copy_from):
    monkeypatch.setattr(bulk, "COPY_FROM", copy_from)  # PostgreSQL COPies big batches
    kept, new = LeadFactory(), LeadFactory()
    qualified = timezone.now().replace(microsecond=0)
    LeadScore.objects.create(lead=kept, fit=5, total=5, breakdown=[{"rule": 1}], mql_at=qualified)
    moment = database_datetime(timezone.now())
    fields = ["lead", "fit", "total", "breakdown", "decaying", "computed_at"]
    with transaction.atomic():
        for fit in (10, 20):  # twice in one transaction, as a rescore's batches are
            upsert_rows(
                LeadScore, fields, [(lead.pk, fit, fit, "[]", json.dumps({"7": 1.5}), moment) for lead in (kept, new)]
            )
    written = {score.lead_id: score for score in LeadScore.objects.all()}
    assert {lead: (score.fit, score.breakdown, score.decaying) for lead, score in written.items()} == {
        kept.pk: (20, [], {"7": 1.5}),
        new.pk: (20, [], {"7": 1.5}),
    }
    assert (written[kept.pk].mql_at, written[new.pk].mql_at) == (qualified, None)  # columns not written keep theirs


def test_inserted_rows_come_back_as_their_ids_in_order(monkeypatch):
    leads = [LeadFactory() for _ in range(5)]
    moment = database_datetime(timezone.now())
    fields = ["lead", "fit", "total", "breakdown", "decaying", "computed_at"]
    rows = [(lead.pk, place, place, "[]", "{}", moment) for place, lead in enumerate(reversed(leads))]
    monkeypatch.setattr(bulk, "ROWS_PER_INSERT", 2)  # three statements
    ids = bulk.insert_rows_returning_ids(LeadScore, fields, rows)
    assert [LeadScore.objects.get(pk=pk).fit for pk in ids] == [0, 1, 2, 3, 4]
    assert [LeadScore.objects.get(pk=pk).lead_id for pk in ids] == [lead.pk for lead in reversed(leads)]
