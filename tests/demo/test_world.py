"""The demo world is realistic and consistent: the history of every lead and deal follows the rules."""

from datetime import datetime, time, timedelta
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Q
from django.utils import timezone

from leadflow.accounts.models import Account, Contact
from leadflow.capture.models import Form, WebhookSource
from leadflow.demo.world import build_demo_world
from leadflow.engagement.models import Event
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import OPEN_STAGES, Lead, StageChange
from leadflow.nurture.models import Delivery, EmailTemplate, Segment, Sequence
from leadflow.nurture.selectors import sequence_stats
from leadflow.pipeline.models import Activity, Opportunity
from leadflow.pipeline.selectors import default_pipeline
from leadflow.qualification.models import AssignmentRule, Handoff, SlaBreach
from leadflow.qualification.selectors import no_lead_lost
from leadflow.scoring.models import LeadScore
from leadflow.tracking.models import Site
from leadflow.users.models import Role, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_demo_world(seed=7, leads=300, password="demo-pass-123")


def test_every_role_has_a_user_who_can_log_in(world):
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    assert all(user.check_password("demo-pass-123") for user in User.objects.all())
    assert not User.objects.filter(role__in=[Role.MANAGER, Role.SALES], team__isnull=True).exists()


def test_every_leads_history_follows_the_lifecycle_graph(world):
    for lead in Lead.objects.prefetch_related("stage_changes"):
        changes = list(lead.stage_changes.all())
        assert (changes[0].from_stage, changes[0].to_stage, changes[0].at) == ("", "lead", lead.created_at)
        assert changes[-1].to_stage == lead.lifecycle_stage
        for before, after in pairwise(changes):
            assert after.from_stage == before.to_stage
            assert is_allowed(before.to_stage, after.to_stage)
            assert after.at >= before.at
            # the score qualifies on its own, and so does a form that counts as explicit intent
            assert after.by_id is not None or "MQL threshold" in after.reason or "Explicit intent" in after.reason
            assert after.reason or after.to_stage not in ("disqualified", "recycled")


def test_leads_are_owned_within_their_team_and_worked_leads_have_bant(world):
    on_their_own = Q(reason__contains="MQL threshold") | Q(reason__contains="Explicit intent")
    by_score = set(StageChange.objects.filter(on_their_own).values_list("lead", flat=True))
    for lead in Lead.objects.select_related("owner", "contact__account"):
        assert lead.contact.created_at == lead.created_at >= lead.contact.account.created_at
        assert lead.owner is None or lead.owner.team_id == lead.team_id
        if lead.lifecycle_stage in ("prospect", "opportunity", "customer") and lead.pk not in by_score:
            assert lead.owner is not None and lead.need and lead.budget_amount is not None


def test_last_activity_is_the_latest_done_activity_or_event(world):
    done = Activity.objects.filter(is_done=True).values("lead").annotate(at=Max("done_at")).values_list("lead", "at")
    seen = Event.objects.values("lead").annotate(at=Max("occurred_at")).values_list("lead", "at")
    latest: dict = {}
    for lead_id, at in [*done, *seen]:
        latest[lead_id] = max(at, latest.get(lead_id, at))
    for lead_id, last in Lead.objects.values_list("id", "last_activity_at"):
        assert last == latest.get(lead_id)


def test_leads_are_scored_by_the_starter_rules_and_the_best_are_qualified(world):
    assert LeadScore.objects.count() == Lead.objects.count()
    qualified = StageChange.objects.filter(reason__contains="reached the MQL threshold (50)")
    assert qualified.exists() and all(step.from_stage == "lead" for step in qualified)
    assert LeadScore.objects.filter(total__lt=0).exists()  # the free-mail rule takes points away


def test_no_qualified_lead_is_lost_and_every_prospect_was_handed_over(world):
    admin = User.objects.get(username="admin")
    assert no_lead_lost(admin).count() == 0
    prospects = Lead.objects.filter(lifecycle_stage="prospect")
    assert prospects.exists() and not prospects.filter(handoffs__isnull=True).exists()
    assert Handoff.objects.filter(status="pending", qualified_by="score").exists()  # the starter rules' new MQLs
    assert Handoff.objects.filter(status="rejected").exists() and SlaBreach.objects.exists()


def test_a_drip_runs_for_the_leads_not_ready(world):
    sequence = Sequence.objects.get(is_active=True)
    stats = sequence_stats(sequence)
    assert stats["enrolled"] > 0 and stats["steps"][0]["sent"] > 0 and stats["steps"][0]["opened"] > 0
    assert set(Delivery.objects.values_list("variant", flat=True)) == {"A", "B"}


def test_a_contact_has_at_most_one_open_lead(world):
    per_contact = Lead.objects.filter(lifecycle_stage__in=OPEN_STAGES).values("contact").annotate(n=Count("id"))
    assert max(row["n"] for row in per_contact) == 1


def test_every_stage_of_the_default_pipeline_holds_deals(world):
    stages = default_pipeline().stages.annotate(deals=Count("opportunities"))
    assert all(stage.deals > 0 for stage in stages), {s.name: s.deals for s in stages}


def test_deals_follow_their_leads_and_close_properly(world):
    for deal in Opportunity.objects.select_related("stage", "lead", "lost_reason"):
        history = list(deal.stage_changes.order_by("at", "id"))
        assert (history[0].from_stage, history[0].at, history[0].reason) == (None, deal.created_at, "Opened")
        assert history[-1].to_stage == deal.stage
        assert all(after.from_stage == before.to_stage for before, after in pairwise(history))
        assert 5_000 <= deal.amount <= 120_000 and deal.owner_id == deal.lead.owner_id
        converted = deal.lead.stage_changes.get(to_stage="opportunity")
        assert converted.at == deal.created_at
        if deal.stage.is_lost:
            assert deal.lost_reason is not None and deal.closed_at is not None
        if deal.stage.is_won:
            assert deal.closed_at is not None and deal.lead.lifecycle_stage == "customer"
            became_customer = deal.lead.stage_changes.get(to_stage="customer")
            assert (became_customer.at, became_customer.reason) == (deal.closed_at, f"Opportunity {deal.pk} closed won")
        if not deal.stage.is_closed:
            assert deal.closed_at is None and deal.lead.lifecycle_stage == "opportunity"


def test_every_rep_has_tasks_overdue_and_due_today(world):
    start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    for rep in User.objects.filter(role=Role.SALES):
        tasks = Activity.objects.filter(owner=rep, kind="task", is_done=False)
        assert tasks.filter(due_at__lt=start).exists()
        assert tasks.filter(due_at__gte=start, due_at__lt=start + timedelta(days=1)).exists()


def test_the_same_seed_builds_the_same_world():
    first = build_demo_world(seed=3, leads=150, password="demo-pass-123")
    emails = list(Lead.objects.order_by("id").values_list("contact__email", "lifecycle_stage"))
    # activities, histories, steps, enrolments and emails cascade
    for model in (Form, WebhookSource, Sequence, EmailTemplate, Segment, AssignmentRule, Opportunity, Lead, Contact,
                  Account, Site, User):  # fmt: skip
        model.objects.all().delete()
    second = build_demo_world(seed=3, leads=150, password="demo-pass-123")
    assert first == second
    assert list(Lead.objects.order_by("id").values_list("contact__email", "lifecycle_stage")) == emails


def test_the_command_prints_the_login_and_refuses_a_second_world(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo", "--leads", "120", "--password", "demo-pass-123", stdout=out)
    assert "username: admin" in out.getvalue()
    assert "password: demo-pass-123" in (tmp_path / "demo-login.txt").read_text()
    with pytest.raises(CommandError, match="already has leads"):
        call_command("demo", "--leads", "120", stdout=StringIO())
    leads = Lead.objects.count()
    quiet = StringIO()
    call_command("demo", "--if-empty", stdout=quiet)
    assert "not loaded again" in quiet.getvalue()
    assert Lead.objects.count() == leads


def test_the_sample_site_shows_both_forms_and_its_pages_link_to_each_other(world, client, settings):
    from leadflow.capture.models import Form, Submission, WebhookDelivery
    from leadflow.consent.models import Consent

    demo, newsletter = Form.objects.get(slug="request-a-demo"), Form.objects.get(slug="newsletter")
    assert settings.PUBLIC_URL in demo.origins() and newsletter.double_opt_in
    assert world["form_submissions"] == Submission.objects.count() > 20
    assert set(WebhookDelivery.objects.values_list("result", flat=True)) == {"created", "duplicate"}
    assert Consent.objects.filter(status="given").exists() and Consent.objects.filter(status="awaiting").exists()
    product, pricing = client.get("/demo-site/"), client.get("/demo-site/pricing/")
    assert product.status_code == pricing.status_code == 200
    assert b'href="/demo-site/pricing/"' in product.content and b'href="/demo-site/"' in pricing.content
    assert f"/forms/{demo.key}.js".encode() in pricing.content
    assert f"/forms/{newsletter.key}.js".encode() in product.content
