"""The whole road from capture to closed won through the API, as a rep would drive it with curl."""

import pytest


@pytest.mark.django_db
def test_lead_to_customer_through_the_api(api_as, rep):
    api = api_as(rep)
    created = api.post("/leads", {"email": "Jane@Acme.example", "first_name": "Jane", "company_name": "Acme"})
    assert created.status_code == 201, created.json()
    lead_id = created.json()["id"]
    assert created.json()["owner_id"] == rep.pk

    assert api.post(f"/leads/{lead_id}/transition", {"to": "prospect"}).status_code == 200
    converted = api.post(f"/leads/{lead_id}/convert", {"amount": "25000.00"})
    assert converted.status_code == 201, converted.json()
    opportunity = converted.json()
    negotiation = next(s["id"] for s in api.get("/pipelines").json()[0]["stages"] if s["name"] == "Negotiation")
    moved = api.post(f"/opportunities/{opportunity['id']}/move", {"stage": negotiation})
    assert moved.json()["stage"] == "Negotiation"
    closed = api.post(f"/opportunities/{opportunity['id']}/close", {"won": True})
    assert closed.status_code == 200, closed.json()

    history = api.get(f"/leads/{lead_id}/stage-changes").json()
    assert [(c["from_stage"], c["to_stage"]) for c in history["items"]] == [
        ("", "lead"),
        ("lead", "prospect"),
        ("prospect", "opportunity"),
        ("opportunity", "customer"),
    ]
    stages = api.get(f"/opportunities/{opportunity['id']}/stage-changes").json()["items"]
    assert [s["to_stage"] for s in stages] == ["Prospecting", "Negotiation", "Closed won"]
