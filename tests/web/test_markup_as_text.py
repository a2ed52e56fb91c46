"""Markup and template syntax typed into names, notes, subjects and merge fields shows as text: on every page, in
every email, never run (no script, no template tag evaluated)."""

import pytest
from django.core import mail

from leadflow.nurture.selectors import preview_email
from leadflow.nurture.services import save_segment, save_sequence, save_template
from leadflow.pipeline.models import Stage
from leadflow.pipeline.services import add_lost_reason, convert_lead, log_activity, update_stage
from leadflow.users.models import Notification, Role
from leadflow.users.services import create_team, notify

from ..clients import signed_in
from ..factories import AccountFactory, ContactFactory, LeadFactory
from ..pages import page_addresses

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
# What a template engine would make of the text were it evaluated: neither may ever show. The "~" keeps them out of
# the random tokens a page carries (a CSRF token is letters and digits: "QQE" turns up in one now and then).
TAGS = '{% filter upper %}qq~i{% endfilter %}{{ "qq~e"|upper }}'
PAYLOAD = f"Ann{SCRIPT}{TAGS}"  # short enough for a 100-character name with a word in front
EVALUATED = ("QQ~I", "QQ~E")


@pytest.fixture
def marked_up(admin, manager, marketer, rep, east):
    """A world whose every free-text field holds markup and template syntax."""
    for user in (admin, manager, marketer, rep):
        user.first_name = PAYLOAD
        user.save()
    account = AccountFactory(name=f"Acme {PAYLOAD}")
    contact = ContactFactory(first_name=PAYLOAD, last_name=PAYLOAD, job_title=PAYLOAD, account=account)
    lead = LeadFactory(contact=contact, owner=rep, team=east, company_name=PAYLOAD, need=PAYLOAD)
    log_activity(by=rep, kind="call", subject=PAYLOAD, body=PAYLOAD, lead=lead, is_done=False)
    deal, _ = convert_lead(LeadFactory(contact=contact, owner=rep, team=east), by=rep, name=f"Deal {PAYLOAD}")
    log_activity(by=rep, kind="note", subject=PAYLOAD, body=PAYLOAD, opportunity=deal)
    template = save_template(
        None, by=marketer, name=f"Welcome {PAYLOAD}", subject="Hi {{ contact.first_name }}",
        body="<p>Hi {{ contact.first_name }} of {{ account.name }}</p>",
    )  # fmt: skip
    save_segment(None, by=marketer, name=f"Segment {PAYLOAD}", description=PAYLOAD, match="all", conditions=[])
    save_sequence(None, by=marketer, name=f"Sequence {PAYLOAD}")
    create_team(by=admin, name=f"Team {PAYLOAD}")
    add_lost_reason(by=admin, name=f"Reason {PAYLOAD}")
    update_stage(Stage.objects.order_by("pk").first(), by=admin, name=f"Stage {PAYLOAD}", probability=10)
    Notification.objects.create(user=rep, text=PAYLOAD)
    return {"lead": lead, "template": template}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.MARKETING, Role.SALES])
def test_every_page_shows_markup_as_text(request, marked_up, role):
    user = request.getfixturevalue({"admin": "admin", "manager": "manager", "marketing": "marketer"}.get(role, "rep"))
    client = signed_in(user)
    shown = 0
    for address in page_addresses(user):
        response = client.get(address)
        if response.status_code != 200 or "text/html" not in response["Content-Type"]:
            continue
        page = response.content.decode()
        assert SCRIPT not in page, address
        assert not any(word in page for word in EVALUATED), address
        shown += "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert shown >= 5  # the pages did show the fields, as text


def test_an_email_shows_merge_fields_as_text(marked_up):
    email = preview_email(marked_up["template"], marked_up["lead"])
    assert email.subject == f"Hi {PAYLOAD}"  # a subject is plain text: the characters, not a tag
    assert SCRIPT not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert not any(word in email.html + email.text + email.subject for word in EVALUATED)


def test_a_template_preview_page_shows_the_merged_markup_as_text(marked_up, marketer):
    page = signed_in(marketer).get(
        f"/nurture/templates/{marked_up['template'].pk}/preview/?lead={marked_up['lead'].pk}"
    )
    text = page.content.decode()
    assert SCRIPT not in text and not any(word in text for word in EVALUATED)


def test_a_notification_email_is_plain_text_with_the_characters_as_typed(rep, django_capture_on_commit_callbacks):
    rep.email = "sam@example.com"
    rep.save()
    with django_capture_on_commit_callbacks(execute=True):
        notify([rep], f"SLA missed on {PAYLOAD}")
    (message,) = mail.outbox
    assert message.body == f"SLA missed on {PAYLOAD}" and not message.alternatives
