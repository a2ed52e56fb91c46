"""CRUD, filters and pagination for each resource of the API."""

import pytest

from leadflow.accounts.models import Account, Contact

from ..factories import AccountFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_accounts_are_created_read_updated_and_deleted(api_as, manager):
    api = api_as(manager)
    created = api.post("/accounts", {"name": "Northwind", "domain": "WWW.Northwind.example", "employee_band": "50-199"})
    assert created.status_code == 201
    account = created.json()
    assert account["domain"] == "northwind.example"
    assert api.patch(f"/accounts/{account['id']}", {"industry": "logistics"}).json()["industry"] == "logistics"
    assert api.get(f"/accounts/{account['id']}").json()["name"] == "Northwind"
    assert api.delete(f"/accounts/{account['id']}").status_code == 204
    assert not Account.objects.exists()


def test_a_rep_cannot_delete_an_account(api_as, rep):
    account = AccountFactory()
    assert api_as(rep).delete(f"/accounts/{account.pk}").status_code == 403


def test_contacts_are_created_with_a_normalised_email_and_consent_time(api_as, rep):
    api = api_as(rep)
    body = api.post("/contacts", {"first_name": "Li", "email": " Li@Fabrikam.Example ", "email_opt_in": True}).json()
    assert body["email"] == "li@fabrikam.example"
    assert body["consent_recorded_at"] is not None
    assert api.get("/contacts?search=fabrikam").json()["total"] == 1
    assert Contact.objects.count() == 1


def test_leads_list_filters_and_pages(api_as, admin, rep):
    for index in range(5):
        LeadFactory(owner=rep if index % 2 else None, source="referral_partner" if index < 2 else "inbound_marketing")
    api = api_as(admin)
    page = api.get("/leads?limit=2&offset=2").json()
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (2, 5, 2, 2)
    assert api.get("/leads?source=referral_partner").json()["total"] == 2
    assert api.get(f"/leads?owner_id={rep.pk}").json()["total"] == 2
    assert api.get("/leads?unassigned=true").json()["total"] == 3


def test_leads_are_found_by_email_name_or_company(api_as, rep):
    api = api_as(rep)
    api.post("/leads", {"email": "zed@quartz.example", "first_name": "Zed", "company_name": "Quartz Labs"})
    for term in ("zed@quartz", "Zed", "quartz labs"):
        assert api.get(f"/leads?search={term}").json()["total"] == 1


def test_the_default_pipeline_lists_its_stages_in_order(api_as, rep):
    pipeline = api_as(rep).get("/pipelines").json()[0]
    assert [(s["name"], s["probability"]) for s in pipeline["stages"]] == [
        ("Prospecting", 10),
        ("Qualification", 20),
        ("Proposal", 50),
        ("Negotiation", 70),
        ("Closed won", 100),
        ("Closed lost", 0),
    ]


def test_converting_twice_answers_201_then_200_with_the_same_deal(api_as, rep):
    lead = LeadFactory(owner=rep, company_name="Contoso")
    api = api_as(rep)
    first = api.post(f"/leads/{lead.pk}/convert", {"amount": "1000"})
    second = api.post(f"/leads/{lead.pk}/convert", {})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


def test_a_lost_deal_reopened_through_the_api_keeps_its_history(api_as, rep):
    lead = LeadFactory(owner=rep, company_name="Contoso")
    api = api_as(rep)
    deal = api.post(f"/leads/{lead.pk}/convert", {}).json()
    assert api.post(f"/opportunities/{deal['id']}/close", {"won": False, "lost_reason": "Price"}).status_code == 200
    reopened = api.post(f"/opportunities/{deal['id']}/reopen", {})
    assert reopened.json()["stage"] == "Prospecting" and reopened.json()["closed_at"] is None
    history = api.get(f"/opportunities/{deal['id']}/stage-changes").json()["items"]
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [
        (None, "Prospecting"),
        ("Prospecting", "Closed lost"),
        ("Closed lost", "Prospecting"),
    ]
    assert history[-1]["reason"].startswith("Re-opened")


def test_opportunities_filter_open_and_closed(api_as, rep):
    api = api_as(rep)
    for name in ("A", "B"):
        api.post(f"/leads/{LeadFactory(owner=rep, company_name=name).pk}/convert", {})
    closing = api.get("/opportunities").json()["items"][0]
    api.post(f"/opportunities/{closing['id']}/close", {"won": True})
    assert api.get("/opportunities?is_open=true").json()["total"] == 1
    assert api.get("/opportunities?is_open=false").json()["total"] == 1


def test_activities_are_logged_listed_completed_and_deleted(api_as, rep):
    lead = LeadFactory(owner=rep)
    api = api_as(rep)
    task = api.post("/activities", {"kind": "task", "subject": "Send deck", "lead_id": lead.pk})
    assert task.status_code == 201 and task.json()["is_done"] is False
    done = api.patch(f"/activities/{task.json()['id']}", {"is_done": True, "outcome": "sent"}).json()
    assert done["done_at"] is not None
    assert api.get(f"/activities?lead_id={lead.pk}").json()["total"] == 1
    assert api.delete(f"/activities/{task.json()['id']}").status_code == 204


def test_merging_through_the_api(api_as, rep):
    survivor, duplicate = LeadFactory(owner=rep), LeadFactory(owner=rep, need="Slow approvals")
    body = api_as(rep).post(f"/leads/{survivor.pk}/merge", {"duplicate_id": duplicate.pk}).json()
    assert body["need"] == "Slow approvals"
    assert api_as(rep).get(f"/leads/{duplicate.pk}").json()["merged_into_id"] == survivor.pk


def test_me_tells_the_caller_who_they_are(api_as, manager):
    assert api_as(manager).get("/me").json()["role"] == "manager"
