"""`leadflow snapshot [--pipeline NAME] [--on YYYY-MM-DD]`: take the week's pipeline snapshot now."""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.analytics.services import take_snapshot
from leadflow.pipeline.models import Pipeline
from leadflow.pipeline.selectors import default_pipeline


class Command(BaseCommand):
    help = "Take this week's snapshot of a pipeline for the weekly review (the worker also takes it each week)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pipeline", help="Pipeline name (the default pipeline when omitted)")
        parser.add_argument("--on", type=date.fromisoformat, help="A day in the week to file it under (YYYY-MM-DD)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["pipeline"]:
            pipeline = Pipeline.objects.filter(name=options["pipeline"]).first()
            if pipeline is None:
                raise CommandError(f"No pipeline {options['pipeline']!r}.")
        else:
            pipeline = default_pipeline()
        snapshot, taken = take_snapshot(pipeline, on=options["on"])
        count = snapshot.deals.count()
        if taken:
            self.stdout.write(f"Took the snapshot of {pipeline} for the week of {snapshot.week_of}: {count} deals.")
        else:
            self.stdout.write(f"{pipeline} already has a snapshot for the week of {snapshot.week_of} ({count} deals).")
