"""Weekly pipeline snapshots: the deals of a pipeline as they stood when the week began, kept so that the weekly
review can say what is new, what advanced, slipped, was won or lost since an earlier week."""

from django.db import models
from django.utils import timezone

from leadflow.pipeline.models import Opportunity, Pipeline, Stage


class PipelineSnapshot(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="snapshots")
    week_of = models.DateField(help_text="The Monday of the week it was taken in")
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-week_of"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "week_of"], name="one_snapshot_a_week")]

    def __str__(self) -> str:
        return f"{self.pipeline} in the week of {self.week_of}"


class RowsOfTheSameDeal(models.ForeignObject):
    """From a snapshot row to its deal's rows in every snapshot (its own among them). No column; many rows match,
    so it serves joins and filters only, never as an attribute."""

    requires_unique_target = False


class SnapshotDeal(models.Model):
    """One deal as the snapshot saw it."""

    snapshot = models.ForeignKey(
        PipelineSnapshot, on_delete=models.CASCADE, related_name="deals", db_index=False
    )  # indexed by (snapshot, opportunity)
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="snapshot_rows")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    expected_close_date = models.DateField(null=True, blank=True)
    # The review joins two snapshots on it, row to row, without passing through the deals table; null, so the join
    # is an outer one (a new deal has no earlier row).
    same_deal = RowsOfTheSameDeal(
        "self",
        on_delete=models.DO_NOTHING,
        from_fields=["opportunity"],
        to_fields=["opportunity"],
        null=True,
        related_name="+",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "opportunity"], name="a_deal_once_a_snapshot")]

    def __str__(self) -> str:
        return f"{self.opportunity_id} in {self.snapshot}"
