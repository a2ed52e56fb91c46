"""Pipedrive's persons, organizations and deals exports: columns as the export names them ("Deal - Title"), or
without the object's prefix as a single-object export or a re-saved sheet has them."""

from leadflow.leads.models import LeadSource as S

from .base import (
    COMPANIES,
    DEALS,
    LEAD,
    LOST,
    PEOPLE,
    PROSPECT,
    THROUGH_DEALS,
    WON,
    DealStage,
    Funnel,
    ObjectFile,
    Vendor,
    funnel_of,
    value_key,
    values_and_labels,
)


def _columns(prefix: str, columns: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Each column as "Prefix - Name" first, then bare."""
    return {name: tuple(f"{prefix} - {h}" for h in headers) + headers for name, headers in columns.items()}


PERSONS = ObjectFile(PEOPLE, "Pipedrive persons", ("persons", "people", "person"), _columns("Person", {
    "external_id": ("ID",),
    "full_name": ("Name",),
    "first_name": ("First name",),
    "last_name": ("Last name",),
    "email": ("Email - Work", "Email", "Email - Home", "Email - Other"),
    "phone": ("Phone - Work", "Phone", "Phone - Home", "Phone - Other"),
    "mobile": ("Phone - Mobile",),
    "company_name": ("Organization",),
    "company_ref": ("Organization ID",),
    "job_title": ("Job title",),
    "label": ("Label", "Labels"),
    "source": ("Source channel", "Source origin", "Lead source"),
    "created_at": ("Person created", "Add time"),
    "owner": ("Owner",),
    "country": ("Postal address - Country", "Country"),
}))  # fmt: skip
ORGANIZATIONS = ObjectFile(COMPANIES, "Pipedrive organizations", ("organizations", "organisations", "organization"),
    _columns("Organization", {
        "external_id": ("ID",),
        "name": ("Name",),
        "domain": ("Website",),
        "industry": ("Industry",),
        "employees": ("Number of employees", "Employees"),
        "country": ("Address - Country", "Country"),
        "owner": ("Owner",),
        "created_at": ("Organization created", "Add time"),
    }))  # fmt: skip
DEALS_FILE = ObjectFile(DEALS, "Pipedrive deals", ("deals", "deal"), _columns("Deal", {
    "external_id": ("ID",),
    "name": ("Title",),
    "stage": ("Stage",),
    "status": ("Status",),
    "pipeline": ("Pipeline",),
    "amount": ("Value",),
    "currency": ("Currency",),
    "close_date": ("Expected close date",),
    "won_time": ("Won time",),
    "lost_time": ("Lost time",),
    "lost_reason": ("Lost reason",),
    "company_name": ("Organization",),
    "company_ref": ("Organization ID",),
    "person_name": ("Contact person",),
    "person_ref": ("Contact person ID", "Person ID"),
    "owner": ("Owner",),
    "created_at": ("Deal created", "Add time"),
}))  # fmt: skip

# Pipedrive's default labels for persons.
LABELS = {value_key(value): meaning for value, meaning in (
    ("Hot lead", PROSPECT), ("Warm lead", LEAD), ("Cold lead", LEAD), ("Customer", THROUGH_DEALS),
)}  # fmt: skip
# Source channel (Pipedrive's own list for persons and deals).
SOURCES = {value_key(value): source for value, source in (
    ("Prospector", S.OUTBOUND_PROSPECTING), ("Lead Suggestions", S.OUTBOUND_PROSPECTING),
    ("Web visitors", S.INBOUND_MARKETING), ("Web forms", S.INBOUND_MARKETING), ("Chatbot", S.INBOUND_MARKETING),
    ("Live chat", S.INBOUND_MARKETING), ("Marketplace", S.REFERRAL_PARTNER), ("Messaging inbox", S.INBOUND_MARKETING),
    ("Campaigns", S.INBOUND_MARKETING), ("Import", S.OTHER), ("API", S.OTHER), ("Manually created", S.OTHER),
    ("Workflow automation", S.OTHER), ("Deal", S.OTHER), ("Lead", S.OTHER),
)}  # fmt: skip
# The default pipeline's stages.
DEAL_STAGES: dict[str, DealStage] = values_and_labels(
    ("Qualified", "Qualified", 0),
    ("Contact Made", "Contact Made", 1),
    ("Demo Scheduled", "Demo Scheduled", 1),
    ("Needs Defined", "Needs Defined", 1),
    ("Proposal Made", "Proposal Made", 2),
    ("Negotiations Started", "Negotiations Started", 3),
)
STATUSES = {"open": "", "won": WON, "lost": LOST}


def funnel(values: dict[str, str]) -> Funnel:
    """Only a person's label says where they stand: a hot lead is a prospect, a customer comes with a deal."""
    return funnel_of(values, [("label", "Pipedrive label", LABELS)])


PIPEDRIVE = Vendor(
    name="pipedrive",
    label="Pipedrive",
    files=(PERSONS, ORGANIZATIONS, DEALS_FILE),
    sources=SOURCES,
    deal_stages=DEAL_STAGES,
    funnel=funnel,
)
