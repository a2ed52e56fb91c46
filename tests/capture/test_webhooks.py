"""Lead-ads webhooks: signatures, the three payload shapes, idempotence by payload id, the log and replay."""

import hashlib
import hmac
import json

import pytest
from django.test import Client

from leadflow.capture.models import WebhookDelivery
from leadflow.capture.services import replay, save_source
from leadflow.leads.models import Lead

pytestmark = pytest.mark.django_db

FACEBOOK = {
    "object": "page",
    "entry": [{"id": "1001", "time": 1733460000, "changes": [{"field": "leadgen", "value": {
        "leadgen_id": "444444", "form_id": "555", "page_id": "1001", "created_time": 1733460000,
        "field_data": [{"name": "email", "values": ["grace@navy.mil"]}, {"name": "full_name", "values": ["Grace"]},
                       {"name": "company_name", "values": ["Navy"]}],
    }}]}],
}  # fmt: skip
LINKEDIN = {
    "id": "urn:li:leadFormResponse:abc",
    "submittedAt": 1733460000000,
    "formResponse": {"answers": [
        {"questionId": 1, "answerDetails": {"textQuestionAnswer": {"answer": "linus@kernel.org"}}},
        {"questionId": 2, "answerDetails": {"textQuestionAnswer": {"answer": "Linus"}}},
    ]},
}  # fmt: skip


def signed_post(source, payload, header, prefix="sha256="):
    body = json.dumps(payload).encode()
    signature = hmac.new(source.secret.encode(), body, hashlib.sha256).hexdigest()
    return Client().post(f"/hooks/{source.key}/", body, content_type="application/json",
                         headers={header: prefix + signature})  # fmt: skip


@pytest.fixture
def facebook(marketer):
    return save_source(None, by=marketer, name="Spring ads", kind="facebook", secret="app-secret-123",
                       field_mapping={"full_name": "first_name"})  # fmt: skip


def test_a_facebook_lead_makes_a_lead_with_its_mapped_fields(facebook):
    response = signed_post(facebook, FACEBOOK, "X-Hub-Signature-256")
    assert response.status_code == 200
    assert response.json()["deliveries"][0]["result"] == "created"
    lead = Lead.objects.get(contact__email="grace@navy.mil")
    assert lead.contact.first_name == "Grace" and lead.company_name == "Navy"
    assert lead.source_detail == "Lead ads: Spring ads (Facebook Lead Ads)"


def test_the_same_payload_id_twice_makes_one_lead(facebook):
    signed_post(facebook, FACEBOOK, "X-Hub-Signature-256")
    second = signed_post(facebook, FACEBOOK, "X-Hub-Signature-256")
    assert second.json()["deliveries"][0]["result"] == "duplicate"
    assert Lead.objects.count() == 1
    assert list(WebhookDelivery.objects.order_by("pk").values_list("result", flat=True)) == ["created", "duplicate"]


def test_an_unsigned_or_badly_signed_delivery_is_refused(facebook):
    body = json.dumps(FACEBOOK)
    assert Client().post(f"/hooks/{facebook.key}/", body, content_type="application/json").status_code == 401
    forged = Client().post(f"/hooks/{facebook.key}/", body, content_type="application/json",
                           headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})  # fmt: skip
    assert forged.status_code == 401 and not Lead.objects.exists()


def test_facebook_subscription_check_answers_the_challenge(facebook):
    query = {"hub.mode": "subscribe", "hub.verify_token": "app-secret-123", "hub.challenge": "1158201444"}
    response = Client().get(f"/hooks/{facebook.key}/", query)
    assert response.status_code == 200 and response.content == b"1158201444"


def test_a_linkedin_response_maps_question_ids(marketer):
    source = save_source(None, by=marketer, name="LinkedIn", kind="linkedin", secret="client-secret",
                         field_mapping={"1": "email", "2": "first_name"})  # fmt: skip
    response = signed_post(source, LINKEDIN, "X-LI-Signature", prefix="hmacsha256=")
    assert response.json()["deliveries"][0]["result"] == "created"
    assert Lead.objects.get().contact.first_name == "Linus"


def test_a_generic_source_with_a_shared_secret(marketer):
    source = save_source(None, by=marketer, name="Partner", kind="generic", auth="secret", secret="s3cret-value")
    payload = {"id": "p-1", "fields": {"email": "ken@unix.org", "need": "A faster build", "tier": "gold"}}
    source.field_mapping = {"tier": "property:tier"}
    source.save()
    wrong = Client().post(f"/hooks/{source.key}/", payload, content_type="application/json",
                          headers={"X-Leadflow-Secret": "nope"})  # fmt: skip
    assert wrong.status_code == 401
    right = Client().post(f"/hooks/{source.key}/", payload, content_type="application/json",
                          headers={"X-Leadflow-Secret": "s3cret-value"})  # fmt: skip
    assert right.status_code == 200
    lead = Lead.objects.get()
    assert lead.need == "A faster build" and lead.contact.attributes == {"tier": "gold"}


def test_a_failed_delivery_is_logged_and_replays_once_the_mapping_is_fixed(marketer):
    source = save_source(None, by=marketer, name="Partner", kind="generic", auth="secret", secret="s3cret-value")
    payload = {"id": "p-2", "fields": {"mail": "dennis@bell-labs.com"}}
    response = Client().post(f"/hooks/{source.key}/", payload, content_type="application/json",
                             headers={"X-Leadflow-Secret": "s3cret-value"})  # fmt: skip
    delivery = WebhookDelivery.objects.get()
    assert response.json()["deliveries"][0]["result"] == "failed" and "email" in delivery.message
    save_source(source, by=marketer, field_mapping={"mail": "email"})
    delivery.refresh_from_db()
    delivery.source.refresh_from_db()
    assert replay(delivery, by=marketer).result == "created"
    assert Lead.objects.get().contact.email == "dennis@bell-labs.com"


def test_a_mapping_to_an_unknown_field_is_refused(marketer):
    from leadflow.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        save_source(None, by=marketer, name="X", kind="generic", field_mapping={"a": "shoe_size"})
    assert "field_mapping" in refused.value.errors
