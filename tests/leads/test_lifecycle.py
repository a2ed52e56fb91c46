"""The lifecycle graph: every allowed and refused step."""

import pytest

from leadflow.leads.lifecycle import allowed_next_stages, is_allowed

FORWARD_STEPS = [
    ("lead", "prospect"),
    ("lead", "opportunity"),
    ("lead", "customer"),
    ("prospect", "opportunity"),
    ("prospect", "customer"),
    ("opportunity", "customer"),
]
SIDE_STEPS = [
    ("lead", "disqualified"),
    ("prospect", "disqualified"),
    ("opportunity", "disqualified"),
    ("recycled", "disqualified"),
    ("prospect", "recycled"),
    ("disqualified", "recycled"),
    ("recycled", "lead"),
]
REFUSED_STEPS = [
    ("prospect", "lead"),
    ("opportunity", "prospect"),
    ("customer", "opportunity"),
    ("customer", "disqualified"),
    ("customer", "recycled"),
    ("lead", "recycled"),
    ("opportunity", "recycled"),
    ("disqualified", "lead"),
    ("disqualified", "prospect"),
    ("recycled", "prospect"),
    ("lead", "lead"),
]


@pytest.mark.parametrize(("current", "target"), FORWARD_STEPS)
def test_a_lead_moves_forward_one_or_more_steps(current, target):
    assert is_allowed(current, target)


@pytest.mark.parametrize(("current", "target"), SIDE_STEPS)
def test_side_exits_and_the_way_back_are_allowed(current, target):
    assert is_allowed(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED_STEPS)
def test_other_steps_are_refused(current, target):
    assert not is_allowed(current, target)


def test_a_customer_has_nowhere_to_go():
    assert allowed_next_stages("customer") == []
