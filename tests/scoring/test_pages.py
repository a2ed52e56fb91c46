"""Scores in the web app: the lead page says why, the leads table sorts by score."""

import pytest
from django.test import Client

from leadflow.scoring.services import create_rule, rescore_leads

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(marketer, rep):
    create_rule(by=marketer, name="Senior buyer", kind="fit", field="seniority", matcher="any_of", value=["vp"],
                points=40)  # fmt: skip
    create_rule(by=marketer, name="Student address", kind="fit", field="email_domain", matcher="ends_with_any",
                value=[".edu"], points=-25)  # fmt: skip
    senior = LeadFactory(contact=ContactFactory(seniority="vp", first_name="Veraqx"), owner=rep, team=rep.team)
    student = LeadFactory(contact=ContactFactory(email="sam@uni.edu", first_name="Stuqx"), owner=rep, team=rep.team)
    rescore_leads()
    return senior, student


def page(user, url):
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_lead_page_shows_the_score_and_why(rep, scored):
    senior, student = scored
    assert "+40" in page(rep, f"/leads/{senior.pk}/") and "Senior buyer" in page(rep, f"/leads/{senior.pk}/")
    student_page = page(rep, f"/leads/{student.pk}/")
    assert "-25" in student_page and "Student address" in student_page


def test_the_leads_table_sorts_by_best_score_unscored_last(rep, scored):
    LeadFactory(contact=ContactFactory(first_name="Unaqx"), owner=rep, team=rep.team)  # created after the rescore
    table = page(rep, "/leads/?sort=-score")
    assert table.index("Veraqx") < table.index("Stuqx") < table.index("Unaqx")


def test_an_unscored_lead_says_how_scores_come(rep):
    lead = LeadFactory(owner=rep, team=rep.team)
    assert "Not scored yet" in page(rep, f"/leads/{lead.pk}/")


@pytest.mark.usefixtures("scored")
def test_my_day_lines_up_the_hottest_leads_with_why_and_next_step(rep):
    day = page(rep, "/")
    hot = day[day.index("Hottest leads") :]
    assert hot.index("Veraqx") < hot.index("Stuqx")
    assert "+40" in hot and "Senior buyer" in hot and "none planned" in hot
