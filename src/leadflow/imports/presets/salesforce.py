"""Salesforce: the Data Export service's object files (Lead.csv, Contact.csv, Account.csv, Opportunity.csv,
User.csv; API field names, ISO 8601 times) and report exports (field labels); picklists by value or label."""

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
    USERS,
    WON,
    DealStage,
    Funnel,
    ObjectFile,
    Vendor,
    funnel_of,
    value_key,
    values_and_labels,
)

LEADS = ObjectFile(PEOPLE, "Salesforce leads", ("lead", "leads"), {
    "external_id": ("Id", "Lead ID"),
    "first_name": ("FirstName", "First Name"),
    "last_name": ("LastName", "Last Name"),
    "email": ("Email",),
    "phone": ("Phone",),
    "mobile": ("MobilePhone", "Mobile", "Mobile Phone"),
    "company_name": ("Company", "Company / Account"),
    "domain": ("Website",),
    "job_title": ("Title",),
    "lead_status": ("Status", "Lead Status"),
    "source": ("LeadSource", "Lead Source"),
    "rating": ("Rating",),
    "industry": ("Industry",),
    "employees": ("NumberOfEmployees", "No. of Employees", "Employees"),
    "country": ("Country",),
    "created_at": ("CreatedDate", "Create Date", "Created Date"),
    "owner": ("OwnerId", "Lead Owner"),
    "is_converted": ("IsConverted", "Converted"),
    "converted_person": ("ConvertedContactId",),
    "company_ref": ("ConvertedAccountId",),
    "converted_deal": ("ConvertedOpportunityId",),
})  # fmt: skip
CONTACTS = ObjectFile(PEOPLE, "Salesforce contacts", ("contact", "contacts"), {
    "external_id": ("Id", "Contact ID"),
    "first_name": ("FirstName", "First Name"),
    "last_name": ("LastName", "Last Name"),
    "email": ("Email",),
    "phone": ("Phone", "Business Phone"),
    "mobile": ("MobilePhone", "Mobile"),
    "company_ref": ("AccountId", "Account ID"),
    "company_name": ("Account Name",),
    "job_title": ("Title",),
    "source": ("LeadSource", "Lead Source"),
    "country": ("MailingCountry", "Mailing Country"),
    "created_at": ("CreatedDate", "Created Date"),
    "owner": ("OwnerId", "Contact Owner"),
})  # fmt: skip
ACCOUNTS = ObjectFile(COMPANIES, "Salesforce accounts", ("account", "accounts"), {
    "external_id": ("Id", "Account ID"),
    "name": ("Name", "Account Name"),
    "domain": ("Website",),
    "industry": ("Industry",),
    "employees": ("NumberOfEmployees", "Employees"),
    "country": ("BillingCountry", "Billing Country"),
    "owner": ("OwnerId", "Account Owner"),
    "created_at": ("CreatedDate", "Created Date"),
})  # fmt: skip
OPPORTUNITIES = ObjectFile(DEALS, "Salesforce opportunities", ("opportunity", "opportunities"), {
    "external_id": ("Id", "Opportunity ID"),
    "name": ("Name", "Opportunity Name"),
    "stage": ("StageName", "Stage"),
    "amount": ("Amount",),
    "currency": ("CurrencyIsoCode", "Opportunity Currency"),
    "close_date": ("CloseDate", "Close Date"),
    "is_won": ("IsWon", "Won"),
    "is_closed": ("IsClosed", "Closed"),
    "company_ref": ("AccountId", "Account ID"),
    "company_name": ("Account Name",),
    "person_ref": ("ContactId", "Contact ID"),
    "owner": ("OwnerId", "Opportunity Owner"),
    "created_at": ("CreatedDate", "Created Date"),
    "lost_reason": ("Loss_Reason__c", "Loss Reason"),
})  # fmt: skip
USERS_FILE = ObjectFile(USERS, "Salesforce users", ("user", "users"), {
    "external_id": ("Id", "User ID"),
    "username": ("Username",),
    "email": ("Email",),
    "first_name": ("FirstName", "First Name"),
    "last_name": ("LastName", "Last Name"),
    "full_name": ("Name", "Full Name"),
})  # fmt: skip

# The LeadSource picklist as shipped (each company edits it: other values keep their text in source_detail).
SOURCES = {value_key(value): source for value, source in (
    ("Web", S.INBOUND_MARKETING), ("Phone Inquiry", S.INBOUND_MARKETING), ("Advertisement", S.INBOUND_MARKETING),
    ("Public Relations", S.INBOUND_MARKETING), ("Partner Referral", S.REFERRAL_PARTNER),
    ("Partner", S.REFERRAL_PARTNER), ("Employee Referral", S.REFERRAL_PARTNER),
    ("External Referral", S.REFERRAL_PARTNER), ("Word of mouth", S.REFERRAL_PARTNER),
    ("Trade Show", S.EVENT_WEBINAR), ("Seminar - Internal", S.EVENT_WEBINAR), ("Seminar - Partner", S.EVENT_WEBINAR),
    ("Webinar", S.EVENT_WEBINAR), ("Cold Call", S.OUTBOUND_PROSPECTING), ("Purchased List", S.PURCHASED_LIST),
    ("Other", S.OTHER),
)}  # fmt: skip
# Lead Status: the classic picklist and the one new orgs ship (New, Working, Nurturing, Qualified, Unqualified).
LEAD_STATUS = {value_key(value): meaning for value, meaning in (
    ("Open - Not Contacted", LEAD), ("Working - Contacted", LEAD), ("Closed - Converted", THROUGH_DEALS),
    ("Closed - Not Converted", DISQUALIFIED), ("New", LEAD), ("Working", LEAD), ("Nurturing", RECYCLED),
    ("Qualified", THROUGH_DEALS), ("Unqualified", DISQUALIFIED),
)}  # fmt: skip
RATINGS = {"hot": LEAD, "warm": LEAD, "cold": LEAD}  # known ratings; Hot counts with the status
WORKING = {value_key("Working - Contacted"), value_key("Working")}
TRUE = {"true", "1", "yes"}
DEAL_STAGES: dict[str, DealStage] = values_and_labels(
    ("Prospecting", "Prospecting", 0),
    ("Qualification", "Qualification", 1),
    ("Needs Analysis", "Needs Analysis", 1),
    ("Value Proposition", "Value Proposition", 2),
    ("Id. Decision Makers", "Id. Decision Makers", 2),
    ("Perception Analysis", "Perception Analysis", 2),
    ("Proposal/Price Quote", "Proposal/Price Quote", 2),
    ("Negotiation/Review", "Negotiation/Review", 3),
    ("Closed Won", "Closed Won", WON),
    ("Closed Lost", "Closed Lost", LOST),
)


def funnel(values: dict[str, str]) -> Funnel:
    """Lead status decides; a Hot lead being worked is a prospect; a converted lead's stage comes from its deal."""
    result = funnel_of(values, [
        ("lead_status", "Salesforce lead status", LEAD_STATUS),
        ("rating", "Salesforce rating", RATINGS),
    ])  # fmt: skip
    status, rating = value_key(values.get("lead_status", "")), value_key(values.get("rating", ""))
    if status in WORKING and rating == "hot":
        result.steps.insert(0, (PROSPECT, f"Salesforce lead status: {values['lead_status']}, rating: Hot"))
    if value_key(values.get("is_converted", "")) in TRUE and not result.through_deals:
        result.through_deals = "Salesforce lead converted"
    return result


SALESFORCE = Vendor(
    name="salesforce",
    label="Salesforce",
    files=(LEADS, CONTACTS, ACCOUNTS, OPPORTUNITIES, USERS_FILE),
    sources=SOURCES,
    deal_stages=DEAL_STAGES,
    funnel=funnel,
)
