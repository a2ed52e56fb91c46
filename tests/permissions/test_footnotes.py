"""The policy's footnotes, which the route tables cannot say: what marketing may do depends on the lead's stage."""

import pytest

from leadflow.pipeline.services import convert_lead

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_marketing_changes_a_lead_until_sales_works_it(api_as, marketer, rep):
    nurtured = LeadFactory(owner=rep, team=rep.team)
    worked = LeadFactory(owner=rep, team=rep.team)
    convert_lead(worked, by=rep)
    api = api_as(marketer)
    assert api.patch(f"/leads/{nurtured.pk}", {"need": "Wants a demo"}).status_code == 200
    response = api.patch(f"/leads/{worked.pk}", {"need": "Wants a demo"})
    assert response.status_code == 403
    worked.refresh_from_db()
    assert worked.need == ""
