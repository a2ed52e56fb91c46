"""The lifecycle graph: which stage a lead may move to from where it stands."""

from .models import LifecycleStage as S

# The forward path; a lead may jump ahead several steps at once.
FORWARD = (S.LEAD, S.PROSPECT, S.OPPORTUNITY, S.CUSTOMER)
# Stages from which a lead can still be disqualified.
DISQUALIFIABLE = (S.LEAD, S.PROSPECT, S.OPPORTUNITY, S.RECYCLED)
# Stages only a conversion or a won deal may reach, never a hand-made transition.
REACHED_THROUGH_DEALS = {
    S.OPPORTUNITY: "convert the lead to open an opportunity",
    S.CUSTOMER: "a lead becomes a customer when its opportunity is closed won",
}
# Moves that need a reason from the user.
NEEDS_REASON = (S.DISQUALIFIED, S.RECYCLED)


def allowed_next_stages(current: str) -> list[str]:
    """Every stage a lead in `current` may move to, in lifecycle order."""
    targets: list[str] = []
    if current in FORWARD:
        targets += FORWARD[FORWARD.index(current) + 1 :]
    if current in DISQUALIFIABLE:
        targets.append(S.DISQUALIFIED)
    if current in (S.PROSPECT, S.DISQUALIFIED):
        targets.append(S.RECYCLED)
    if current == S.RECYCLED:
        targets.append(S.LEAD)
    return targets


def is_allowed(current: str, target: str) -> bool:
    return target in allowed_next_stages(current)
