"""The consent ledger and nurture: marketing email goes only with a given consent or the imported opt-in flag."""

import pytest

from leadflow.consent.models import Consent, ConsentStatus, Purpose
from leadflow.consent.services import confirm_consent, record_consent, withdraw_consent
from leadflow.errors import InvalidInput
from leadflow.nurture.services import set_email_consent

from ..factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_consent_keeps_the_wording_and_the_door():
    contact = ContactFactory()
    consent = record_consent(
        contact, purpose=Purpose.MARKETING_EMAIL, wording="  Email me news. ", through="Form: Newsletter (embedded)",
        confirmed=True, ip_address="192.0.2.1",
    )  # fmt: skip
    assert (consent.status, consent.wording, consent.through) == (
        ConsentStatus.GIVEN,
        "Email me news.",
        "Form: Newsletter (embedded)",
    )
    assert consent.confirmed_at == consent.given_at and str(consent.ip_address) == "192.0.2.1"


def test_one_record_per_person_and_purpose_and_a_given_consent_stays_given():
    contact = ContactFactory()
    record_consent(contact, purpose=Purpose.MARKETING_EMAIL, wording="A", through="x", confirmed=True)
    again = record_consent(contact, purpose=Purpose.MARKETING_EMAIL, wording="B", through="y", confirmed=False)
    assert Consent.objects.count() == 1 and again.status == ConsentStatus.GIVEN and again.wording == "A"


def test_consent_needs_wording():
    with pytest.raises(InvalidInput) as refused:
        record_consent(ContactFactory(), purpose=Purpose.MARKETING_EMAIL, wording=" ", through="x", confirmed=True)
    assert "wording" in refused.value.errors


def test_an_unsubscribe_withdraws_the_consent():
    contact = ContactFactory()
    record_consent(contact, purpose=Purpose.MARKETING_EMAIL, wording="Yes", through="x", confirmed=True)
    set_email_consent(contact, opted_in=False, how="unsubscribe page")
    consent = Consent.objects.get()
    assert consent.status == ConsentStatus.WITHDRAWN and consent.withdrawn_at is not None


def test_confirming_makes_an_awaiting_consent_count():
    consent = record_consent(ContactFactory(), purpose=Purpose.MARKETING_EMAIL, wording="Yes", through="x",
                             confirmed=False)  # fmt: skip
    assert consent.status == ConsentStatus.AWAITING_CONFIRMATION and consent.confirmed_at is None
    assert (
        confirm_consent(consent).status == ConsentStatus.GIVEN
        and withdraw_consent(consent.contact, purpose=Purpose.MARKETING_EMAIL) == 1
    )
