"""Deciding A/B tests: promote a significant winner, or the better variant at the deadline."""

from datetime import datetime

from django.utils import timezone

from ..abtest import decide
from ..models import Delivery, DeliveryStatus, Step, StepKind

# --- A/B tests ----------------------------------------------------------------------------------------------------


def decide_ab_tests(*, at: datetime | None = None) -> int:
    """Promote the winner of every undecided A/B test that is significant now or past its deadline, recording why.
    Returns how many were decided."""
    at = at or timezone.now()
    decided = 0
    for step in Step.objects.filter(kind=StepKind.EMAIL, variant_template__isnull=False, winner=""):
        sent = Delivery.objects.filter(step=step, status=DeliveryStatus.SENT)
        metric = {"open": "opened_at", "click": "clicked_at", "reply": "replied_at"}[step.test_metric]
        counts = {}
        for variant in "AB":
            mine = sent.filter(variant=variant)
            counts[variant] = (mine.count(), mine.filter(**{f"{metric}__isnull": False}).count())
        deadline_passed = step.test_deadline is not None and step.test_deadline <= at
        verdict = decide(counts, metric=step.get_test_metric_display().lower(), deadline_passed=deadline_passed)
        if verdict is not None:
            Step.objects.filter(pk=step.pk, winner="").update(
                winner=verdict.winner, decided_at=at, decision=verdict.why
            )
            decided += 1
    return decided
