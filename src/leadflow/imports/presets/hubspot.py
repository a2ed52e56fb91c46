"""HubSpot's contacts, companies and deals exports: column labels (what the export writes) and property names
(what the API and data exports write); enumerations by internal value or by label."""

from leadflow.leads.models import LeadSource as S

from .base import (
    COMPANIES,
    DEALS,
    DISQUALIFIED,
    LEAD,
    LOST,
    PEOPLE,
    PROSPECT,
    RECYCLED,
    THROUGH_DEALS,
    WON,
    DealStage,
    Funnel,
    ObjectFile,
    Vendor,
    funnel_of,
    values_and_labels,
)

CONTACTS = ObjectFile(PEOPLE, "HubSpot contacts", ("contacts", "contact", "all-contacts"), {
    "external_id": ("Record ID", "Contact ID", "hs_object_id", "vid"),
    "first_name": ("First Name", "firstname"),
    "last_name": ("Last Name", "lastname"),
    "email": ("Email", "email"),
    "phone": ("Phone Number", "phone"),
    "mobile": ("Mobile Phone Number", "mobilephone"),
    "company_name": ("Company Name", "company"),
    "company_ref": ("Associated Company ID", "associatedcompanyid", "Associated Company IDs (Primary)"),
    "domain": ("Website URL", "website"),
    "job_title": ("Job Title", "jobtitle"),
    "lifecycle": ("Lifecycle Stage", "lifecyclestage"),
    "lead_status": ("Lead Status", "hs_lead_status"),
    "created_at": ("Create Date", "createdate"),
    "source": ("Original Source", "Original Traffic Source", "hs_analytics_source"),
    "source_detail": ("Original Source Drill-Down 1", "Original Traffic Source Drill-Down 1",
                      "hs_analytics_source_data_1"),
    "owner": ("Contact owner", "hubspot_owner_id"),
    "country": ("Country/Region", "country"),
    "industry": ("Industry", "industry"),
    "employees": ("Number of Employees", "numemployees"),
})  # fmt: skip
COMPANIES_FILE = ObjectFile(COMPANIES, "HubSpot companies", ("companies", "company", "all-companies"), {
    "external_id": ("Record ID", "Company ID", "hs_object_id"),
    "name": ("Company name", "name"),
    "domain": ("Company Domain Name", "domain", "Website URL", "website"),
    "industry": ("Industry", "industry"),
    "employees": ("Number of Employees", "numberofemployees"),
    "country": ("Country/Region", "country"),
    "owner": ("Company owner", "hubspot_owner_id"),
    "created_at": ("Create Date", "createdate"),
})  # fmt: skip
DEALS_FILE = ObjectFile(DEALS, "HubSpot deals", ("deals", "deal", "all-deals"), {
    "external_id": ("Record ID", "Deal ID", "hs_object_id"),
    "name": ("Deal Name", "dealname"),
    "stage": ("Deal Stage", "dealstage"),
    "pipeline": ("Pipeline", "pipeline"),
    "amount": ("Amount", "amount"),
    "currency": ("Currency", "deal_currency_code"),
    "close_date": ("Close Date", "closedate"),
    "created_at": ("Create Date", "createdate"),
    "owner": ("Deal owner", "hubspot_owner_id"),
    "person_ref": ("Associated Contact IDs", "Associated Contact ID", "Associated Contact IDs (Primary)"),
    "company_ref": ("Associated Company IDs", "Associated Company ID", "Associated Company IDs (Primary)"),
    "company_name": ("Associated Company", "Associated Company (Primary)"),
    "lost_reason": ("Closed Lost Reason", "closed_lost_reason"),
})  # fmt: skip

# Original Source (hs_analytics_source): the channel keeps the exact label, the source says which family.
SOURCES = values_and_labels(
    ("ORGANIC_SEARCH", "Organic Search", S.INBOUND_MARKETING),
    ("PAID_SEARCH", "Paid Search", S.INBOUND_MARKETING),
    ("EMAIL_MARKETING", "Email Marketing", S.INBOUND_MARKETING),
    ("SOCIAL_MEDIA", "Organic Social", S.INBOUND_MARKETING),
    ("SOCIAL_MEDIA", "Social Media", S.INBOUND_MARKETING),
    ("REFERRALS", "Referrals", S.REFERRAL_PARTNER),
    ("OTHER_CAMPAIGNS", "Other Campaigns", S.INBOUND_MARKETING),
    ("DIRECT_TRAFFIC", "Direct Traffic", S.INBOUND_MARKETING),
    ("OFFLINE", "Offline Sources", S.OTHER),
    ("PAID_SOCIAL", "Paid Social", S.INBOUND_MARKETING),
    ("AI_REFERRALS", "AI Referrals", S.INBOUND_MARKETING),
)
LIFECYCLE = values_and_labels(
    ("subscriber", "Subscriber", LEAD),
    ("lead", "Lead", LEAD),
    ("marketingqualifiedlead", "Marketing Qualified Lead", PROSPECT),
    ("salesqualifiedlead", "Sales Qualified Lead", PROSPECT),
    ("opportunity", "Opportunity", THROUGH_DEALS),
    ("customer", "Customer", THROUGH_DEALS),
    ("evangelist", "Evangelist", THROUGH_DEALS),
    ("other", "Other", LEAD),
)
LEAD_STATUS = values_and_labels(
    ("NEW", "New", LEAD),
    ("OPEN", "Open", LEAD),
    ("IN_PROGRESS", "In Progress", LEAD),
    ("OPEN_DEAL", "Open Deal", LEAD),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact", LEAD),
    ("CONNECTED", "Connected", LEAD),
    ("UNQUALIFIED", "Unqualified", DISQUALIFIED),
    ("BAD_TIMING", "Bad Timing", RECYCLED),
)
# The default sales pipeline's deal stages → leadflow's open stages (Prospecting 0, Qualification 1, Proposal 2,
# Negotiation 3) or closed won / lost.
DEAL_STAGES: dict[str, DealStage] = values_and_labels(
    ("appointmentscheduled", "Appointment Scheduled", 0),
    ("qualifiedtobuy", "Qualified To Buy", 1),
    ("presentationscheduled", "Presentation Scheduled", 1),
    ("decisionmakerboughtin", "Decision Maker Bought-In", 2),
    ("contractsent", "Contract Sent", 3),
    ("closedwon", "Closed Won", WON),
    ("closedlost", "Closed Lost", LOST),
)


def funnel(values: dict[str, str]) -> Funnel:
    """Lifecycle stage first (MQL and SQL make a prospect), then lead status (unqualified, bad timing)."""
    return funnel_of(values, [
        ("lifecycle", "HubSpot lifecycle stage", LIFECYCLE),
        ("lead_status", "HubSpot lead status", LEAD_STATUS),
    ])  # fmt: skip


HUBSPOT = Vendor(
    name="hubspot",
    label="HubSpot",
    files=(CONTACTS, COMPANIES_FILE, DEALS_FILE),
    sources=SOURCES,
    deal_stages=DEAL_STAGES,
    funnel=funnel,
)
