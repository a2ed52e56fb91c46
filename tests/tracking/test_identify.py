"""A visitor's anonymous history joins the person once they say who they are: through a tracked email link (a
signed token) or a leadflow form (their cookie's id); then it counts for scoring and intent like any event."""

import json

import pytest
from django.core import mail
from django.test import Client

from leadflow.engagement.models import Event
from leadflow.nurture.models import NurtureSettings
from leadflow.nurture.services import add_step, enrol_leads, run_nurture, save_sequence, save_template
from leadflow.scoring.models import LeadScore
from leadflow.scoring.services import create_rule
from leadflow.tracking.models import Hit, Visitor
from leadflow.tracking.services import IDENTITY_PARAM, identify_by_cookie, identity_token, read_identity, save_site

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db
ORIGIN = "https://www.example.com"


@pytest.fixture
def site(marketer):
    return save_site(None, by=marketer, name="Example", allowed_origins=ORIGIN, consent_required=False)


@pytest.fixture
def lead():
    return LeadFactory(contact=ContactFactory(email_opt_in=True))


def view(path, n=1):
    return {"id": f"e-{path}-{n}", "k": "page_view", "u": f"{ORIGIN}{path}", "ti": f"Title of {path}"}


def beacon(site, *events, token=None, visitor="visitor-0001"):
    body = {"v": visitor, "e": list(events)} | ({"t": token} if token else {})
    return Client().post(f"/t/{site.key}/collect", json.dumps(body), content_type="text/plain", HTTP_ORIGIN=ORIGIN)


def timeline_pages(lead):
    return list(Event.objects.filter(lead=lead, source="tracking").order_by("occurred_at", "pk").values_list(
        "type", "properties__page"))  # fmt: skip


def test_arriving_from_an_email_link_joins_the_earlier_visits_to_the_lead(site, lead):
    assert beacon(site, view("/", 1), view("/product", 2)).status_code == 204
    assert not Event.objects.filter(lead=lead).exists()  # anonymous until now
    assert beacon(site, view("/pricing", 3), token=identity_token(lead)).status_code == 204
    visitor = Visitor.objects.get()
    assert (visitor.lead, visitor.identified_by) == (lead, "email link")
    assert timeline_pages(lead) == [("page_visit", "/"), ("page_visit", "/product"), ("pricing_page_view", "/pricing")]


def test_later_visits_of_a_known_visitor_are_theirs_at_once(site, lead):
    beacon(site, view("/", 1), token=identity_token(lead))
    beacon(site, view("/docs", 2))
    assert timeline_pages(lead) == [("page_visit", "/"), ("page_visit", "/docs")]


def test_a_forged_or_foreign_token_is_refused(site, lead):
    token = identity_token(lead)
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), f"{lead.pk}.abc.def", "garbage"):
        response = beacon(site, view("/"), token=forged)
        assert response.status_code == 400 and "t" in response.json()["errors"]
    assert read_identity(token) == lead.pk
    assert not Hit.objects.exists() and not Event.objects.filter(lead=lead).exists()


def test_a_form_sent_from_the_page_joins_the_visitor_by_cookie(site, lead):
    beacon(site, view("/", 1), view("/pricing", 2))
    assert identify_by_cookie(site.key, "visitor-0001", lead, how="form") == 2
    assert identify_by_cookie(site.key, "visitor-0001", lead, how="form") == 0  # already theirs: nothing twice
    assert identify_by_cookie(site.key, "no-such-visitor", lead, how="form") == 0
    assert identify_by_cookie("no-such-key", "visitor-0001", lead, how="form") == 0
    assert timeline_pages(lead) == [("page_visit", "/"), ("pricing_page_view", "/pricing")]


def test_a_re_sent_beacon_after_identification_adds_nothing(site, lead):
    events = [view("/", 1), view("/pricing", 2)]
    beacon(site, *events, token=identity_token(lead))
    beacon(site, *events)
    assert len(timeline_pages(lead)) == 2 and Hit.objects.count() == 2


def test_a_pricing_visit_after_identification_moves_the_score_as_an_api_event_would(site, lead, marketer):
    create_rule(by=marketer, name="Pricing page", kind="engagement", event_type="pricing_page_view", points=10)
    beacon(site, view("/", 1), token=identity_token(lead))
    before = LeadScore.objects.filter(lead=lead).values_list("total", flat=True).first() or 0
    beacon(site, view("/pricing", 2))
    assert LeadScore.objects.get(lead=lead).total == before + 10


def test_only_links_to_tracked_sites_carry_the_reader_s_identity(site, lead, marketer):
    NurtureSettings.objects.create(pk=1, quiet_from=0, quiet_until=0)
    body = f'<a href="{ORIGIN}/pricing?plan=team">Plans</a> <a href="https://elsewhere.example.org/x">Other</a>'
    template = save_template(None, by=marketer, name="Plans", subject="Plans", body=body)
    sequence = save_sequence(None, by=marketer, name="Plans")
    add_step(sequence, by=marketer, kind="email", config={}, template=template)
    save_sequence(sequence, by=marketer, is_active=True)
    enrol_leads(sequence, [lead], by=marketer)
    run_nurture()
    html = mail.outbox[0].alternatives[0][0]
    tracked, other = (part.split('"')[0].replace("http://127.0.0.1:8000", "").replace("&amp;", "&")
                      for part in html.split('<a href="')[1:3])  # fmt: skip
    onward = Client().get(tracked).headers["Location"]
    assert onward.startswith(f"{ORIGIN}/pricing?plan=team&{IDENTITY_PARAM}=")
    assert read_identity(onward.split(f"{IDENTITY_PARAM}=")[1]) == lead.pk
    assert Client().get(other).headers["Location"] == "https://elsewhere.example.org/x"
