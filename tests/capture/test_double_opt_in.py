"""Double opt-in: consent waits for the emailed link, which a real SMTP server on loopback receives."""

import re

import pytest
from django.test import Client

from leadflow.capture.models import Submission
from leadflow.capture.services import save_form
from leadflow.consent.models import Consent, ConsentStatus

from ..nurture.test_smtp import smtp  # noqa: F401 - the loopback SMTP server fixture
from .conftest import answers

pytestmark = pytest.mark.django_db(transaction=True)


def test_consent_counts_once_the_emailed_link_is_followed(smtp, settings, marketer):  # noqa: F811
    inbox, port = smtp
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.PUBLIC_URL = "http://testserver"
    form = save_form(
        None, by=marketer, name="Newsletter", consent_wording="Send me the monthly newsletter.",
        consent_required=True, double_opt_in=True, fields=[{"label": "Email", "target": "email"}],
    )  # fmt: skip
    data = answers(form)
    assert Client().post(f"/forms/{form.key}/submit", data).status_code == 201
    consent = Consent.objects.get()
    assert consent.status == ConsentStatus.AWAITING_CONFIRMATION
    (message,) = inbox.messages
    assert message["To"] == "ada@lovelace.io"
    body = message.get_content()
    assert "Send me the monthly newsletter." in body
    link = re.search(r"http://testserver(/f/confirm/\S+/)", body)[1]

    assert Client().get(link.replace("/f/confirm/", "/f/confirm/x")).status_code == 404
    response = Client().get(link)
    assert response.status_code == 200 and b"you are confirmed" in response.content
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.GIVEN and consent.confirmed_at is not None
    assert Submission.objects.get().confirmed_at is not None


def test_consent_required_refuses_an_unticked_box(marketer):
    form = save_form(
        None, by=marketer, name="Newsletter", consent_wording="Send me the newsletter.", consent_required=True,
        fields=[{"label": "Email", "target": "email"}],
    )  # fmt: skip
    data = answers(form)
    del data["consent"]
    response = Client().post(f"/forms/{form.key}/submit", data, headers={"Accept": "application/json"})
    assert response.status_code == 422 and "consent" in response.json()["errors"]
