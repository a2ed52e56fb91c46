"""The leadforge-labels preset: known outcomes (`lead_id,converted_within_90_days`) as history for training.

Converted: the lead's open deal closes won and the lead becomes a customer (a lead without a deal becomes a
customer itself). Not converted: the open deal closes lost with the reason "No conversion within 90 days" (the lead
stays at opportunity, as after any lost deal), or a lead without a deal is disqualified with that reason. Each
outcome is dated at the end of the lead's 90-day window (today, if that is still ahead), never before the lead's
or the deal's latest step. A lead whose deal is already closed, or that was already decided, is left as it is, so
running a file twice changes nothing. Written set-based, with the same history rows the services write.
"""

import csv
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from leadflow.bulk import database_datetime, insert_rows, update_rows
from leadflow.errors import InvalidInput
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, LifecycleStage, StageChange
from leadflow.leads.services import refresh_lead_history
from leadflow.pipeline.models import LostReason, Opportunity, OpportunityStageChange, Stage
from leadflow.pipeline.services import refresh_deal_history

from .report import FIRST_ROW, ImportReport

NO_CONVERSION = "No conversion within 90 days"
WINDOW = timedelta(days=90)
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _read(path: Path, report: ImportReport) -> dict[str, tuple[int, bool]]:
    """{lead external id: (row number, converted)} for every valid row."""
    outcomes: dict[str, tuple[int, bool]] = {}
    counts = report.table("labels")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"lead_id", "converted_within_90_days"} <= set(reader.fieldnames or []):
            raise InvalidInput.on("path", "A labels file has the columns lead_id,converted_within_90_days.")
        for number, row in enumerate(reader, start=FIRST_ROW):
            counts.read += 1
            value = (row["converted_within_90_days"] or "").strip().lower()
            if value not in TRUE + FALSE:
                report.reject("labels", number, "converted_within_90_days", f"Not true or false: {value!r}.")
                continue
            outcomes[(row["lead_id"] or "").strip()] = (number, value in TRUE)
    return outcomes


def import_labels(path: Path, *, dry_run: bool = False) -> ImportReport:
    """Record the known outcomes in the file; a lead already decided is left as it is."""
    report = ImportReport(dry_run=dry_run)
    started = time.perf_counter()
    outcomes = _read(path, report)
    counts = report.table("labels")
    with transaction.atomic():
        lost_reason, _ = LostReason.objects.get_or_create(name=NO_CONVERSION)
        leads = Lead.objects.filter(external_id__in=list(outcomes)).annotate(last_step=Max("stage_changes__at"))
        deals: dict[int, list[Any]] = {}
        for deal in (
            Opportunity.objects.filter(lead__external_id__in=list(outcomes))
            .annotate(last_move=Max("stage_changes__at"))
            .order_by("created_at", "id")
            .values_list("pk", "lead_id", "pipeline_id", "stage_id", "closed_at", "last_move", named=True)
        ):
            deals.setdefault(deal.lead_id, []).append(deal)
        closing = _closing_stages()
        deal_updates, deal_moves, lead_steps = [], [], []
        found = set()
        now = timezone.now()
        saved = database_datetime(now)
        for lead in leads.values_list("pk", "external_id", "lifecycle_stage", "created_at", "last_step"):
            pk, external_id, stage, created, last_step = lead
            found.add(external_id)
            converted = outcomes[str(external_id)][1]
            at = min(created + WINDOW, now)
            open_deal = next((deal for deal in deals.get(pk, []) if deal.closed_at is None), None)
            if open_deal is not None:
                to_stage = closing[open_deal.pipeline_id][0 if converted else 1]
                deal_at = database_datetime(_not_before(at, open_deal.last_move))
                deal_updates.append((to_stage, deal_at, None if converted else lost_reason.pk, saved, open_deal.pk))
                reason = "Closed won" if converted else "Closed lost"
                deal_moves.append((open_deal.pk, open_deal.stage_id, to_stage, deal_at, reason))
                if converted and is_allowed(stage, LifecycleStage.CUSTOMER):
                    why = f"Opportunity {open_deal.pk} closed won"
                    lead_steps.append((pk, stage, LifecycleStage.CUSTOMER, deal_at, why))
            else:
                target = LifecycleStage.CUSTOMER if converted else LifecycleStage.DISQUALIFIED
                if pk in deals or not is_allowed(stage, target):
                    counts.duplicate += 1  # its deal is closed already, or the lead was decided before
                    continue
                why = "Converted within 90 days (known outcome)" if converted else NO_CONVERSION
                lead_steps.append((pk, stage, target, database_datetime(_not_before(at, last_step)), why))
            counts.updated += 1
        for external_id in outcomes.keys() - found:
            report.reject("labels", outcomes[external_id][0], "lead_id", f"No lead {external_id!r}; import it first.")
        update_rows(Opportunity, ["stage", "closed_at", "lost_reason", "updated_at"], deal_updates)
        update_rows(Lead, ["lifecycle_stage", "updated_at"], [(step[2], saved, step[0]) for step in lead_steps])
        insert_rows(
            OpportunityStageChange, ["opportunity_id", "from_stage_id", "to_stage_id", "at", "reason"], deal_moves
        )
        insert_rows(StageChange, ["lead_id", "from_stage", "to_stage", "at", "reason"], lead_steps)
        refresh_deal_history(sorted({move[0] for move in deal_moves}))
        refresh_lead_history(sorted({step[0] for step in lead_steps}))
        if dry_run:
            transaction.set_rollback(True)
    report.seconds = time.perf_counter() - started
    return report


def _not_before(moment: datetime, earliest: datetime | None) -> datetime:
    return max(moment, earliest) if earliest is not None else moment


def _closing_stages() -> dict[int, tuple[int, int]]:
    """{pipeline id: (its won stage id, its lost stage id)}."""
    won = dict(Stage.objects.filter(is_won=True).values_list("pipeline_id", "pk"))
    lost = dict(Stage.objects.filter(is_lost=True).values_list("pipeline_id", "pk"))
    return {pipeline: (won[pipeline], lost[pipeline]) for pipeline in won.keys() & lost.keys()}
