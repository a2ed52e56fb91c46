"""Merging two contacts: the value kept per field, every row re-pointed, open leads merged, scores worked out
afresh, the merge recorded; "not a duplicate"; the bulk merge of exact-key pairs; who may merge."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.db.models import ForeignKey, Q
from django.utils import timezone

from leadflow.accounts.models import Contact, DuplicatePair, PairStatus
from leadflow.accounts.services import create_account, create_contact
from leadflow.capture.models import Form, Submission, WebhookDelivery, WebhookSource
from leadflow.chat.models import ChatScript, Conversation
from leadflow.consent.models import Consent, ConsentStatus, Purpose
from leadflow.demo.world import add_starter_rules
from leadflow.duplicates.models import ContactMerge
from leadflow.duplicates.services import mark_not_duplicate, merge_contacts, merge_exact_pairs, merge_pair
from leadflow.engagement.services import EventIn, ingest_events
from leadflow.errors import Conflict, NotAllowed
from leadflow.leads.models import Lead, LifecycleStage, StageChange
from leadflow.leads.services import create_lead, open_lead_for, transition_lead, update_lead
from leadflow.nurture.models import Delivery, EmailTemplate, Enrolment, EnrolmentStatus, Sequence, Step
from leadflow.pipeline.models import Opportunity
from leadflow.pipeline.services import close_opportunity, convert_lead, log_activity
from leadflow.qualification.models import Handoff
from leadflow.scoring.models import LeadScore, ScoreChange
from leadflow.scoring.services import rescore_leads
from leadflow.tracking.models import Site, Visitor

pytestmark = pytest.mark.django_db

PEOPLE = (Contact, Lead, Opportunity)
# Rows the merge itself writes: the merged lead's step to disqualified (and the survivor's to a stage it reached),
# and the rescore's record of each score change.
WRITTEN_BY_THE_MERGE = (StageChange, ScoreChange)


def rows_per_table(contact_ids: list[int]) -> dict[str, int]:
    """For every model that hangs off a contact, a lead or a deal: its rows that belong to these contacts."""
    paths = {Contact: "{}__in", Lead: "{}__contact__in", Opportunity: "{}__lead__contact__in"}
    counts = {}
    for model in apps.get_models():
        if model in (Contact, DuplicatePair, ContactMerge):
            continue
        belongs = Q()
        for field in model._meta.get_fields():
            if isinstance(field, ForeignKey) and field.related_model in paths:
                belongs |= Q(**{paths[field.related_model].format(field.name): contact_ids})
        if model is Lead:
            belongs = Q(contact__in=contact_ids)
        if belongs:
            counts[model._meta.label] = model._default_manager.filter(belongs).distinct().count()
    return counts


@pytest.fixture
def world(admin, rep):
    """Two records of Ana Lima, each with a scored open lead waiting in the sales queue, activities, events,
    nurture enrolments (one in the same sequence) and emails; the second also has an older lead with a lost deal."""
    add_starter_rules(by=admin)
    account = create_account(name="Northwind", domain="northwind.example", country="US")
    ana = create_contact(first_name="Ana", last_name="Lima", email="ana@northwind.example", job_title="Buyer",
                         account=account)  # fmt: skip
    other = create_contact(first_name="Ana", last_name="Lima", email="a.lima@northwind.example",
                           phone="(415) 555-0132", job_title="Head of Buying", account=account)  # fmt: skip
    old = create_lead(by=rep, contact=other, created_at=timezone.now() - timedelta(days=90))
    transition_lead(old, to=LifecycleStage.PROSPECT, by=rep, reason="Asked for pricing")
    deal, _ = convert_lead(old, by=rep, amount=10000)
    close_opportunity(deal, won=False, by=rep, lost_reason="Price")
    first, second = create_lead(by=rep, contact=ana), create_lead(by=rep, contact=other)
    now = timezone.now()
    ingest_events([EventIn(type=kind, occurred_at=now - timedelta(hours=h), lead_id=lead.pk)
                   for lead, kind, h in ((first, "demo_request", 1), (second, "demo_request", 2),
                                         (second, "webinar_attendance", 3))], by=admin)  # fmt: skip
    update_lead(second, by=admin, owner=None)  # back to the queue: an assignment row
    log_activity(by=rep, kind="call", subject="Intro call", lead=second)
    log_activity(by=rep, kind="note", subject="Met at the fair", lead=first)
    template = EmailTemplate.objects.create(name="Welcome", subject="Hi", body="Hello")
    both, only = (Sequence.objects.create(name=name) for name in ("Onboarding", "Webinar"))
    for sequence in (both, only):
        Step.objects.create(sequence=sequence, position=1, kind="email", template=template)
    Enrolment.objects.create(sequence=both, lead=first)
    clash = Enrolment.objects.create(sequence=both, lead=second)
    Enrolment.objects.create(sequence=only, lead=second)
    Delivery.objects.create(enrolment=clash, step=both.steps.get(), lead=second, to_email=other.email,
                            domain="northwind.example")  # fmt: skip
    form = Form.objects.create(name="Request a demo", slug="request-a-demo")
    Submission.objects.create(form=form, door="hosted", lead=second, contact=other, answers={"email": other.email})
    source = WebhookSource.objects.create(name="Spring ads", kind="generic")
    WebhookDelivery.objects.create(source=source, payload_id="ad-1", result="created", lead=second)
    Consent.objects.create(contact=other, purpose=Purpose.MARKETING_EMAIL, status=ConsentStatus.GIVEN,
                           wording="Email me product news.", through="Form: Request a demo (hosted page)")  # fmt: skip
    site = Site.objects.create(name="Website", allowed_origins="https://northwind.example")
    Visitor.objects.create(site=site, uid="visitor-of-the-second-lead", lead=second, first_seen=now, last_seen=now)
    Conversation.objects.create(script=ChatScript.objects.create(name="Ask"), site=site, lead=second)
    rescore_leads([first.pk, second.pk, old.pk])
    return ana, other


def test_every_table_of_the_world_has_rows_to_move(world):
    ana, other = world
    empty = [table for table, count in rows_per_table([ana.pk, other.pk]).items() if not count]
    # Rows the world does not make: predictions need a trained model, snapshots a week or a month gone by.
    assert set(empty) == {"scoring.LeadPrediction", "analytics.SnapshotDeal", "pipeline.ForecastSnapshotDeal"}


def test_a_merge_keeps_the_chosen_values_and_repoints_every_row_to_the_survivor(world, admin):
    ana, other = world
    before = rows_per_table([ana.pk, other.pk])
    record = merge_contacts(survivor=ana, merged=other, by=admin, keep={"job_title": "merged", "email": "survivor"})
    ana.refresh_from_db()
    assert not Contact.objects.filter(pk=other.pk).exists()
    assert (ana.email, ana.job_title, ana.phone) == ("ana@northwind.example", "Head of Buying", "(415) 555-0132")
    assert ana.phone_key == "+14155550132"  # keys worked out again from the kept values
    after = rows_per_table([ana.pk])
    for table, count in before.items():
        if apps.get_model(table) in WRITTEN_BY_THE_MERGE:
            assert after[table] >= count, table
        else:
            assert after[table] == count, table
    assert record.moved == {
        "leads.lead": 2, "engagement.event": 2, "pipeline.opportunity": 1, "consent.consent": 1,
        "capture.submission": 1,
    }  # fmt: skip


def test_their_open_leads_become_one_and_nothing_open_clashes(world, admin):
    ana, other = world
    first, second = open_lead_for(ana), open_lead_for(other)
    merge_contacts(survivor=ana, merged=other, by=admin)
    second.refresh_from_db()
    assert open_lead_for(ana) == first
    assert (second.lifecycle_stage, second.merged_into) == (LifecycleStage.DISQUALIFIED, first)
    assert first.activities.count() == 2 and first.events.count() == 3
    enrolments = sorted(Enrolment.objects.filter(lead=first).values_list("sequence__name", "status", "exit_reason"))
    assert enrolments == [
        ("Onboarding", EnrolmentStatus.ACTIVE, ""),
        ("Onboarding", EnrolmentStatus.EXITED, f"Merged into lead {first.pk}"),
        ("Webinar", EnrolmentStatus.ACTIVE, ""),
    ]
    handoffs = sorted(Handoff.objects.filter(lead=first).values_list("status", "rejection_reason"))
    assert handoffs == [("closed", f"Merged into lead {first.pk}"), ("pending", "")]  # no rejection by sales
    assert first.assignments.exists()


def test_scores_are_worked_out_afresh_not_moved(world, admin):
    ana, other = world
    first, second = open_lead_for(ana), open_lead_for(other)
    own = LeadScore.objects.get(lead=first).total
    merge_contacts(survivor=ana, merged=other, by=admin)
    merged_score = LeadScore.objects.get(lead=first).total
    assert merged_score > own  # the other lead's webinar counts now
    assert LeadScore.objects.filter(lead=second).exists()  # the merged lead keeps its own, not moved over
    rescore_leads([first.pk])
    assert LeadScore.objects.get(lead=first).total == merged_score  # already what a fresh scoring gives


def test_the_merge_is_recorded_with_who_when_and_the_values_kept(world, admin):
    ana, other = world
    record = merge_contacts(survivor=ana, merged=other, by=admin, keep={"job_title": "merged"})
    assert (record.survivor, record.by, record.merged_contact_id) == (ana, admin, other.pk)
    assert record.kept["job_title"] == {"value": "Head of Buying", "from": "merged"}
    assert record.kept["email"] == {"value": "ana@northwind.example", "from": "survivor"}
    assert record.kept["phone"] == {"value": "(415) 555-0132", "from": "merged"}  # a blank filled by default


def test_the_survivor_can_take_the_merged_contacts_email(world, admin):
    ana, other = world
    merge_contacts(survivor=ana, merged=other, by=admin, keep={"email": "merged"})
    ana.refresh_from_db()
    assert ana.email == "a.lima@northwind.example"


def test_a_do_not_contact_on_either_side_survives(world, admin):
    ana, other = world
    Contact.objects.filter(pk=other.pk).update(do_not_contact=True)
    merge_contacts(survivor=ana, merged=other, by=admin)
    ana.refresh_from_db()
    assert ana.do_not_contact


def test_only_admins_and_managers_merge(world, rep, marketer, manager):
    ana, other = world
    for user in (rep, marketer):
        with pytest.raises(NotAllowed):
            merge_contacts(survivor=ana, merged=other, by=user)
    merge_contacts(survivor=ana, merged=other, by=manager)


def test_not_a_duplicate_carries_over_to_the_survivor(admin):
    jane = create_contact(first_name="Jane", last_name="Doe", email="jane.doe@gmail.com")
    twin = create_contact(first_name="Jane", last_name="Doe", email="janedoe@googlemail.com")
    namesake = create_contact(first_name="Jane", last_name="Doe", email="j.a.n.e.doe@gmail.com")
    pairs = DuplicatePair.objects.order_by("first_id", "second_id")
    mark_not_duplicate(pairs.get(first=twin, second=namesake), by=admin)
    merge_pair(pairs.get(first=jane, second=twin), by=admin)
    assert pairs.get(first=jane, second=namesake).status == PairStatus.NOT_DUPLICATE


def test_a_pair_marked_as_different_people_is_not_merged(admin):
    jane = create_contact(first_name="Jane", email="jane.doe@gmail.com")
    twin = create_contact(first_name="Jane", email="janedoe@gmail.com")
    pair = mark_not_duplicate(DuplicatePair.objects.get(), by=admin)
    with pytest.raises(Conflict):
        merge_pair(pair, by=admin)
    assert Contact.objects.filter(pk__in=[jane.pk, twin.pk]).count() == 2


def test_the_bulk_merge_takes_only_exact_key_pairs(admin):
    create_contact(first_name="Jane", last_name="Doe", email="jane.doe@gmail.com")
    create_contact(first_name="Jane", last_name="Doe", email="jane.doe+x@gmail.com")
    create_contact(first_name="Bo", last_name="Ek", email="bo@acme.example")
    create_contact(first_name="Bo", last_name="Ek", email="bo.ek@acme.example")
    create_contact(first_name="Al", phone="415 555 0100", email="al@one.example")
    create_contact(first_name="Cy", phone="415 555 0100", email="cy@two.example")  # a phone alone is not exact
    merged, refusals = merge_exact_pairs(by=admin)
    assert (merged, refusals) == (2, [])
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "al@one.example", "bo@acme.example", "cy@two.example", "jane.doe@gmail.com"
    ]  # fmt: skip
    assert DuplicatePair.objects.filter(status=PairStatus.OPEN).count() == 1


def test_where_both_gave_an_answer_on_the_same_consent_the_later_one_stands(world, admin):
    ana, other = world
    earlier = timezone.now() - timedelta(days=30)
    Consent.objects.create(contact=ana, purpose=Purpose.MARKETING_EMAIL, status=ConsentStatus.WITHDRAWN,
                           wording="Email me news.", through="Unsubscribe link", withdrawn_at=earlier)  # fmt: skip
    Consent.objects.filter(contact=ana).update(updated_at=earlier)  # withdrawn a month ago; the other gave it since
    merge_contacts(survivor=ana, merged=other, by=admin)
    (consent,) = Consent.objects.filter(contact=ana)
    assert (consent.status, consent.through) == (ConsentStatus.GIVEN, "Form: Request a demo (hosted page)")
