"""Deciding an A/B test: a two-proportion z-test on the step's metric, or the better rate at the deadline."""

import math
from dataclasses import dataclass

SIGNIFICANCE = 0.05  # two-sided
MIN_SENT = 30  # per variant, before a test may be called significant


@dataclass(frozen=True)
class Verdict:
    winner: str
    why: str


def two_proportion_p_value(hits_a: int, sent_a: int, hits_b: int, sent_b: int) -> float:
    """The two-sided p-value of 'A and B convert at the same rate' (pooled two-proportion z-test)."""
    if not sent_a or not sent_b:
        return 1.0
    pooled = (hits_a + hits_b) / (sent_a + sent_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / sent_a + 1 / sent_b))
    if spread == 0:
        return 1.0
    z = (hits_a / sent_a - hits_b / sent_b) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def decide(counts: dict[str, tuple[int, int]], *, metric: str, deadline_passed: bool) -> Verdict | None:
    """The winner from {variant: (sent, hits)}: once the difference is significant with at least MIN_SENT each, or
    the better rate (A on a tie) when the deadline has passed; None while the test should go on."""
    (sent_a, hits_a), (sent_b, hits_b) = counts["A"], counts["B"]
    rate_a, rate_b = (hits_a / sent_a if sent_a else 0.0), (hits_b / sent_b if sent_b else 0.0)
    p_value = two_proportion_p_value(hits_a, sent_a, hits_b, sent_b)
    winner = "B" if rate_b > rate_a else "A"
    figures = (
        f"A {hits_a}/{sent_a} {metric} ({rate_a:.1%}), B {hits_b}/{sent_b} ({rate_b:.1%}), "
        f"two-proportion z-test p = {p_value:.3f}"
    )
    if min(sent_a, sent_b) >= MIN_SENT and p_value < SIGNIFICANCE:
        return Verdict(winner, f"{winner} wins: significant at {SIGNIFICANCE:.0%}. {figures}.")
    if deadline_passed:
        if rate_a == rate_b:
            return Verdict("A", f"Deadline reached with no difference; A (the original) stays. {figures}.")
        return Verdict(winner, f"Deadline reached, not significant; {winner} had the better rate. {figures}.")
    return None
