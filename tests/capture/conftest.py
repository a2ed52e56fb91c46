import time

import pytest
from django.core import signing

from leadflow.capture.services import save_form
from leadflow.capture.services.submissions import TOKEN_SALT

DEMO_FIELDS = [
    {"label": "Work email", "name": "email", "target": "email"},
    {"label": "First name", "name": "first_name", "target": "first_name", "required": True},
    {"label": "Company", "name": "company", "target": "company_name"},
    {"label": "Budget", "name": "budget", "kind": "number", "target": "budget_amount"},
    {"label": "Team size", "name": "team_size", "kind": "choice", "target": "property", "property_name": "team_size",
     "choices": "1-10\n11-50\n51+"},
]  # fmt: skip


@pytest.fixture
def demo_form(marketer):
    return save_form(
        None, by=marketer, name="Request a demo", consent_wording="Yes, send me product news by email.",
        allowed_origins="https://www.example.com", is_explicit_intent=True, fields=DEMO_FIELDS,
    )  # fmt: skip


def aged_token(form, seconds: float = 10) -> str:
    """A token signed `seconds` ago, as a person who took that long to fill the form would send it."""
    signer = signing.TimestampSigner(salt=TOKEN_SALT)
    signer.timestamp = lambda: signing.b62_encode(int(time.time() - seconds))  # type: ignore[method-assign]
    return signer.sign(form.key)


def answers(form, **extra):
    return {"_lf_token": aged_token(form), "email": "ada@lovelace.io", "first_name": "Ada", "company": "Engines",
            "budget": "25000", "team_size": "11-50", "consent": "on", "utm_source": "newsletter", **extra}  # fmt: skip
