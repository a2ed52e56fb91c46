"""The demo world's front doors: the sample site's two forms (a demo request and a newsletter with double opt-in),
a Facebook Lead Ads source, and a few weeks of what came through them, all through the real capture services."""

import random
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from leadflow.accounts.models import Account
from leadflow.capture.models import Door, Form
from leadflow.capture.services import accept, confirm_submission, receive, save_form, save_source
from leadflow.capture.services.submissions import confirmation_link
from leadflow.nurture.models import Sequence
from leadflow.users.models import User

DEMO_REQUEST = "request-a-demo"
NEWSLETTER = "newsletter"
SITE_ORIGINS = "https://www.example.com"  # where the sample site would live in production

DEMO_FIELDS: list[dict[str, Any]] = [
    {"label": "Work email", "name": "email", "target": "email"},
    {"label": "First name", "name": "first_name", "target": "first_name", "required": True},
    {"label": "Last name", "name": "last_name", "target": "last_name"},
    {"label": "Company", "name": "company", "target": "company_name", "required": True},
    {"label": "Job title", "name": "job_title", "target": "job_title"},
    {"label": "Finance team size", "name": "team_size", "kind": "choice", "target": "property",
     "property_name": "finance_team_size", "choices": "1-5\n6-20\n21-100\nMore than 100"},
    {"label": "What would you like to fix first?", "name": "need", "kind": "textarea", "target": "need"},
]  # fmt: skip
NEEDS = ("Month-end close takes two weeks", "Card spend is reconciled by hand", "We need approvals before spend",
         "Our auditors want a clean trail", "")  # fmt: skip


def build_demo_capture(
    *,
    rng: random.Random,
    now: datetime,
    marketer: User,
    owner: User,
    drip: Sequence | None,
    names: list[str],
    accounts: list[Account],
) -> dict[str, int]:
    """The sample site's forms and a Facebook source, with submissions spread over the last three weeks; returns
    how many submissions and deliveries were made."""
    origins = f"{settings.PUBLIC_URL}\n{SITE_ORIGINS}"
    demo = save_form(
        None, by=marketer, name="Request a demo", slug=DEMO_REQUEST, title="See Ledgerly on your own numbers",
        intro="A 30-minute walk-through with a product specialist. We reply within one business day.",
        submit_label="Request a demo", consent_wording="Yes, email me product news and finance-team guides. "
        "I can unsubscribe at any time.", is_explicit_intent=True, notify=owner, allowed_origins=origins,
        thank_you_message="Thank you! A specialist will email you within one business day to pick a time.",
        fields=DEMO_FIELDS,
    )  # fmt: skip
    newsletter = save_form(
        None, by=marketer, name="Newsletter", slug=NEWSLETTER, title="The month-end letter",
        intro="One email a month on closing the books faster.", submit_label="Subscribe",
        consent_wording="Send me the monthly newsletter. I can unsubscribe at any time.", consent_required=True,
        double_opt_in=True, sequence=drip, allowed_origins=origins,
        thank_you_message="Almost done: confirm with the link we just emailed you.",
        fields=[{"label": "Email", "name": "email", "target": "email"},
                {"label": "First name", "name": "first_name", "target": "first_name"}],
    )  # fmt: skip
    made = 0
    for index in range(36):
        form = demo if index % 3 else newsletter
        first, last = rng.choice(names).split(" ", 1)
        at = now - timedelta(days=rng.uniform(0, 21))
        account = rng.choice(accounts)  # people of the world's companies: their leads join those accounts
        data = {
            "email": f"{first}.{last}.{index}@{account.domain}".lower(),
            "first_name": first, "last_name": last, "company": account.name, "job_title": "Controller",
            "team_size": rng.choice(("1-5", "6-20", "21-100")), "need": rng.choice(NEEDS),
            "consent": "on" if form is newsletter or rng.random() < 0.6 else "",
            "utm_source": rng.choice(("google", "linkedin", "newsletter", "")), "utm_campaign": "month-end-2026",
        }  # fmt: skip
        door = rng.choice((Door.EMBED, Door.EMBED, Door.HOSTED, Door.POST))
        outcome = accept(form, data, door=door, at=at)
        made += outcome.submission is not None
        if form is newsletter and outcome.submission is not None and rng.random() < 0.7:
            confirm_submission(confirmation_link(outcome.submission).rstrip("/").rsplit("/", 1)[1])
    source = save_source(
        None, by=marketer, name="Spring campaign", kind="facebook", secret="demo-app-secret",
        field_mapping={"full_name": "first_name", "company_name": "company_name"}, notify=owner,
    )  # fmt: skip
    deliveries = 0
    for index in range(8):
        first, last = rng.choice(names).split(" ", 1)
        lead = {"id": f"fb-{1000 + index}", "field_data": [
            {"name": "email", "values": [f"{first}.{last}.fb{index}@{rng.choice(accounts).domain}".lower()]},
            {"name": "full_name", "values": [first]}, {"name": "company_name", "values": [f"{last} & Co"]},
        ]}  # fmt: skip
        deliveries += len(receive(source, lead))
    receive(source, {"id": "fb-1000", "field_data": []})  # Facebook retried one: logged as a duplicate
    return {"form_submissions": made, "webhook_deliveries": deliveries + 1, "forms": Form.objects.count()}
