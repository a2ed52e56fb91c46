"""Nurture: segments in SQL, safe templates, every step type, exits, re-entry, throttling, quiet hours, suppression,
tracking and the A/B decision (emails through Django's locmem backend; test_smtp.py uses a real SMTP server)."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from smtplib import SMTPRecipientsRefused
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.core.signing import Signer
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leadflow.engagement.models import Event
from leadflow.engagement.services import EventIn, ingest_events
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.services import record_lifecycle_change
from leadflow.nurture.abtest import decide, two_proportion_p_value
from leadflow.nurture.emails import (
    MERGE_COLUMNS,
    OPEN_SALT,
    UNSUBSCRIBE_SALT,
    _signer,
    merge_context,
    merge_fields,
    plain_text,
    read_token,
    render_email,
    tracking_urls,
)
from leadflow.nurture.models import (
    Delivery,
    Enrolment,
    EnrolmentStatus,
    NurtureSettings,
    Segment,
    Step,
    Suppression,
)
from leadflow.nurture.selectors import leads_in_segment, preview_email, sequence_stats
from leadflow.nurture.services import (
    _settle,
    add_step,
    decide_ab_tests,
    enrol_from_segments,
    enrol_leads,
    record_outcome,
    run_due_steps,
    run_nurture,
    save_segment,
    save_sequence,
    save_template,
    send_queued,
    sending,
    wait_until,
)
from leadflow.nurture.services.sending import RESERVED
from leadflow.pipeline.models import Activity
from leadflow.scoring.models import LeadScore
from leadflow.users.models import Notification

from ..factories import AccountFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db
# Noon UTC a week ahead: enrolments made now are due by then.
NOON = (timezone.now() + timedelta(days=7)).astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def daytime_anywhere(db):
    """No quiet hours unless a test sets them."""
    NurtureSettings.objects.create(pk=1, quiet_from=0, quiet_until=0)


def _lead(**contact):
    contact.setdefault("email_opt_in", True)
    return LeadFactory(contact=ContactFactory(**contact))


def _segment(marketer, *conditions, match="all"):
    name = f"Segment {Segment.objects.count() + 1}"
    return save_segment(None, by=marketer, name=name, match=match, conditions=list(conditions))


def _members(segment):
    return set(leads_in_segment(segment).values_list("pk", flat=True))


# --- segments -----------------------------------------------------------------------------------------------------


def test_field_conditions(marketer):
    vp = _lead(seniority="vp", job_title="VP Finance", account=AccountFactory(industry="retail", region="DACH"))
    ic = _lead(seniority="individual_contributor", job_title="Analyst", email_opt_in=False)
    LeadScore.objects.create(lead=vp, total=70, icp_match=80)
    LeadScore.objects.create(lead=ic, total=10)
    assert _members(_segment(marketer, {"field": "seniority", "op": "in", "value": ["vp", "c_suite"]})) == {vp.pk}
    assert _members(_segment(marketer, {"field": "industry", "op": "not_in", "value": ["retail"]})) == {ic.pk}
    assert _members(_segment(marketer, {"field": "job_title", "op": "contains", "value": "finance"})) == {vp.pk}
    assert _members(_segment(marketer, {"field": "score", "op": "gte", "value": 50})) == {vp.pk}
    assert _members(_segment(marketer, {"field": "email_opt_in", "op": "is", "value": False})) == {ic.pk}
    either = _segment(
        marketer, {"field": "region", "op": "in", "value": ["DACH"]}, {"field": "score", "op": "lte", "value": 10},
        match="any",
    )  # fmt: skip
    assert _members(either) == {vp.pk, ic.pk}
    record_lifecycle_change(ic, to=LifecycleStage.DISQUALIFIED, by=None, reason="Student")
    assert _members(either) == {vp.pk}  # only leads still to be nurtured


def test_behaviour_conditions(marketer, admin):
    now = timezone.now()
    pricing, opener, quiet = _lead(), _lead(), _lead()
    ingest_events(
        [
            EventIn(type="pricing_page_view", occurred_at=now - timedelta(days=3), lead_id=pricing.pk,
                    properties={"page": "/pricing"}),
            EventIn(type="pricing_page_view", occurred_at=now - timedelta(days=40), lead_id=opener.pk),
            EventIn(type="email_open", occurred_at=now - timedelta(days=1), lead_id=opener.pk),
            EventIn(type="email_open", occurred_at=now - timedelta(days=2), lead_id=opener.pk),
            EventIn(type="email_open", occurred_at=now - timedelta(days=2), lead_id=pricing.pk),
        ],
        by=admin,
    )  # fmt: skip
    Lead.objects.filter(pk=quiet.pk).update(last_activity_at=now - timedelta(days=45))
    visited = {"field": "event", "type": "pricing_page_view", "op": "at_least", "value": 1, "within_days": 14}
    assert _members(_segment(marketer, visited)) == {pricing.pk}
    page = {**visited, "within_days": None, "property": "page", "contains": "pricing"}
    assert _members(_segment(marketer, page)) == {pricing.pk}
    assert _members(_segment(marketer, {"field": "event", "type": "email_open", "op": "at_least", "value": 2})) == {
        opener.pk
    }
    never = {"field": "event", "type": "email_open", "op": "none"}
    assert _members(_segment(marketer, never)) == {quiet.pk}
    assert _members(_segment(marketer, {"field": "inactive_days", "op": "gte", "value": 30})) == {quiet.pk}


def test_segments_are_validated_and_for_marketing(marketer, rep):
    with pytest.raises(NotAllowed):
        save_segment(None, by=rep, name="x", conditions=[])
    with pytest.raises(InvalidInput) as error:
        save_segment(None, by=marketer, name="x", conditions=[{"field": "seniority", "op": "in", "value": ["king"]}])
    assert list(error.value.errors) == ["conditions[0].value"]
    with pytest.raises(InvalidInput) as error:
        save_segment(None, by=marketer, name="x", conditions=[{"field": "event", "type": "nap", "op": "none"}])
    assert list(error.value.errors) == ["conditions[0].type"]
    twice = {"field": "event", "type": "email_open", "op": "at_least", "value": 0}
    with pytest.raises(InvalidInput) as error:
        save_segment(None, by=marketer, name="x", conditions=[twice])
    assert error.value.errors == {"conditions[0].value": ["Must be a whole number of times, at least 1."]}


# --- templates ----------------------------------------------------------------------------------------------------


def test_merge_fields_are_escaped_and_fall_back(marketer):
    lead = _lead(first_name="<b>Ann</b>", last_name="Lee")
    template = save_template(
        None, by=marketer, name="Hello", subject="Hi {{ contact.first_name|default:'there' }}",
        body='<p>Hi {{ contact.first_name }}, {{ account.name }} {{ contact.nickname|default:"friend" }}</p>'
             '<p><a href="https://example.com/guide">Read</a> · <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )  # fmt: skip
    email = preview_email(template, lead)
    assert email.subject == "Hi <b>Ann</b>"  # a subject is text, not HTML
    assert "Hi &lt;b&gt;Ann&lt;/b&gt;" in email.html and "friend" in email.html
    assert "Read (https://example.com/guide)" in email.text and "<p>" not in email.text
    nobody = _lead(first_name="")
    assert preview_email(template, nobody).subject == "Hi there"
    with pytest.raises(InvalidInput) as error:
        save_template(None, by=marketer, name="Bad", subject="x", body="{% include 'web/base.html' %}")
    assert error.value.errors == {"body": ["The tag {% include %} is not allowed in emails."]}
    with pytest.raises(InvalidInput) as error:
        save_template(None, by=marketer, name="Bad", subject="x", body="{% if %}")
    assert "body" in error.value.errors


def test_a_batch_reads_the_merge_fields_a_lead_gives_and_falls_back_without_account_or_owner(marketer):
    owned = _lead(first_name="Ann", last_name="Lee")
    Lead.objects.filter(pk=owned.pk).update(owner=marketer)
    alone = LeadFactory(
        contact=ContactFactory(first_name="", last_name="", email=None, account=None), company_name="Acme"
    )
    batch = {row[0]: row[1:] for row in Lead.objects.values_list("pk", *MERGE_COLUMNS)}
    for lead in Lead.objects.filter(pk__in=[owned.pk, alone.pk]):
        assert merge_fields(lead) == dict(zip(MERGE_COLUMNS, batch[lead.pk], strict=True))
    context = merge_context(merge_fields(Lead.objects.get(pk=alone.pk)), unsubscribe_url="#")
    assert context["account"] == {"name": "Acme", "industry": ""}
    assert context["owner"] == {"first_name": "", "last_name": "", "email": "", "name": ""}
    assert context["contact"]["name"] == f"Contact {alone.contact_id}" and context["contact"]["email"] == ""
    context = merge_context(merge_fields(Lead.objects.get(pk=owned.pk)), unsubscribe_url="#")
    assert context["contact"]["name"] == "Ann Lee" and context["owner"]["name"] == str(marketer)
    assert context["account"]["name"] == owned.contact.account.name


def test_tracking_tokens_are_djangos_signed_values_and_old_keys_still_read_them(settings):
    token = tracking_urls(41)["unsubscribe"].rstrip("/").rsplit("/", 1)[-1]
    assert token == Signer(salt=UNSUBSCRIBE_SALT).sign("41") and read_token(token, UNSUBSCRIBE_SALT) == "41"
    assert read_token(token.replace("41:", "42:"), UNSUBSCRIBE_SALT) is None
    assert read_token(token, OPEN_SALT) is None
    old = Signer(key="an-old-secret-key-that-was-rotated-out", salt=OPEN_SALT).sign("7")
    assert read_token(old, OPEN_SALT) is None
    settings.SECRET_KEY_FALLBACKS = ["an-old-secret-key-that-was-rotated-out"]
    _signer.cache_clear()
    try:
        assert read_token(old, OPEN_SALT) == "7"
    finally:
        _signer.cache_clear()


def test_a_delivery_tracks_links_but_not_the_unsubscribe_link():
    lead = _lead()
    body = '<a href="https://example.com/a?x=1&amp;y=2">A</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    email = render_email("S", body, merge_fields(lead), delivery_id=7)
    assert "/e/c/" in email.html and "example.com/a" not in email.html
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = email.headers["List-Unsubscribe"].strip("<>")
    assert f'href="{unsubscribe}"' in email.html and '<img src="http' in email.html
    assert plain_text("<p>a&amp;b</p><p></p><p>c</p>") == "a&b\n\nc\n"
    single = render_email("S", "<a href='https://example.com/b'>B</a>", merge_fields(lead), delivery_id=8)
    assert "/e/c/" in single.html and "example.com/b" not in single.html and "B (http" in single.text


# --- sequences and the engine -------------------------------------------------------------------------------------


@pytest.fixture
def welcome(marketer):
    body = '<p>Hello {{ contact.first_name }}</p><a href="https://example.com/x">More</a>'
    return save_template(None, by=marketer, name="Welcome", subject="Welcome {{ contact.first_name }}", body=body)


def _sequence(marketer, *steps, **fields):
    sequence = save_sequence(None, by=marketer, name=f"Seq {Step.objects.count()}", **fields)
    for kind, config, extra in steps:
        add_step(sequence, by=marketer, kind=kind, config=config, **extra)
    return save_sequence(sequence, by=marketer, is_active=True)


def test_email_then_wait_then_email(marketer, welcome):
    sequence = _sequence(
        marketer, ("email", {}, {"template": welcome}), ("wait", {"days": 2}, {}), ("email", {}, {"template": welcome})
    )
    lead = _lead(first_name="Ann")
    assert enrol_leads(sequence, [lead], by=marketer) == 1
    assert enrol_leads(sequence, [lead], by=marketer) == 0  # already in it
    run_due_steps(at=NOON)
    enrolment = Enrolment.objects.get()
    assert (enrolment.position, enrolment.due_at) == (3, NOON + timedelta(days=2))
    assert send_queued(at=NOON)["sent"] == 1
    assert mail.outbox[0].subject == "Welcome Ann" and mail.outbox[0].extra_headers["Message-ID"].startswith(
        "<nurture-"
    )
    assert run_due_steps(at=NOON + timedelta(days=1)) == 0  # still waiting
    run_due_steps(at=NOON + timedelta(days=2))
    send_queued(at=NOON + timedelta(days=2))
    enrolment.refresh_from_db()
    assert enrolment.status == EnrolmentStatus.COMPLETED and len(mail.outbox) == 2
    assert sequence_stats(sequence)["steps"][0]["sent"] == 1


def test_a_batch_reads_the_same_few_times_however_many_emails_it_sends(marketer, welcome):
    sequence = _sequence(marketer, ("email", {}, {"template": welcome}))
    reads = []
    for count in (2, 6):
        enrol_leads(sequence, [_lead(first_name=f"P{i}") for i in range(count)], by=marketer)
        with CaptureQueriesContext(connection) as queries:
            assert run_due_steps(at=NOON) == count
            assert send_queued(at=NOON) == {"sent": count}
        reads.append(sum(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries))
    assert reads[0] == reads[1]  # no column of a recipient is fetched one email at a time
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(message.subject for message in mail.outbox) == sorted(
        f"Welcome P{i}" for count in (2, 6) for i in range(count)
    )


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_worker_commits_each_email_itself(marketer, welcome):
    NurtureSettings.objects.get_or_create(pk=1, defaults={"quiet_from": 0, "quiet_until": 0})
    enrol_leads(_sequence(marketer, ("email", {}, {"template": welcome})), [_lead(), _lead()], by=marketer)
    run_due_steps(at=NOON)
    assert not connection.in_atomic_block
    assert send_queued(at=NOON, limit=1) == {"sent": 1}
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["queued", "sent"]
    transaction.set_autocommit(False)  # a caller that manages its transactions by hand can still send
    try:
        assert send_queued(at=NOON) == {"sent": 1} and len(mail.outbox) == 2
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite takes one writer at a time: no race to avoid")
def test_a_worker_sends_the_due_emails_another_worker_has_not_reserved(marketer, welcome):
    enrol_leads(_sequence(marketer, ("email", {}, {"template": welcome})), [_lead() for _ in range(4)], by=marketer)
    run_due_steps(at=NOON)
    first, second, *rest = Delivery.objects.order_by("not_before", "id").values_list("pk", flat=True)
    settings = connection.settings_dict
    other = psycopg.connect(dbname=settings["NAME"], host=settings["HOST"], port=settings["PORT"] or None,
                            user=settings["USER"], password=settings["PASSWORD"], autocommit=True)  # fmt: skip
    with other:
        reserve = "SELECT pg_advisory_lock(%s, mod(%s, 2147483647)::int)"
        for pk in (first, second):  # another worker's batch
            other.execute(reserve, [RESERVED, pk])
        assert send_queued(at=NOON) == {"sent": 2}
        assert set(Delivery.objects.filter(status="sent").values_list("pk", flat=True)) == set(rest)
    assert send_queued(at=NOON) == {"sent": 2}  # that worker is gone, and its reservations with it
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone() == (0,)  # each batch let go of its own


def test_one_statement_writes_each_outcome_and_the_next_claim_and_counts_a_delivery_moved_elsewhere_as_taken(
    marketer, welcome
):
    enrol_leads(_sequence(marketer, ("email", {}, {"template": welcome})), [_lead() for _ in range(4)], by=marketer)
    run_due_steps(at=NOON)
    sent, postponed, taken, next_one = Delivery.objects.order_by("pk")
    Delivery.objects.filter(pk=sent.pk).update(status="sending")
    Delivery.objects.filter(pk=taken.pk).update(status="sending", note="another worker")  # claimed meanwhile
    decided = [
        ("sent", sent.pk, "sending", "sent", {"sent_at": NOON}),
        ("postponed", postponed.pk, "queued", "queued", {"not_before": NOON + timedelta(hours=1), "note": "Later"}),
        ("suppressed", taken.pk, "queued", "suppressed", {"note": "suppressed: bounced"}),
    ]
    counts = Counter()
    answer = _settle(decided, counts, ("claimed", next_one.pk, "queued", "sending", {"claimed_at": NOON}))
    assert decided == [] and not counts  # sent: counted once the answer is read
    assert answer()
    assert counts == {"sent": 1, "postponed": 1, "taken": 1}
    assert not _settle([], counts, ("claimed", next_one.pk, "queued", "sending", {"claimed_at": NOON}))()
    rows = {row[0]: row[1:] for row in Delivery.objects.values_list("pk", "status", "sent_at", "not_before", "note",
                                                                     "claimed_at")}  # fmt: skip
    assert rows[sent.pk][:2] == ("sent", NOON) and rows[sent.pk][3] == ""
    assert rows[postponed.pk][0] == "queued" and rows[postponed.pk][2:4] == (NOON + timedelta(hours=1), "Later")
    assert rows[taken.pk][0] == "sending" and rows[taken.pk][3] == "another worker"
    assert rows[next_one.pk][0] == "sending" and rows[next_one.pk][4] == NOON and rows[next_one.pk][1] is None


@pytest.mark.django_db(transaction=True)  # autocommit, as a worker sends: each outcome goes in with the next claim
def test_an_email_that_cannot_be_built_or_is_refused_fails_alone_with_the_reason(marketer, welcome, monkeypatch):
    NurtureSettings.objects.get_or_create(pk=1, defaults={"quiet_from": 0, "quiet_until": 0})
    names = ["Ann", "Broken", "Cy", "Refused", "Dee"]
    enrol_leads(_sequence(marketer, ("email", {}, {"template": welcome})), [_lead(first_name=n) for n in names],
                by=marketer)  # fmt: skip
    run_due_steps(at=NOON)
    render = sending.render_email

    def render_or_fail(subject, body, fields, **kwargs):
        if fields["contact__first_name"] == "Broken":
            raise ValueError("a merge field would not render")
        return render(subject, body, fields, **kwargs)

    class RefusingOne(locmem.EmailBackend):
        def send_messages(self, messages):
            if any("Refused" in message.subject for message in messages):
                raise SMTPRecipientsRefused({messages[0].to[0]: (550, b"No such user")})
            return super().send_messages(messages)

    monkeypatch.setattr(sending, "render_email", render_or_fail)
    monkeypatch.setattr(sending, "get_connection", RefusingOne)
    assert send_queued(at=NOON) == {"sent": 3, "failed": 2}
    assert sorted(message.subject for message in mail.outbox) == ["Welcome Ann", "Welcome Cy", "Welcome Dee"]
    outcomes = dict(Delivery.objects.values_list("lead__contact__first_name", "status"))
    assert outcomes == {"Ann": "sent", "Broken": "failed", "Cy": "sent", "Refused": "failed", "Dee": "sent"}
    notes = dict(Delivery.objects.filter(status="failed").values_list("lead__contact__first_name", "note"))
    assert notes["Broken"] == "ValueError: a merge field would not render"
    assert notes["Refused"].startswith("SMTPRecipientsRefused: ") and "No such user" in notes["Refused"]


def test_wait_until_a_weekday_in_the_leads_time_zone(marketer, welcome):
    step = Step(kind="wait", config={"weekday": 0, "hour": 9})
    contact = ContactFactory(time_zone="America/New_York")
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    monday_9 = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert wait_until(step, contact, tuesday_noon) == monday_9
    assert wait_until(step, contact, monday_9) == monday_9 + timedelta(days=7)


def test_branches(marketer, welcome, admin):
    def branching(condition):
        return _sequence(
            marketer, ("branch", {"if": condition, "else_go_to": 3}, {}),
            ("update_field", {"field": "need", "value": "yes"}, {}),
            ("update_field", {"field": "source_detail", "value": "no"}, {}),
        )  # fmt: skip

    def outcome(condition, lead):
        enrol_leads(branching(condition), [lead], by=marketer)
        run_due_steps(at=timezone.now())
        lead.refresh_from_db()
        return "yes" if lead.need == "yes" else "no"

    hot, cold = _lead(), _lead()
    LeadScore.objects.create(lead=hot, total=80)
    assert outcome({"kind": "score_above", "value": 50}, hot) == "yes"
    assert outcome({"kind": "score_above", "value": 50}, cold) == "no"
    ingest_events([EventIn(type="pricing_page_view", occurred_at=timezone.now(), lead_id=cold.pk,
                           properties={"page": "/pricing"})], by=admin)  # fmt: skip
    assert outcome({"kind": "visited", "page": "/pricing", "within_days": 7}, cold) == "yes"
    assert outcome({"kind": "field_equals", "field": "source", "value": "inbound_marketing"}, _lead()) == "yes"
    assert outcome({"kind": "opened"}, _lead()) == "no"


def test_opened_and_clicked_branches_read_this_sequences_emails(marketer, welcome, rep):
    sequence = _sequence(
        marketer, ("email", {}, {"template": welcome}), ("wait", {"hours": 1}, {}),
        ("branch", {"if": {"kind": "clicked"}, "else_go_to": 5}, {}),
        ("create_task", {"subject": "Call the clicker", "due_days": 1}, {}), ("notify", {"text": "Finished"}, {}),
    )  # fmt: skip
    clicker, idle = _lead(), _lead()
    Lead.objects.update(owner=rep)
    enrol_leads(sequence, [clicker, idle], by=marketer)
    run_due_steps(at=NOON)
    send_queued(at=NOON)
    Delivery.objects.filter(lead=clicker).update(clicked_at=NOON + timedelta(minutes=5))
    run_due_steps(at=NOON + timedelta(hours=1))
    assert list(Activity.objects.values_list("lead", "subject")) == [(clicker.pk, "Call the clicker")]
    assert Notification.objects.filter(text__contains="Finished", user=rep).count() == 2
    assert set(Enrolment.objects.values_list("status", flat=True)) == {"completed"}


def test_stage_and_field_steps(marketer):
    sequence = _sequence(
        marketer, ("set_stage", {"stage": "prospect", "reason": "Finished the trial drip"}, {}),
        ("update_field", {"field": "budget_confirmed", "value": True}, {}),
    )  # fmt: skip
    lead = _lead()
    enrol_leads(sequence, [lead], by=marketer)
    run_due_steps(at=timezone.now())
    lead.refresh_from_db()
    assert lead.lifecycle_stage == LifecycleStage.PROSPECT and lead.budget_confirmed
    assert lead.stage_changes.order_by("-at").first().reason == "Finished the trial drip"
    with pytest.raises(InvalidInput) as error:
        add_step(sequence, by=marketer, kind="update_field", config={"field": "owner", "value": 1})
    assert list(error.value.errors) == ["config.field"]


@pytest.mark.parametrize(
    ("exit_when", "reason"),
    [
        ("opportunity", "Became an opportunity"), ("replied", "Replied"), ("unsubscribed", "Unsubscribed"),
        ("bounced", "Bounced or complained"), ("other_sequence", "Entered another sequence"),
    ],
)  # fmt: skip
def test_exits(marketer, welcome, admin, exit_when, reason):
    sequence = _sequence(
        marketer, ("email", {}, {"template": welcome}), ("wait", {"days": 1}, {}), ("email", {}, {"template": welcome}),
        exit_when=[exit_when],
    )  # fmt: skip
    lead = _lead()
    enrol_leads(sequence, [lead], by=marketer)
    run_due_steps(at=NOON)
    send_queued(at=NOON)
    first = Delivery.objects.get()
    if exit_when == "opportunity":
        Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=LifecycleStage.OPPORTUNITY)
    elif exit_when == "replied":
        record_outcome(first, "replied", by=marketer)
    elif exit_when == "unsubscribed":
        Client().post(f"/e/u/{first_token(first)}/", {"List-Unsubscribe": "One-Click"})
    elif exit_when == "bounced":
        record_outcome(first, "bounced", by=marketer)
    else:
        other = _sequence(marketer, ("wait", {"days": 9}, {}))
        enrol_leads(other, [lead], by=marketer)
    run_due_steps(at=NOON + timedelta(days=1))
    enrolment = Enrolment.objects.get(sequence=sequence)
    assert enrolment.status == EnrolmentStatus.EXITED and enrolment.exit_reason == reason
    assert Delivery.objects.filter(enrolment=enrolment).count() == 1


def first_token(delivery):
    from leadflow.nurture.emails import tracking_urls

    return tracking_urls(delivery.pk)["unsubscribe"].rstrip("/").rsplit("/", 1)[1]


def test_reentry_rules(marketer):
    once = _sequence(marketer, ("update_field", {"field": "need", "value": "x"}, {}))
    again = _sequence(marketer, ("update_field", {"field": "need", "value": "x"}, {}), allow_reentry=True,
                      reentry_after_days=30)  # fmt: skip
    lead = _lead()
    for sequence in (once, again):
        enrol_leads(sequence, [lead], by=marketer)
    run_due_steps(at=timezone.now())
    assert enrol_leads(once, [lead], by=marketer) == 0
    assert enrol_leads(again, [lead], by=marketer) == 0  # finished just now: 30 days to wait
    Enrolment.objects.filter(sequence=again).update(finished_at=timezone.now() - timedelta(days=31))
    assert enrol_leads(again, [lead], by=marketer) == 1


def test_segment_enrolment_is_continuous(marketer):
    segment = _segment(marketer, {"field": "seniority", "op": "in", "value": ["vp"]})
    sequence = _sequence(marketer, ("wait", {"days": 3}, {}))
    save_sequence(sequence, by=marketer, segment=segment)
    _lead(seniority="vp")
    assert enrol_from_segments() == 1
    assert enrol_from_segments() == 0
    _lead(seniority="vp")
    assert enrol_from_segments() == 1


def test_suppression_consent_throttling_and_quiet_hours(marketer, welcome):
    NurtureSettings.objects.filter(pk=1).update(per_domain_per_hour=2, quiet_from=20, quiet_until=8)
    sequence = _sequence(marketer, ("email", {}, {"template": welcome}))
    account = AccountFactory(domain="busy.example")
    busy = [_lead(account=account, email=f"p{i}@busy.example") for i in range(3)]
    unsubscribed, unconsented = _lead(), _lead(email_opt_in=False)
    Suppression.objects.create(email=unsubscribed.contact.email, reason="unsubscribed")
    late = _lead(time_zone="Asia/Tokyo")  # noon UTC is 21:00 in Tokyo
    enrol_leads(sequence, [*busy, unsubscribed, unconsented, late], by=marketer)
    run_due_steps(at=NOON)
    outcome = send_queued(at=NOON)
    assert outcome == {"sent": 2, "suppressed": 2, "postponed": 2}
    notes = dict(Delivery.objects.values_list("lead", "note"))
    assert notes[unsubscribed.pk] == "suppressed: unsubscribed"
    assert notes[unconsented.pk] == "no consent to marketing email"
    assert notes[late.pk] == "Quiet hours"
    assert Delivery.objects.get(lead=late).not_before == NOON + timedelta(hours=11)  # 08:00 in Tokyo
    assert send_queued(at=NOON + timedelta(minutes=11)) == {"postponed": 1}  # still an hour's quota used
    assert send_queued(at=NOON + timedelta(hours=1, minutes=1)) == {"sent": 1}


# --- tracking -----------------------------------------------------------------------------------------------------


def test_open_click_and_one_click_unsubscribe(marketer, welcome):
    sequence = _sequence(marketer, ("email", {}, {"template": welcome}))
    lead = _lead()
    enrol_leads(sequence, [lead], by=marketer)
    run_nurture()
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    pixel = html.split('<img src="')[1].split('"')[0]
    click = html.split('<a href="')[1].split('"')[0]
    client = Client()
    assert client.get(pixel.replace("http://127.0.0.1:8000", "")).headers["Content-Type"] == "image/gif"
    response = client.get(click.replace("http://127.0.0.1:8000", "").replace("&amp;", "&"))
    assert response.status_code == 302 and response.headers["Location"] == "https://example.com/x"
    delivery = Delivery.objects.get()
    assert delivery.opened_at and delivery.clicked_at
    assert list(Event.objects.filter(lead=lead).values_list("type", flat=True).order_by("type")) == [
        "email_click", "email_open",
    ]  # fmt: skip
    assert client.get("/e/c/forged/").status_code == 404
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:8000", "")
    assert b"gets our emails" in client.get(unsubscribe).content
    assert client.post(unsubscribe, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    lead.contact.refresh_from_db()
    assert not lead.contact.email_opt_in and lead.contact.consent_recorded_at
    assert Suppression.objects.get(email=lead.contact.email).reason == "unsubscribed"
    assert b"Subscribe again" in client.get(unsubscribe).content
    client.post(unsubscribe, {"choice": "subscribe"})
    assert not Suppression.objects.exists()


# --- A/B tests ----------------------------------------------------------------------------------------------------


def test_the_z_test_and_the_decision():
    assert two_proportion_p_value(30, 100, 50, 100) == pytest.approx(0.00385, abs=1e-4)
    assert decide({"A": (100, 30), "B": (100, 50)}, metric="opens", deadline_passed=False).winner == "B"
    assert decide({"A": (100, 30), "B": (100, 33)}, metric="opens", deadline_passed=False) is None
    late = decide({"A": (100, 30), "B": (100, 33)}, metric="opens", deadline_passed=True)
    assert late.winner == "B" and "Deadline reached, not significant" in late.why
    assert decide({"A": (10, 1), "B": (10, 9)}, metric="opens", deadline_passed=False) is None  # too few


def test_an_ab_step_splits_then_promotes_the_winner(marketer, welcome):
    other = save_template(None, by=marketer, name="Other", subject="Another", body="<p>B</p>")
    sequence = _sequence(marketer, ("email", {}, {"template": welcome, "variant_template": other}))
    leads = [_lead() for _ in range(120)]
    enrol_leads(sequence, leads, by=marketer)
    run_due_steps(at=NOON)
    send_queued(at=NOON)
    variants = Counter(Delivery.objects.values_list("variant", flat=True))
    assert set(variants) == {"A", "B"} and min(variants.values()) > 30
    Delivery.objects.filter(variant="B").update(opened_at=NOON)
    assert decide_ab_tests(at=NOON) == 1
    step = Step.objects.get(sequence=sequence)
    assert step.winner == "B" and "B wins: significant" in step.decision
    late = _lead()
    enrol_leads(sequence, [late], by=marketer)
    run_due_steps(at=NOON)
    assert Delivery.objects.get(lead=late).variant == "B"


def test_sequences_need_a_step_and_marketing(marketer, rep):
    sequence = save_sequence(None, by=marketer, name="Empty")
    with pytest.raises(InvalidInput):
        save_sequence(sequence, by=marketer, is_active=True)
    with pytest.raises(NotAllowed):
        save_sequence(None, by=rep, name="Mine")
    with pytest.raises(Conflict):
        enrol_leads(sequence, [_lead()], by=marketer)


def test_marketing_email_goes_with_a_given_consent_not_one_awaiting_confirmation(marketer, welcome):
    from leadflow.consent.models import Purpose
    from leadflow.consent.services import record_consent

    sequence = _sequence(marketer, ("email", {}, {"template": welcome}))
    consented, awaiting = _lead(email_opt_in=False), _lead(email_opt_in=False)
    record_consent(consented.contact, purpose=Purpose.MARKETING_EMAIL, wording="Yes", through="Form", confirmed=True)
    record_consent(awaiting.contact, purpose=Purpose.MARKETING_EMAIL, wording="Yes", through="Form", confirmed=False)
    enrol_leads(sequence, [consented, awaiting], by=marketer)
    run_due_steps(at=NOON)
    assert send_queued(at=NOON) == {"sent": 1, "suppressed": 1}
    assert Delivery.objects.get(lead=awaiting).note == "no consent to marketing email"
