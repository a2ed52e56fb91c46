"""A reproducible demo world: a sales organisation with a year of leads, deals and activity.

Everything is drawn from one seeded random generator, so the same seed gives the same world (dates are relative to
today). Rows are written in bulk, but exactly as the services would have left them: every lead's lifecycle history
follows the lifecycle graph, every deal's stage history leads to its current stage, won deals made their lead a
customer, lost deals carry a reason.
"""

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from leadflow.accounts.models import Account, Contact, EmployeeBand, RevenueBand, Seniority
from leadflow.chat.models import ChatScript
from leadflow.chat.services import DEFAULT_SCRIPT, save_script
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import advance_last_activity
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Authority, Lead, LeadSource, LifecycleStage, StageChange
from leadflow.leads.services import refresh_lead_history
from leadflow.nurture.models import Delivery, DeliveryStatus, Sequence
from leadflow.nurture.selectors import leads_in_segment
from leadflow.nurture.services import (
    add_step,
    decide_ab_tests,
    enrol,
    run_due_steps,
    save_segment,
    save_sequence,
    save_template,
)
from leadflow.pipeline.models import Activity, ActivityKind, LostReason, Opportunity, OpportunityStageChange, Stage
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import refresh_deal_history
from leadflow.qualification.models import Distribution, Handoff, HandoffStatus, QualifiedBy
from leadflow.qualification.selectors import business_hours, qualification_settings
from leadflow.qualification.services import check_slas, create_assignment_rule, save_criteria
from leadflow.scoring.models import ScoringRule
from leadflow.scoring.services import (
    NotEnoughHistory,
    create_rule,
    predict_leads,
    rescore_leads,
    set_mql_threshold,
    train_model,
)
from leadflow.tracking.models import Hit, HitKind, Site, Visitor
from leadflow.users.models import Role, Team, User

from .capture import build_demo_capture

PEOPLE = [  # username, first, last, role, team
    ("admin", "Ada", "Okafor", Role.ADMIN, None),
    ("maria", "Maria", "Santos", Role.MANAGER, "East"),
    ("marcus", "Marcus", "Webb", Role.MANAGER, "West"),
    ("mia", "Mia", "Tanaka", Role.MARKETING, None),
    ("sam", "Sam", "Reyes", Role.SALES, "East"),
    ("sofia", "Sofia", "Brandt", Role.SALES, "East"),
    ("sean", "Sean", "Murphy", Role.SALES, "East"),
    ("sara", "Sara", "Lindqvist", Role.SALES, "West"),
    ("steve", "Steve", "Adeyemi", Role.SALES, "West"),
    ("selena", "Selena", "Cruz", Role.SALES, "West"),
]
FIRST_NAMES = (
    "Olivia Liam Emma Noah Ava Elijah Sophia James Isabella Lucas Mia Mateo Amelia Ethan Harper Leo Evelyn Jack "
    "Aria Henry Chloe Levi Layla Daniel Nora Owen Zoe Samuel Hannah Wyatt Priya Arjun Mei Kenji Fatima Omar Ingrid "
    "Lars Chiara Marco Aisha Kwame Yara Tomasz Zofia Diego Lucia Hiro Sakura Nia"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson Anderson Thomas "
    "Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott "
    "Nguyen Patel Kim Chen Novak Rossi Schmidt Dubois Jansen Kowalski Haddad Okoye Silva Costa Berg Larsen"
).split()
NAME_PARTS = (
    "North South Blue Iron Silver Bright Summit Harbor Pioneer Cedar Maple Granite Atlas Vertex Nimbus Orbit Beacon "
    "Crest Delta Echo Falcon Horizon Keystone Lumen Meridian Nova Pinnacle Quantum Ridge Sterling Titan Union Vista"
).split()
NAME_KINDS = (
    "Logistics Manufacturing Health Partners Foods Freight Systems Industries Supply Holdings Labs Group Works "
    "Distribution Services Retail Medical Engineering"
).split()
INDUSTRIES = ["logistics", "manufacturing", "professional_services", "healthcare_non_clinical", "retail", "software"]
REGIONS = [("US", "US"), ("UK", "GB"), ("DACH", "DE"), ("Nordics", "SE"), ("Benelux", "NL")]
S = Seniority
PERSONAS = [  # role_function, [(job title, seniority)]
    ("vp_finance", [("VP Finance", S.VP), ("CFO", S.C_SUITE), ("Head of Finance", S.DIRECTOR)]),
    (
        "ap_manager",
        [("AP Manager", S.MANAGER), ("AP Specialist", S.INDIVIDUAL_CONTRIBUTOR), ("Finance Ops Manager", S.MANAGER)],
    ),
    ("it_director", [("IT Director", S.DIRECTOR), ("CTO", S.C_SUITE), ("Systems Analyst", S.INDIVIDUAL_CONTRIBUTOR)]),
    (
        "procurement_manager",
        [("Procurement Manager", S.MANAGER), ("Buyer", S.INDIVIDUAL_CONTRIBUTOR), ("VP Procurement", S.VP)],
    ),
]
SOURCES = [  # source, weight, first-touch channel
    (LeadSource.INBOUND_MARKETING, 45, "website"),
    (LeadSource.OUTBOUND_PROSPECTING, 25, "sdr_outbound"),
    (LeadSource.REFERRAL_PARTNER, 12, "partner"),
    (LeadSource.EVENT_WEBINAR, 10, "webinar"),
    (LeadSource.PURCHASED_LIST, 5, "list"),
    (LeadSource.OTHER, 3, "other"),
]
UTM = {  # source: [(utm_source, utm_medium)]
    LeadSource.INBOUND_MARKETING: [
        ("google", "cpc"),
        ("google", "organic"),
        ("linkedin", "paid_social"),
        ("g2", "review"),
    ],
    LeadSource.EVENT_WEBINAR: [("linkedin", "paid_social"), ("newsletter", "email")],
}
CAMPAIGNS = ["q1-ap-automation", "spend-visibility-guide", "procurement-webinar", "invoice-roi-calculator"]
WEBINARS = ["Closing the books faster", "Procurement in a downturn", "AP automation 101"]
OUTCOMES = {
    ActivityKind.CALL: ["connected", "left_voicemail", "no_answer", "meeting_set"],
    ActivityKind.EMAIL: ["sent", "replied", "no_reply"],
    ActivityKind.MEETING: ["held", "rescheduled"],
    ActivityKind.DEMO: ["demo_completed", "no_show"],
    ActivityKind.NOTE: [""],
}
SUBJECTS = {
    ActivityKind.CALL: ["Discovery call", "Follow-up call", "Pricing call"],
    ActivityKind.EMAIL: ["Follow-up email", "Sent the ROI case", "Intro email"],
    ActivityKind.MEETING: ["Meeting with the buying team", "Kick-off with finance"],
    ActivityKind.DEMO: ["Product demo", "Technical deep dive"],
    ActivityKind.NOTE: ["Note from the account", "Budget cycle notes"],
}
TASKS = ["Call back", "Send proposal", "Book a demo", "Check budget", "Follow up", "Send case study"]
NEEDS = ["Invoices take weeks to approve", "No view of spend", "Manual PO matching", "Audit pain"]
DISQUALIFY_REASONS = ["Student", "Competitor", "No budget this year", "Too small", "Duplicate", "Wrong persona"]
RECYCLE_REASONS = ["Budget next fiscal year", "Not now: re-engage in a quarter", "Champion left"]
PROSPECT_REASONS = ["Asked for pricing", "Requested a demo", "Meets BANT", "ICP fit and engaged"]
LOST_NOTES = ["Price was the blocker", "Chose an incumbent", "Champion lost influence"]
WON_NOTES = ["", "Strong champion in finance", "ROI case landed"]


@dataclass
class _World:
    """Rows being built, held until they are written in bulk."""

    rng: random.Random
    now: datetime
    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    managers: dict[str, User] = field(default_factory=dict)
    reps_by_team: dict[str, list[User]] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    lost_reasons: list[LostReason] = field(default_factory=list)
    deals: list[Opportunity] = field(default_factory=list)
    changes: list[StageChange] = field(default_factory=list)
    # Lead changes whose reason names a deal not yet saved: the reason is a format string for the deal's id.
    deal_reasons: list[tuple[StageChange, Opportunity]] = field(default_factory=list)
    deal_moves: list[OpportunityStageChange] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)


def _people(world: _World, password: str) -> None:
    world.teams = {name: Team.objects.get_or_create(name=name)[0] for name in ("East", "West")}
    template = User(username="admin")
    template.set_password(password)  # hash once; every demo user shares the password
    for username, first, last, role, team in PEOPLE:
        user = User.objects.create(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@leadflow.example",
            role=role,
            team=world.teams[team] if team else None,
            password=template.password,
            is_staff=role == Role.ADMIN,
        )
        world.users[username] = user
        if role == Role.MANAGER and team:
            world.managers[team] = user
        if role == Role.SALES and team:
            world.reps_by_team.setdefault(team, []).append(user)


def _accounts(world: _World, count: int) -> list[Account]:
    rng, names, accounts = world.rng, set(), list[Account]()
    reps = [rep for team in world.reps_by_team.values() for rep in team]
    while len(accounts) < count:
        first, second, kind = rng.choice(NAME_PARTS), rng.choice(NAME_PARTS), rng.choice(NAME_KINDS)
        name = f"{first} {second} {kind}"
        if name in names or first == second:
            continue
        names.add(name)
        region, country = rng.choice(REGIONS)
        accounts.append(
            Account(
                name=name,
                domain=f"{first}{second}-{kind}.example".lower(),
                industry=rng.choice(INDUSTRIES),
                employee_band=rng.choices(EmployeeBand.values, weights=[4, 8, 14, 20, 18, 10, 6])[0],
                revenue_band=rng.choices(RevenueBand.values, weights=[6, 24, 34, 24, 12])[0],
                region=region,
                country=country,
                owner=rng.choice(reps) if rng.random() < 0.3 else None,
            )
        )
    return Account.objects.bulk_create(accounts)


def _contacts(world: _World, accounts: list[Account], captured: list[datetime]) -> list[Contact]:
    """One contact per capture time, at a random account (a few with a private mailbox), consenting then."""
    rng, contacts, emails = world.rng, list[Contact](), set()
    for at in captured:
        account = rng.choice(accounts)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = "gmail.com" if rng.random() < 0.06 else account.domain
        email = f"{first}.{last}@{domain}".lower()
        suffix = 2
        while email in emails:
            email = f"{first}.{last}{suffix}@{domain}".lower()
            suffix += 1
        emails.add(email)
        persona, titles = rng.choice(PERSONAS)
        title, seniority = rng.choice(titles)
        opted_in = rng.random() < 0.55
        contacts.append(
            Contact(
                first_name=first,
                last_name=last,
                email=email,
                phone=f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}" if rng.random() < 0.7 else "",
                job_title=title,
                seniority=seniority,
                role_function=persona,
                account=account,
                email_opt_in=opted_in,
                do_not_contact=rng.random() < 0.02,
                consent_recorded_at=at if opted_in else None,
            )
        )
    return Contact.objects.bulk_create(contacts)


def _date_back() -> None:
    """Date each contact back to its first lead and each account to its first contact: inserts stamp them today.
    Every lead in the database is a demo lead (the world is built into an empty database)."""
    first_lead = Lead.objects.filter(contact=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
    Contact.objects.filter(leads__isnull=False).update(created_at=Subquery(first_lead))
    first_contact = Contact.objects.filter(account=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
    Account.objects.filter(contacts__leads__isnull=False).update(created_at=Subquery(first_contact))


def _step(world: _World, lead: Lead, to: str, at: datetime, by: User, reason: str) -> StageChange:
    current = lead.lifecycle_stage
    assert is_allowed(current, to), f"demo world broke the lifecycle: {current} → {to}"
    change = StageChange(lead=lead, from_stage=current, to_stage=to, at=at, by=by, reason=reason)
    world.changes.append(change)
    lead.lifecycle_stage = to
    return change


def _later(world: _World, after: datetime, low: float, high: float) -> datetime:
    return after + timedelta(days=world.rng.uniform(low, high), minutes=world.rng.randrange(0, 600))


def _activities(
    world: _World, lead: Lead, start: datetime, end: datetime, count: int, deal: Opportunity | None = None
) -> None:
    """Log `count` finished activities by the lead's owner between start and end."""
    rng = world.rng
    for _ in range(count if end > start else 0):
        kind = rng.choices(list(OUTCOMES), weights=[35, 35, 12, 10, 8])[0]
        at = start + (end - start) * rng.random()
        world.activities.append(
            Activity(
                kind=kind,
                subject=rng.choice(SUBJECTS[kind]),
                is_done=True,
                done_at=at,
                created_at=at,
                outcome=rng.choice(OUTCOMES[kind]),
                owner=lead.owner,
                lead=lead,
                opportunity=deal,
            )
        )
        if lead.last_activity_at is None or at > lead.last_activity_at:
            lead.last_activity_at = at


def _lead_story(world: _World, lead: Lead) -> None:
    """Walk one lead forward through the lifecycle until its story or today ends."""
    rng, now = world.rng, world.now
    assert lead.team is not None
    at, roll = lead.created_at, rng.random()
    if roll < 0.12:  # disqualified early, by its owner or, from the queue, by the team's manager
        _activities(world, lead, at, min(_later(world, at, 2, 30), now), rng.randrange(0, 3) if lead.owner else 0)
        when = _later(world, at, 1, 25)
        if when < now:
            judge = lead.owner or world.managers[lead.team.name]
            _step(world, lead, LifecycleStage.DISQUALIFIED, when, judge, rng.choice(DISQUALIFY_REASONS))
            if rng.random() < 0.15 and (back := _later(world, when, 30, 120)) < now:
                _step(world, lead, LifecycleStage.RECYCLED, back, judge, rng.choice(RECYCLE_REASONS))
        return
    if roll < 0.55 and lead.owner is None:  # a rep picks it up from the team's queue to work it
        lead.owner = rng.choice(world.reps_by_team[lead.team.name])
    by = lead.owner
    if by is None:
        return
    _activities(world, lead, at, min(_later(world, at, 2, 30), now), rng.randrange(0, 3))
    at = _later(world, at, 1, 20)
    if roll > 0.55 or at >= now:
        return
    _step(world, lead, LifecycleStage.PROSPECT, at, by, rng.choice(PROSPECT_REASONS))
    lead.budget_amount = Decimal(rng.randrange(10, 150) * 1000)
    lead.budget_confirmed = rng.random() < 0.5
    lead.authority = rng.choice([Authority.DECISION_MAKER, Authority.INFLUENCER, Authority.USER])
    lead.need = rng.choice(NEEDS)
    lead.timing_target_date = (at + timedelta(days=rng.randrange(30, 180))).date()
    second = rng.random()
    if second < 0.12:
        when = _later(world, at, 3, 30)
        if when < now:
            _step(world, lead, LifecycleStage.RECYCLED, when, by, rng.choice(RECYCLE_REASONS))
            back = _later(world, when, 20, 90)
            if back < now and rng.random() < 0.5:
                _step(world, lead, LifecycleStage.LEAD, back, by, "Re-engaged")
        return
    if second < 0.6:
        _deal(world, lead, by, _later(world, at, 2, 20))


def _amount(rng: random.Random) -> Decimal:
    """A deal size between 5k and 120k, most of them around 30k."""
    while not 5_000 <= (amount := int(rng.lognormvariate(10.3, 0.55)) // 500 * 500) <= 120_000:
        pass
    return Decimal(amount)


def _deal(world: _World, lead: Lead, by: User, opened: datetime) -> None:
    """Open a deal for the lead and move it stage by stage until it closes or today arrives."""
    rng, now, stages = world.rng, world.now, world.stages
    if opened >= now:
        return
    open_stages = [s for s in stages if not s.is_closed]
    won = next(s for s in stages if s.is_won)
    lost = next(s for s in stages if s.is_lost)
    contact = lead.contact
    assert contact.account is not None  # every demo contact works somewhere
    deal = Opportunity(
        name=f"{contact.account.name}: {rng.choice(['new business', 'AP automation', 'expansion'])}",
        account=contact.account,
        contact=contact,
        lead=lead,
        lead_source=lead.source,
        owner=lead.owner,
        team=lead.team,
        pipeline=stages[0].pipeline,
        stage=open_stages[0],
        amount=_amount(rng),
        currency="USD",
        expected_close_date=(opened + timedelta(days=rng.randrange(30, 100))).date(),
        created_at=opened,
    )
    world.deals.append(deal)
    converted = _step(world, lead, LifecycleStage.OPPORTUNITY, opened, by, "Converted to opportunity {}")
    world.deal_reasons.append((converted, deal))
    moves: list[tuple[Stage | None, Stage, datetime, str]] = [(None, open_stages[0], opened, "Opened")]
    at, index = opened, 0
    fate = rng.random()
    while True:
        at = _later(world, at, 4, 21)
        if at >= now:
            break
        if fate < 0.3 and index >= 1 and rng.random() < 0.35:  # lost along the way
            moves.append((deal.stage, lost, at, "Closed lost"))
            lost_from, deal.stage, deal.closed_at = deal.stage, lost, at
            deal.lost_reason = rng.choice(world.lost_reasons)
            if rng.random() < 0.4:
                deal.review_note = rng.choice(LOST_NOTES)
            if rng.random() < 0.06 and (back := _later(world, at, 10, 40)) < now:  # a few come back
                moves.append((lost, lost_from, back, "Re-opened from Closed lost"))
                deal.stage, deal.closed_at, deal.lost_reason = lost_from, None, None
            break
        if index == len(open_stages) - 1:
            if fate < 0.75:
                moves.append((deal.stage, won, at, "Closed won"))
                deal.stage, deal.closed_at = won, at
                deal.review_note = rng.choice(WON_NOTES)
                won_change = _step(world, lead, LifecycleStage.CUSTOMER, at, by, "Opportunity {} closed won")
                world.deal_reasons.append((won_change, deal))
            break
        if fate > 0.85 and index >= 1 and rng.random() < 0.5:  # stalls in its stage
            break
        index += 1
        moves.append((deal.stage, open_stages[index], at, ""))
        deal.stage = open_stages[index]
    world.deal_moves += [
        OpportunityStageChange(opportunity=deal, from_stage=f, to_stage=t, at=a, by=by, reason=r)
        for f, t, a, r in moves
    ]
    _activities(world, lead, opened, deal.closed_at or now, rng.randrange(1, 6), deal=deal)


# What the demo's leads do on the website and in email: (event type, weight, properties to pick from).
BEHAVIOUR = [
    (EventType.PAGE_VISIT, 30, [{"page": page} for page in ("/", "/product", "/blog/ap-automation", "/customers")]),
    (EventType.EMAIL_OPEN, 25, [{"campaign": campaign} for campaign in CAMPAIGNS]),
    (EventType.EMAIL_CLICK, 10, [{"campaign": campaign} for campaign in CAMPAIGNS]),
    (EventType.CONTENT_DOWNLOAD, 8, [{"asset": "Spend visibility guide"}, {"asset": "Invoice ROI calculator"}]),
    (EventType.PRICING_PAGE_VIEW, 8, [{"page": "/pricing"}]),
    (EventType.WEBINAR_ATTENDANCE, 5, [{"title": title} for title in WEBINARS]),
    (EventType.DEMO_REQUEST, 2, [{"page": "/demo"}]),
]
WEBSITE = "Company website"  # tracked; the sample site at /demo-site/ carries its snippet
WEBSITE_PAGES = ["/", "/product", "/pricing", "/customers", "/blog/ap-automation", "/docs/getting-started", "/about"]
WEBSITE_SOURCES = ["", "", "google.com", "linkedin.com", "newsletter", "g2.com", "ads"]
# A starter rule set, so scores mean something on first run: an ICP of fit rules, engagement that decays.
STARTER_FIT_RULES = [
    ("Senior buyer", "seniority", "any_of", ["vp", "c_suite", "director"], 15, True),
    ("Mid-market size", "employee_band", "any_of", ["200-499", "500-999", "1000-1999"], 10, True),
    ("Target industry", "industry", "any_of", ["logistics", "manufacturing", "retail"], 10, True),
    ("Finance or procurement persona", "role_function", "contains_any", ["finance", "procurement"], 10, True),
    ("Free-mail address", "email_domain", "any_of", ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"], -20,
     False),
]  # fmt: skip
STARTER_ENGAGEMENT_RULES = [  # name, event type, points, cap, half-life in days
    ("Pricing page", EventType.PRICING_PAGE_VIEW, 10, 30, 14.0),
    ("Demo requested", EventType.DEMO_REQUEST, 25, 25, 30.0),
    ("Webinar attended", EventType.WEBINAR_ATTENDANCE, 8, 16, 30.0),
    ("Content download", EventType.CONTENT_DOWNLOAD, 5, 15, 21.0),
    ("Email click", EventType.EMAIL_CLICK, 3, 9, 14.0),
    ("Site visit", EventType.PAGE_VISIT, 1, 5, 7.0),
]


def _behaviour(world: _World, leads: list[Lead]) -> list[Event]:
    """Each lead's visits, opens, clicks and downloads since it was captured; the leads further along did more."""
    rng, now = world.rng, world.now
    kinds = [kind for kind, _, _ in BEHAVIOUR]
    weights = [weight for _, weight, _ in BEHAVIOUR]
    choices = {kind: options for kind, _, options in BEHAVIOUR}
    events = []
    for lead in leads:
        eager = 2 if lead.lifecycle_stage in (LifecycleStage.PROSPECT, LifecycleStage.OPPORTUNITY) else 1
        for kind in rng.choices(kinds, weights=weights, k=rng.randint(0, 6) * eager):
            at = lead.created_at + (now - lead.created_at) * rng.random() ** 2  # most soon after capture
            events.append(Event(type=kind, occurred_at=at, lead=lead, contact_id=lead.contact_id,
                                properties=rng.choice(choices[kind]), source="demo"))  # fmt: skip
    return events


def add_starter_rules(*, by: User) -> None:
    """The starter rules and MQL threshold, unless the database has scoring rules of its own already."""
    if ScoringRule.objects.exists():
        return
    set_mql_threshold(50, by=by)
    for name, field_name, matcher, value, points, in_icp in STARTER_FIT_RULES:
        create_rule(by=by, name=name, kind="fit", field=field_name, matcher=matcher, value=value, points=points,
                    in_icp=in_icp)  # fmt: skip
    for name, event_type, points, cap, half_life in STARTER_ENGAGEMENT_RULES:
        create_rule(by=by, name=name, kind="engagement", event_type=event_type, points=points, cap=cap,
                    half_life_days=half_life)  # fmt: skip


DEMO_ASSIGNMENT_RULES = [  # name, regions, team, distribution, weights
    ("North America to East", ["US"], "East", Distribution.ROUND_ROBIN, {}),
    ("Europe to West", ["UK", "DACH", "Nordics", "Benelux"], "West", Distribution.WEIGHTED, {"sara": 2}),
]


def _qualification(world: _World) -> None:
    """Route new prospects by region, ask for budget and need before a deal, and hand every prospect the story
    made over to sales: accepted (or rejected when it was recycled), touched within its SLA but for a few of the
    older ones."""
    admin = world.users["admin"]
    for name, regions, team, distribution, weights in DEMO_ASSIGNMENT_RULES:
        create_assignment_rule(
            by=admin, name=name, regions=regions, team=world.teams[team], distribution=distribution,
            weights={world.users[user].pk: weight for user, weight in weights.items()},
        )  # fmt: skip
    save_criteria(
        default_pipeline(),
        [{"kind": "budget", "required_to_convert": True}, {"kind": "need", "required_to_convert": True}],
        by=admin,
    )
    hours, settings = business_hours(), qualification_settings()
    rng = world.rng
    left = {change.lead_id: change for change in world.changes if change.from_stage == LifecycleStage.PROSPECT}
    handoffs, touched = [], dict[int, datetime]()
    for change in world.changes:
        if change.to_stage != LifecycleStage.PROSPECT:
            continue
        lead, arrived = change.lead, change.at
        due = hours.add(arrived, settings.first_touch_hours)
        touch = arrived + (due - arrived) * rng.uniform(0.05, 0.9)
        if lead.lifecycle_stage != LifecycleStage.PROSPECT and rng.random() < 0.04:
            touch = due + timedelta(days=rng.uniform(0.5, 3))  # a few older leads waited too long
        touched[lead.pk] = max(touch, touched.get(lead.pk, touch))
        world.activities.append(
            Activity(kind=ActivityKind.CALL, subject="Intro call", is_done=True, done_at=touch, created_at=touch,
                     outcome=rng.choice(OUTCOMES[ActivityKind.CALL]), owner=lead.owner, lead=lead)
        )  # fmt: skip
        handoff = Handoff(
            lead=lead, arrived_at=arrived, qualified_by=QualifiedBy.BY_HAND, reason=change.reason, source=lead.source,
            status=HandoffStatus.ACCEPTED, decided_at=arrived, decided_by=change.by, first_touch_due_at=due,
            decision_due_at=hours.add(arrived, settings.decision_hours), first_touched_at=touch,
        )  # fmt: skip
        later = left.get(lead.pk)
        if later is not None and later.to_stage == LifecycleStage.RECYCLED:
            handoff.status, handoff.decided_at, handoff.rejection_reason = (
                HandoffStatus.REJECTED,
                later.at,
                later.reason,
            )
        handoffs.append(handoff)
    Handoff.objects.bulk_create(handoffs, batch_size=1000)
    advance_last_activity(touched)


def _open_tasks(world: _World, leads: list[Lead]) -> None:
    """Plan tasks on the leads and open deals each rep works: some overdue, some due today, most ahead."""
    rng, now = world.rng, world.now
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    open_deal = {deal.lead_id: deal for deal in world.deals if deal.closed_at is None}
    worked: dict[int, list[Lead]] = {}
    for lead in leads:
        if lead.owner is not None and (lead.lifecycle_stage in ("lead", "prospect") or lead.pk in open_deal):
            worked.setdefault(lead.owner.pk, []).append(lead)
    reps = [rep for team in sorted(world.reps_by_team) for rep in world.reps_by_team[team]]
    for rep in reps:
        mine = worked.get(rep.pk, [])
        for i, lead in enumerate(rng.sample(mine, k=min(len(mine), max(4, len(mine) // 5)))):
            if i == 0:  # every rep has something overdue…
                due = today - timedelta(days=rng.randrange(1, 4)) + timedelta(hours=rng.uniform(9, 17))
            elif i == 1:  # …and something due today
                due = today + timedelta(hours=rng.uniform(9, 17))
            else:
                due = now + timedelta(hours=rng.uniform(-3 * 24, 14 * 24))
            world.activities.append(
                Activity(
                    kind=ActivityKind.TASK,
                    subject=rng.choice(TASKS),
                    due_at=due,
                    owner=rep,
                    lead=lead,
                    opportunity=open_deal.get(lead.pk),
                    created_at=min(now, due) - timedelta(days=rng.uniform(0.5, 7)),
                )
            )
    planned = {
        task.lead_id or task.lead.pk for task in world.activities if task.kind == ActivityKind.TASK and task.lead
    }
    for lead in leads:
        if lead.lifecycle_stage == LifecycleStage.PROSPECT and lead.owner is not None and lead.pk not in planned:
            due = now + timedelta(hours=rng.uniform(2, 5 * 24))
            world.activities.append(
                Activity(kind=ActivityKind.TASK, subject=rng.choice(TASKS), due_at=due, owner=lead.owner, lead=lead,
                         created_at=now - timedelta(days=rng.uniform(0.5, 3)))
            )  # fmt: skip


GUIDE_BODY = (
    "<p>Hi {{ contact.first_name|default:'there' }},</p><p>Teams like {{ account.name }} close their books days "
    "faster once invoices approve themselves. Our spend visibility guide shows how.</p>"
    '<p><a href="https://leadflow.example/guides/spend-visibility">Read the guide</a></p>'
    "<p>{{ owner.first_name|default:'The team' }}</p>"
    '<p><small><a href="{{ unsubscribe_url }}">Unsubscribe</a></small></p>'
)
ROI_BODY = (
    "<p>Hi {{ contact.first_name|default:'there' }},</p><p>Curious what automation would save "
    "{{ account.name }}? The ROI calculator takes two minutes.</p>"
    '<p><a href="https://leadflow.example/roi">Work out your ROI</a></p>'
    '<p><small><a href="{{ unsubscribe_url }}">Unsubscribe</a></small></p>'
)


def _nurture(world: _World) -> Sequence:
    """A running drip for engaged leads that are not ready: three weeks of enrolments worked by the real engine,
    day by day, with the emails it sent opened and clicked (the shorter subject, B, opens better)."""
    rng, now, mia = world.rng, world.now, world.users["mia"]
    segment = save_segment(
        None, by=mia, name="Engaged, not ready", description="Open leads with some engagement who consented",
        conditions=[
            {"field": "lifecycle_stage", "op": "in", "value": ["lead", "recycled"]},
            {"field": "score", "op": "gte", "value": 15},
            {"field": "email_opt_in", "op": "is", "value": True},
        ],
    )  # fmt: skip
    guide = save_template(None, by=mia, name="Spend guide", subject="{{ account.name }}: close the books faster",
                          body=GUIDE_BODY)  # fmt: skip
    short = save_template(None, by=mia, name="Spend guide, short subject", subject="A faster month-end",
                          body=GUIDE_BODY)  # fmt: skip
    roi = save_template(None, by=mia, name="ROI calculator", subject="What would automation save you?", body=ROI_BODY)
    drip = save_sequence(None, by=mia, name="Not ready yet", exit_when=["opportunity", "replied", "unsubscribed",
                         "bounced"])  # fmt: skip
    add_step(drip, by=mia, kind="email", template=guide, variant_template=short, test_metric="open",
             test_deadline=now + timedelta(days=10))  # fmt: skip
    add_step(drip, by=mia, kind="wait", config={"days": 3})
    add_step(drip, by=mia, kind="branch", config={"if": {"kind": "clicked"}, "else_go_to": 5})
    add_step(drip, by=mia, kind="create_task", config={"subject": "Call: read the spend guide", "due_days": 1})
    add_step(drip, by=mia, kind="email", template=roi)
    save_sequence(drip, by=mia, is_active=True, segment=segment)
    members = list(leads_in_segment(segment, at=now).order_by("pk").values_list("pk", flat=True))
    rng.shuffle(members)
    members = members[: max(40, len(members) // 2)]
    for day in range(21, -1, -1):
        moment = now - timedelta(days=day, hours=rng.uniform(0, 6))
        enrol(drip, members[day::22], by=None, at=moment)
        while run_due_steps(at=moment):
            pass
        for delivery in Delivery.objects.filter(status=DeliveryStatus.QUEUED):
            opens = rng.random() < (0.55 if delivery.variant == "B" else 0.35)
            delivery.status, delivery.sent_at = DeliveryStatus.SENT, moment
            delivery.opened_at = moment + timedelta(hours=rng.uniform(0.5, 30)) if opens else None
            delivery.clicked_at = delivery.opened_at if opens and rng.random() < 0.3 else None
            delivery.save(update_fields=["status", "sent_at", "opened_at", "clicked_at"])
    decide_ab_tests(at=now)
    return drip


@transaction.atomic
def _website(world: _World, events: list[Event]) -> None:
    """The company website as tracking saw it: each lead's page views as a known visitor's path (they sent a form
    once), and anonymous visitors over the last month. It lists the app's own origin, where the demo site is."""
    rng, now = random.Random(len(events)), world.now  # its own stream: the rest of the world stays as it was
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.PUBLIC_URL))
    site = Site.objects.create(
        name=WEBSITE,
        allowed_origins=origin,
        consent_required=False,
        pricing_paths="/pricing, /demo-site/pricing",
        created_by=world.users["admin"],
    )
    pages: dict[int, list[Event]] = {}
    for event in events:
        if event.type in (EventType.PAGE_VISIT, EventType.PRICING_PAGE_VIEW) and event.lead_id is not None:
            pages.setdefault(event.lead_id, []).append(event)
    visitors, paths = [], []
    for lead_id, seen in sorted(pages.items()):
        seen.sort(key=lambda event: event.occurred_at)
        first, last = seen[0].occurred_at, seen[-1].occurred_at
        visitors.append(Visitor(site=site, uid=f"{rng.getrandbits(128):032x}", lead_id=lead_id, first_seen=first,
                                last_seen=last, identified_at=first, identified_by="form"))  # fmt: skip
        paths.append([(event.properties.get("page", "/"), event.occurred_at) for event in seen])
    for _ in range(600):
        at = now - timedelta(days=30 * rng.random())
        views = [(rng.choice(WEBSITE_PAGES), at + timedelta(minutes=2 * step)) for step in range(rng.randint(1, 6))]
        visitors.append(Visitor(site=site, uid=f"{rng.getrandbits(128):032x}", first_seen=views[0][1],
                                last_seen=views[-1][1]))  # fmt: skip
        paths.append(views)
    Visitor.objects.bulk_create(visitors, batch_size=1000)
    hits = []
    for visitor, views in zip(visitors, paths, strict=True):
        source = rng.choice(WEBSITE_SOURCES)
        for step, (page, at) in enumerate(views):
            hits.append(Hit(visitor=visitor, uid=f"{visitor.uid}-{step}", kind=HitKind.PAGE_VIEW,
                            url=f"{origin}{page}", path=page, source=source if step == 0 else "",
                            occurred_at=at))  # fmt: skip
    Hit.objects.bulk_create(hits, batch_size=2000)


def build_demo_world(
    *, seed: int = 42, leads: int = 3000, password: str, progress: Callable[[str], None] | None = None
) -> dict[str, int | str]:
    """Build the demo world into an empty database; returns the count of each kind of row and the admin's name."""
    say = progress or (lambda _: None)
    world = _World(rng=random.Random(seed), now=timezone.now())
    world.lost_reasons = list(LostReason.objects.filter(is_active=True).order_by("id"))
    world.stages = list(default_pipeline().stages.order_by("order"))
    rng = world.rng
    say("Teams and users…")
    _people(world, password)
    say("Accounts and contacts…")
    accounts = _accounts(world, max(20, leads // 7))
    captured = sorted(world.now - timedelta(days=rng.uniform(0, 365)) for _ in range(leads))
    contacts = _contacts(world, accounts, captured)
    say("Leads and their stories…")
    teams = sorted(world.reps_by_team)
    built: list[Lead] = []
    # Stories are told on unsaved leads; bulk_create links every row built on them once the leads have ids.
    for contact, at in zip(contacts, captured, strict=True):
        source, _, channel = rng.choices(SOURCES, weights=[w for _, w, _ in SOURCES])[0]
        team = rng.choice(teams)
        utm = rng.choice(UTM[source]) if source in UTM else ("", "")
        assert contact.account is not None
        built.append(
            Lead(
                contact=contact,
                company_name=contact.account.name,
                source=source,
                source_detail=rng.choice(WEBINARS) if source == LeadSource.EVENT_WEBINAR else "",
                first_touch_channel=channel,
                utm_source=utm[0],
                utm_medium=utm[1],
                utm_campaign=rng.choice(CAMPAIGNS) if source in UTM else "",
                owner=rng.choice(world.reps_by_team[team]) if rng.random() < 0.85 else None,
                team=world.teams[team],
                lifecycle_stage=LifecycleStage.LEAD,
                created_at=at,
            )
        )
        world.changes.append(
            StageChange(lead=built[-1], from_stage="", to_stage=LifecycleStage.LEAD, at=at, reason="Captured")
        )
        _lead_story(world, built[-1])
    say("Writing leads, deals, histories and activities…")
    Lead.objects.bulk_create(built, batch_size=1000)
    _date_back()
    Opportunity.objects.bulk_create(world.deals, batch_size=1000)
    for change, deal in world.deal_reasons:
        change.reason = change.reason.format(deal.pk)
    StageChange.objects.bulk_create(world.changes, batch_size=2000)
    OpportunityStageChange.objects.bulk_create(world.deal_moves, batch_size=2000)
    refresh_lead_history([lead.pk for lead in built])
    refresh_deal_history([deal.pk for deal in world.deals])
    _open_tasks(world, built)
    _qualification(world)
    Activity.objects.bulk_create(world.activities, batch_size=2000)
    say("Visits, emails and scores…")
    events = Event.objects.bulk_create(_behaviour(world, built), batch_size=2000)
    latest: dict[int, datetime] = {}
    for event in events:
        if event.lead_id is not None:
            latest[event.lead_id] = max(event.occurred_at, latest.get(event.lead_id, event.occurred_at))
    advance_last_activity(latest)
    add_starter_rules(by=world.users["admin"])
    rescore_leads(reason="Starter rules", at=world.now)  # as of the world's moment: the same seed, the same world
    check_slas(at=world.now)  # the few older leads that waited too long
    say("Website visitors…")
    _website(world, events)
    say("A nurture sequence for the leads not ready yet…")
    drip = _nurture(world)
    say("The website chat…")
    # The default script qualifies visitors on every page; those with no budget yet join the drip.
    save_script(ChatScript.objects.get(name=DEFAULT_SCRIPT), by=world.users["mia"], sequence=drip,
                notify=world.managers["East"])  # fmt: skip
    say("The sample site's forms and a lead-ads source…")
    names = [f"{first} {last}" for first, last in zip(FIRST_NAMES, LAST_NAMES[::-1], strict=False)]
    # Its own random stream: how many emails the drip above sent depends on the day the world is built.
    doors = build_demo_capture(
        rng=random.Random(seed + 23), now=world.now, marketer=world.users["mia"], owner=world.managers["East"],
        drip=drip, names=names, accounts=[account for account in accounts if account.domain],
    )  # fmt: skip
    _date_back()  # the people the forms brought, to when they first came
    say("A conversion model from the decided leads…")
    with contextlib.suppress(NotEnoughHistory):  # a world too small to learn from (a test's) goes without
        predict_leads(model=train_model(at=world.now), at=world.now)
    return {
        "teams": len(world.teams),
        "users": len(world.users),
        "accounts": len(accounts),
        "contacts": len(contacts),
        "leads": len(built),
        "lead_stage_changes": len(world.changes),
        "opportunities": len(world.deals),
        "opportunity_stage_changes": len(world.deal_moves),
        "activities": len(world.activities),
        "events": len(events),
        **doors,
        "admin": "admin",
    }
