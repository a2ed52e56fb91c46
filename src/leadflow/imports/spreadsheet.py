"""Spreadsheet imports with a column mapping (the generic preset): map the columns, validate each row, dedupe
against what is there, and capture through the same services as the rest of the app."""

import json
import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Any

from django.db import transaction

from leadflow.accounts.models import FREE_MAIL_DOMAINS, Contact, EmployeeBand, Seniority
from leadflow.accounts.services import (
    email_domain,
    find_or_create_account,
    normalise_domain,
    normalise_email,
    update_contact,
)
from leadflow.errors import DomainError, InvalidInput
from leadflow.leads.models import Authority, Lead, LeadSource
from leadflow.leads.selectors import being_worked
from leadflow.leads.services import create_lead, update_lead
from leadflow.users.models import User

from .readers import read_rows
from .report import FIRST_ROW, ImportReport, Progress

CHUNK = 500  # rows per transaction

FIELDS = {
    "email": ["email", "emailaddress", "workemail", "e-mail"],
    "first_name": ["firstname", "first", "givenname"],
    "last_name": ["lastname", "last", "surname", "familyname"],
    "phone": ["phone", "phonenumber", "mobile", "mobilephone", "mobilephonenumber"],
    "job_title": ["jobtitle", "title", "position"],
    "seniority": ["seniority"],
    "company_name": ["company", "companyname", "account", "accountname", "organization", "organisation"],
    "domain": ["website", "websiteurl", "domain", "companydomain"],
    "industry": ["industry"],
    "employee_band": ["employees", "numberofemployees", "noofemployees", "employeeband", "companysize"],
    "country": ["country", "countryregion"],
    "region": ["region"],
    "source": ["source", "leadsource", "originalsource"],
    "source_detail": ["sourcedetail", "originalsourcedrilldown1"],
    "first_touch_channel": ["channel", "firsttouchchannel"],
    "utm_source": ["utmsource"],
    "utm_medium": ["utmmedium"],
    "utm_campaign": ["utmcampaign", "campaign"],
    "external_id": ["id", "externalid", "recordid", "leadid"],
    "created_at": ["created", "createdate", "createddate", "createdat", "leadcreatedat"],
    "budget_amount": ["budget", "budgetamount"],
    "authority": ["authority"],
    "need": ["need", "painpoints", "description"],
    "timing_target_date": ["timing", "targetdate", "timingtargetdate"],
    "owner": ["owner", "contactowner", "leadowner", "ownerusername"],
}
PRESETS: dict[str, dict[str, str]] = {
    "generic": {},
}  # fmt: skip
SOURCE_VALUES = {
    **{value: value for value in LeadSource.values},
    **{label.lower(): value for value, label in LeadSource.choices},
    # HubSpot "Original Source"
    "organic search": LeadSource.INBOUND_MARKETING, "paid search": LeadSource.INBOUND_MARKETING,
    "direct traffic": LeadSource.INBOUND_MARKETING, "email marketing": LeadSource.INBOUND_MARKETING,
    "social media": LeadSource.INBOUND_MARKETING, "organic social": LeadSource.INBOUND_MARKETING,
    "paid social": LeadSource.INBOUND_MARKETING, "other campaigns": LeadSource.INBOUND_MARKETING,
    "referrals": LeadSource.REFERRAL_PARTNER, "offline sources": LeadSource.OTHER,
    # Salesforce "Lead Source"
    "web": LeadSource.INBOUND_MARKETING, "advertisement": LeadSource.INBOUND_MARKETING,
    "phone inquiry": LeadSource.INBOUND_MARKETING, "cold call": LeadSource.OUTBOUND_PROSPECTING,
    "partner referral": LeadSource.REFERRAL_PARTNER, "partner": LeadSource.REFERRAL_PARTNER,
    "employee referral": LeadSource.REFERRAL_PARTNER, "external referral": LeadSource.REFERRAL_PARTNER,
    "word of mouth": LeadSource.REFERRAL_PARTNER, "trade show": LeadSource.EVENT_WEBINAR,
    "seminar - internal": LeadSource.EVENT_WEBINAR, "seminar - partner": LeadSource.EVENT_WEBINAR,
    "webinar": LeadSource.EVENT_WEBINAR, "purchased list": LeadSource.PURCHASED_LIST, "other": LeadSource.OTHER,
    # leadforge
    "inbound_marketing": LeadSource.INBOUND_MARKETING, "sdr_outbound": LeadSource.OUTBOUND_PROSPECTING,
    "partner_referral": LeadSource.REFERRAL_PARTNER,
}  # fmt: skip
AUTHORITY_VALUES = {**{v: v for v in Authority.values}, **{label.lower(): v for v, label in Authority.choices}}
SENIORITY_VALUES = {**{v: v for v in Seniority.values}, **{label.lower(): v for v, label in Seniority.choices}}
# Country names the exports spell out, as ISO codes (any two-letter code is taken as it is).
COUNTRY_VALUES = {
    "united states": "US", "united states of america": "US", "usa": "US", "united kingdom": "GB", "uk": "GB",
    "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "ireland": "IE", "canada": "CA", "australia": "AU", "new zealand": "NZ", "germany": "DE", "france": "FR",
    "spain": "ES", "italy": "IT", "netherlands": "NL", "the netherlands": "NL", "belgium": "BE", "switzerland": "CH",
    "austria": "AT", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI", "poland": "PL",
    "portugal": "PT", "india": "IN", "japan": "JP", "singapore": "SG", "brazil": "BR", "mexico": "MX",
}  # fmt: skip
BAND_FLOORS = [(2000, "2000+"), (1000, "1000-1999"), (500, "500-999"), (200, "200-499"), (50, "50-199"), (10, "10-49")]
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%m/%d/%Y %H:%M", "%d.%m.%Y",
                "%m/%d/%Y %I:%M %p", "%m/%d/%Y, %I:%M %p")  # fmt: skip
LEAD_COLUMNS = ("source", "source_detail", "first_touch_channel", "utm_source", "utm_medium", "utm_campaign",
                "budget_amount", "authority", "need", "timing_target_date", "company_name")  # fmt: skip
CONTACT_COLUMNS = ("first_name", "last_name", "phone", "job_title", "seniority")


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def detect_mapping(headers: list[str], preset: str = "generic") -> dict[str, str]:
    """{header: field} for every header the preset or the synonyms recognise; the rest are ignored."""
    synonyms = {synonym: name for name, words in FIELDS.items() for synonym in words}
    mapping: dict[str, str] = {}
    for header in headers:
        field = PRESETS.get(preset, {}).get(header) or synonyms.get(_key(header))
        if field and field not in mapping.values():
            mapping[header] = field
    return mapping


def load_mapping(path: Path) -> dict[str, str]:
    """A mapping file: a JSON object {column header: field}; every field must be one leadflow knows."""
    try:
        mapping = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput.on("mapping", f"Cannot read {path}: {exc}") from exc
    return check_mapping(mapping)


def check_mapping(mapping: Any) -> dict[str, str]:
    """{column header: field} without the ignored columns (mapped to ""); every field must be one leadflow knows
    and appear once."""
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise InvalidInput.on("mapping", "A mapping is a JSON object of column header → field name.")
    mapping = {header: field for header, field in mapping.items() if field}
    unknown = sorted(set(mapping.values()) - set(FIELDS))
    if unknown:
        raise InvalidInput.on("mapping", f"Unknown fields {', '.join(unknown)}; known: {', '.join(FIELDS)}.")
    twice = sorted(field for field in set(mapping.values()) if list(mapping.values()).count(field) > 1)
    if twice:
        raise InvalidInput.on("mapping", f"Several columns map to {', '.join(twice)}; map each field once.")
    return mapping


def parse_date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for pattern in DATE_FORMATS:
            try:
                moment = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"Not a date: {text!r} (use YYYY-MM-DD).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_number(text: str) -> Decimal:
    try:
        return Decimal(re.sub(r"[,\s$€£]", "", text))
    except InvalidOperation:
        raise ValueError(f"Not a number: {text!r}.") from None


def employee_band_of(text: str) -> str:
    if text in EmployeeBand.values:
        return text
    count = int(parse_number(text))
    return next((band for floor, band in BAND_FLOORS if count >= floor), "1-9")


def country_code(text: str) -> str:
    code = COUNTRY_VALUES.get(text.strip().lower()) or text.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError(f"Unknown country {text!r}; use a two-letter ISO code such as GB.")
    return code


def _choice(values: dict[str, str], text: str) -> str:
    value = values.get(text.strip().lower())
    if value is None:
        raise ValueError(f"Unknown value {text!r}.")
    return value


CLEANERS: dict[str, Callable[[str], Any]] = {
    "email": normalise_email,
    "domain": normalise_domain,
    "created_at": parse_date,
    "timing_target_date": lambda text: parse_date(text).date(),
    "budget_amount": parse_number,
    "employee_band": employee_band_of,
    "country": country_code,
    "source": lambda text: _choice(SOURCE_VALUES, text),
    "authority": lambda text: _choice(AUTHORITY_VALUES, text),
    "seniority": lambda text: _choice(SENIORITY_VALUES, text),
}


def check_mapping_fits(mapping: dict[str, str], headers: list[str]) -> None:
    """Refuse a mapping that names a column the file lacks, or in which no column names a person or a lead."""
    missing = [header for header in mapping if header not in headers]
    if missing:
        raise InvalidInput.on("mapping", f"The file has no column {missing[0]!r}.")
    if not {"email", "first_name", "last_name", "external_id"} & set(mapping.values()):
        raise InvalidInput.on("mapping", "No column maps to email, a name or an id: nothing identifies a lead.")


class SpreadsheetImport:
    """One run of a spreadsheet preset: every valid row is captured or updated by `by`, every invalid one reported.

    Rows are committed CHUNK at a time, so a long import shows its progress; `committed` is called with the report
    inside each chunk's transaction, so what it keeps matches what was written, and a run given that report back
    (`resume`) carries on after its rows, counting nothing twice. A dry run is one transaction, rolled back."""

    def __init__(
        self,
        path: Path,
        *,
        by: User,
        preset: str = "generic",
        mapping: dict[str, str] | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        resume: ImportReport | None = None,
        committed: Callable[[ImportReport], None] | None = None,
    ) -> None:
        self.headers, self.rows = read_rows(path)
        self.mapping = check_mapping(mapping) if mapping is not None else detect_mapping(self.headers, preset)
        check_mapping_fits(self.mapping, self.headers)
        self.report = resume or ImportReport(dry_run=dry_run)
        self.committed = committed or (lambda report: None)
        self.by = by
        self.progress = progress or (lambda table, rows: None)
        self.users = {key.lower(): user for user in User.objects.filter(is_active=True) for key in user_keys(user)}

    def run(self) -> ImportReport:
        started = time.perf_counter()
        numbered = islice(enumerate(self.rows, start=FIRST_ROW), self.report.rows, None)
        with transaction.atomic() if self.report.dry_run else nullcontext():
            while chunk := list(islice(numbered, CHUNK)):
                with transaction.atomic():
                    for number, row in chunk:
                        self._row(number, row)
                    self.committed(self.report)
                self.progress("leads", self.report.rows)
            if self.report.dry_run:
                transaction.set_rollback(True)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _clean(self, number: int, row: dict[str, str]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        problems = []
        for header, field in self.mapping.items():
            text = row.get(header, "").strip()
            if not text:
                continue
            clean = self._owner if field == "owner" else CLEANERS.get(field)
            try:
                values[field] = clean(text) if clean else text
            except (ValueError, DomainError) as exc:
                problems.append((header, exc.detail.split(": ", 1)[-1] if isinstance(exc, DomainError) else str(exc)))
        if problems:
            self.report.table("leads").invalid += 1  # one invalid row, however many reasons it has
            for header, reason in problems:
                self.report.note("leads", number, header, reason)
            return None
        if not (values.get("email") or values.get("first_name") or values.get("last_name")):
            self.report.reject("leads", number, "email", "A row needs an email or a name.")
            return None
        return values

    def _owner(self, text: str) -> User:
        user = self.users.get(text.lower())
        if user is None:
            raise ValueError(f"No active user {text!r} (name a user by username, email or full name).")
        return user

    def _row(self, number: int, row: dict[str, str]) -> None:
        counts = self.report.table("leads")
        counts.read += 1
        values = self._clean(number, row)
        if values is None:
            return
        owner = values.pop("owner", None)
        existing = self._existing_lead(values)
        try:
            with transaction.atomic():
                if existing is None:
                    self._capture(values, owner)
                    counts.new += 1
                elif self._update(existing, values):
                    counts.updated += 1
                else:
                    counts.duplicate += 1
        except DomainError as exc:
            column = next((h for h, f in self.mapping.items() if f in exc.errors), next(iter(exc.errors), "row"))
            self.report.reject("leads", number, column, exc.detail)

    def _existing_lead(self, values: dict[str, Any]) -> Lead | None:
        """The lead this row is about: the same external id, else the open lead of the same email."""
        if values.get("external_id"):
            lead = Lead.objects.filter(external_id=values["external_id"]).select_related("contact").first()
            if lead is not None:
                return lead
        if values.get("email"):
            return being_worked(Lead.objects.filter(contact__email=values["email"])).select_related("contact").first()
        return None

    def _capture(self, values: dict[str, Any], owner: User | None) -> Lead:
        domain = values.pop("domain", None) or work_domain(values.get("email"))
        account = None
        if values.get("company_name") or domain:
            account = find_or_create_account(name=values.get("company_name"), domain=domain)
        if account is not None:
            for field in ("industry", "employee_band", "country", "region"):
                if values.get(field) and not getattr(account, field):
                    setattr(account, field, values[field])
            account.save()
        for field in ("industry", "employee_band", "country", "region"):
            values.pop(field, None)
        return create_lead(by=self.by, account=account, owner=owner, **values)

    def _update(self, lead: Lead, values: dict[str, Any]) -> bool:
        """Fill what the lead and its contact lack or changed; True when anything changed."""
        lead_changes = {f: values[f] for f in LEAD_COLUMNS if f in values and getattr(lead, f) != values[f]}
        contact: Contact = lead.contact
        contact_changes = {f: values[f] for f in CONTACT_COLUMNS if f in values and getattr(contact, f) != values[f]}
        if lead_changes:
            update_lead(lead, by=self.by, **lead_changes)
        if contact_changes:
            update_contact(contact, **contact_changes)
        return bool(lead_changes or contact_changes)


def work_domain(email: str | None) -> str | None:
    domain = email_domain(email)
    return domain if domain and domain not in FREE_MAIL_DOMAINS else None


def user_keys(user: User) -> list[str]:
    return [key for key in (user.username, user.email, user.get_full_name()) if key]
