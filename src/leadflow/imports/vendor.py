"""Moving in from another CRM: one export file, a folder or a zip of a product's files (HubSpot, Salesforce,
Pipedrive; see `presets`), with companies, people and deals linked, each person's place in the funnel kept as
history rows naming the product's value, and existing records updated (blanks filled, or overwritten).

A good row is never lost to a value leadflow does not know: the field is left as other (or blank), the original
kept (the source's in source_detail, others in the contact's or account's attributes) and listed in the report.
A row is refused only when its email is malformed or nothing identifies it; the refused rows come back as a
fixable copy of themselves. Everything is written through the services, so their rules and history apply.
"""

import time
import zipfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from leadflow.accounts.models import Account, Contact
from leadflow.accounts.services import (
    create_account,
    normalise_domain,
    normalise_email,
    update_account,
    update_contact,
)
from leadflow.errors import DomainError, InvalidInput, NotAllowed
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, LeadSource, LifecycleStage
from leadflow.leads.selectors import being_worked
from leadflow.leads.services import create_lead, record_lifecycle_change, update_lead
from leadflow.pipeline.models import LostReason, Opportunity, Stage
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import create_opportunity, move_opportunity, update_opportunity
from leadflow.users.models import User

from .presets import VENDORS
from .presets.base import COMPANIES, DEALS, LOST, PEOPLE, USERS, WON, Funnel, ObjectFile, Vendor, value_key
from .readers import SUPPORTED, count_rows, read_rows, suffix_of
from .report import FIRST_ROW, ImportReport, Progress
from .spreadsheet import country_code, employee_band_of, parse_date, parse_number, user_keys, work_domain

UPDATE_MODES = ("fill", "overwrite")
CHUNK = 500  # rows per transaction
ORDER = (USERS, COMPANIES, PEOPLE, DEALS)  # owners first, then what the later files link to
IMPORTED_LOST_REASON = "Unknown (imported)"
MAX_UNZIPPED_BYTES = 2 << 30
TRUE = {"true", "1", "yes"}
FUNNEL_FIELDS = ("lifecycle", "lead_status", "rating", "label")  # kept on the contact as the product had them


class Refused(Exception):
    """A row that cannot be imported as it is; the message says what to fix."""


@dataclass
class Source:
    """One file of the import and how its columns read."""

    name: str
    path: Path
    kind: ObjectFile
    headers: list[str]
    columns: dict[str, str]  # field → the file's header


def export_files(path: Path, workdir: Path) -> list[tuple[str, Path]]:
    """(name, path) of each spreadsheet in a file, a folder or a zip (unpacked into workdir), in name order."""
    if path.is_dir():
        found = [(str(p.relative_to(path)), p) for p in path.rglob("*") if p.is_file()]
    elif suffix_of(path.name) == ".zip":
        try:
            with zipfile.ZipFile(path) as bundle:
                if sum(info.file_size for info in bundle.infolist()) > MAX_UNZIPPED_BYTES:
                    raise InvalidInput.on("file", f"{path.name} unpacks to more than 2 GiB.")
                bundle.extractall(workdir)
        except zipfile.BadZipFile as exc:
            raise InvalidInput.on("file", f"{path.name} is not a readable zip file.") from exc
        found = [(str(p.relative_to(workdir)), p) for p in workdir.rglob("*") if p.is_file()]
    else:
        found = [(path.name, path)]
    return sorted(
        (name, p) for name, p in found
        if suffix_of(name) in SUPPORTED and not any(part.startswith((".", "__MACOSX")) for part in Path(name).parts)
    )  # fmt: skip


def export_sources(path: Path, vendor: Vendor, workdir: Path) -> tuple[list[Source], list[str]]:
    """The product's files in a file, folder or zip, and the names of the other files (skipped); refuses a path
    holding none of its files."""
    sources, skipped = [], []
    for name, file in export_files(path, workdir):
        headers, rows = read_rows(file)
        rows.close()
        kind = vendor.object_file(name, headers)
        if kind is None:
            skipped.append(name)
        else:
            sources.append(Source(name, file, kind, headers, kind.mapping(headers)))
    if not sources:
        raise InvalidInput.on("file", f"No {vendor.label} export found in {path.name}.")
    return sources, skipped


def export_contents(path: Path, vendor: Vendor) -> list[tuple[str, str, int | None]]:
    """(file name, what it holds, about how many rows) for each of the product's files in a file or zip."""
    with TemporaryDirectory() as workdir:
        sources, _ = export_sources(path, vendor, Path(workdir))
        return [(source.name, source.kind.label, count_rows(source.path)) for source in sources]


def _blank(value: Any) -> bool:
    return value in (None, "", LeadSource.OTHER)


class VendorImport:
    """One run of a product's preset over a file, folder or zip, as `by`."""

    def __init__(
        self,
        path: Path,
        *,
        vendor: Vendor,
        by: User,
        update: str = "fill",
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> None:
        if update not in UPDATE_MODES:
            raise InvalidInput.on("update", f"Choose one of {', '.join(UPDATE_MODES)}.")
        self.path, self.vendor, self.by, self.update = path, vendor, by, update
        self.report = ImportReport(dry_run=dry_run)
        self.progress = progress or (lambda table, rows: None)
        self.users = {key.lower(): user for user in User.objects.filter(is_active=True) for key in user_keys(user)}
        self.owner_ids: dict[str, tuple[User | None, str]] = {}  # product user id → (user, name as listed)
        self.accounts: dict[str, Account] = {}  # product company id or lower-case name → account
        self.people: dict[str, Lead] = {}  # product person id or lower-case full name → lead
        self.people_of_account: dict[int, Lead] = {}  # account id → the first person imported with it
        self.converted: dict[str, Lead] = {}  # product deal id → the lead converted into it (Salesforce)
        self.with_deals: set[str] = set()  # person ids, lower-case names and company ids the deals name

    def run(self) -> ImportReport:
        """Import every file (owners, companies, people, deals) and report; a dry run writes nothing."""
        started = time.perf_counter()
        with TemporaryDirectory() as workdir:
            sources = self._sources(Path(workdir))
            if any(source.kind.kind == DEALS for source in sources) and self.by.is_marketing:
                raise NotAllowed("This import holds deals, and marketing cannot create opportunities.")
            pipeline = default_pipeline()
            stages = list(pipeline.stages.order_by("order"))
            self.pipeline = pipeline
            self.open_stages = [stage for stage in stages if not stage.is_closed]
            self.closing = {WON: next(s for s in stages if s.is_won), LOST: next(s for s in stages if s.is_lost)}
            for source in sources:
                if source.kind.kind == DEALS:
                    self._note_deal_people(source)
            with transaction.atomic() if self.report.dry_run else nullcontext():
                for source in sorted(sources, key=self._order):
                    self._import(source)
                if self.report.dry_run:
                    transaction.set_rollback(True)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _order(self, source: Source) -> tuple[int, int]:
        """Owners, companies, people, deals; within a kind, in the product's order (Salesforce leads before
        contacts, so a converted lead's contact is the person the lead brought)."""
        return ORDER.index(source.kind.kind), self.vendor.files.index(source.kind)

    # --- files ----------------------------------------------------------------------------------------------

    def _sources(self, workdir: Path) -> list[Source]:
        sources, skipped = export_sources(self.path, self.vendor, workdir)
        self.report.warnings.extend(
            f"{name}: not a {self.vendor.label} export leadflow knows; skipped." for name in skipped
        )
        return sources

    def _rows(self, source: Source) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
        """(row number, the row as read, {field: text}) for each row."""
        _, rows = read_rows(source.path)
        for number, row in enumerate(rows, start=FIRST_ROW):
            values = {name: row[header] for name, header in source.columns.items() if row.get(header)}
            yield number, row, values

    def _import(self, source: Source) -> None:
        handler = {USERS: self._user, COMPANIES: self._company, PEOPLE: self._person, DEALS: self._deal}
        write = handler[source.kind.kind]
        counts = self.report.table(source.kind.label)
        numbered = self._rows(source)
        while chunk := list(islice(numbered, CHUNK)):
            with transaction.atomic():
                for number, row, values in chunk:
                    counts.read += 1
                    try:
                        with transaction.atomic():
                            outcome = write(source, number, values)
                    except Refused as exc:
                        outcome, reason = "invalid", str(exc)
                    except DomainError as exc:
                        outcome, reason = "invalid", "; ".join([exc.detail, *_field_errors(exc)])
                    if outcome == "invalid":
                        self.report.refuse(source.kind.label, source.name, number, source.headers, row, reason)
                    elif outcome:
                        setattr(counts, outcome, getattr(counts, outcome) + 1)
            self.progress(source.kind.label, self.report.rows)

    # --- values ---------------------------------------------------------------------------------------------

    def _unknown(self, source: Source, name: str, value: str, kept: dict[str, str]) -> None:
        self.report.unknown[(source.columns.get(name, name), value)] += 1
        kept[source.columns.get(name, name)] = value

    def _warn(self, source: Source, number: int, message: str) -> None:
        self.report.warnings.append(f"{source.name} row {number}: {message}")

    def _date(self, source: Source, number: int, values: dict[str, str], name: str) -> datetime | None:
        text = values.get(name, "")
        if not text:
            return None
        try:
            return parse_date(text)
        except ValueError:
            self._warn(source, number, f"{source.columns[name]} {text!r} is not a date; left blank.")
            return None

    def _amount(self, source: Source, number: int, values: dict[str, str]) -> Decimal:
        text = values.get("amount", "")
        try:
            amount = parse_number(text) if text else Decimal(0)
        except ValueError:
            amount = Decimal(-1)
        if amount < 0:
            self._warn(source, number, f"{source.columns['amount']} {text!r} is not an amount; left at 0.")
            return Decimal(0)
        return amount

    def _company_facts(self, source: Source, number: int, values: dict[str, str], kept: dict[str, str]) -> dict:
        """Industry, employee band and country of a row, as account fields (unknown ones blank, kept)."""
        facts: dict[str, Any] = {"industry": values.get("industry", "")}
        if values.get("employees"):
            try:
                facts["employee_band"] = employee_band_of(values["employees"])
            except ValueError:
                self._warn(source, number, f"{source.columns['employees']} {values['employees']!r} is not a number.")
                kept[source.columns["employees"]] = values["employees"]
        if values.get("country"):
            try:
                facts["country"] = country_code(values["country"])
            except ValueError:
                self._unknown(source, "country", values["country"], kept)
        return {name: value for name, value in facts.items() if value}

    def _owner(self, values: dict[str, str]) -> User | None:
        """The user the product's owner (an id from User.csv, an email or a name) is; unmatched ones are listed."""
        text = values.get("owner", "")
        if not text:
            return None
        user, name = self.owner_ids.get(text) or (self.users.get(text.lower()), text)
        if user is None:
            self.report.unmatched_owners[name] += 1
        return user

    def _source_fields(self, source: Source, values: dict[str, str]) -> dict[str, str]:
        """source, source_detail and first_touch_channel: a known value keeps its label as the channel and the
        drill-down as the detail; an unknown one makes the source other with the value as the detail."""
        text = values.get("source", "")
        if not text:
            return {"source_detail": values.get("source_detail", "")}
        known = self.vendor.sources.get(value_key(text))
        if known is None:
            self.report.unknown[(source.columns["source"], text)] += 1
            return {"source": LeadSource.OTHER, "source_detail": text}
        return {"source": known, "source_detail": values.get("source_detail", ""), "first_touch_channel": text}

    def _changes(self, table: str, record: Any, incoming: dict[str, Any]) -> dict[str, Any]:
        """The fields to change on a record already here: blanks only (fill) or every differing value
        (overwrite); a blank cell never erases. Counted per field for the report."""
        changes = {
            name: value for name, value in incoming.items()
            if value not in (None, "") and getattr(record, name) != value
            and (self.update == "overwrite" or _blank(getattr(record, name)))
        }  # fmt: skip
        for name in changes:
            self.report.changed[f"{table}: {name}"] += 1
        return changes

    def _keep(self, record: Contact | Account, kept: dict[str, str]) -> dict[str, Any]:
        """The record's attributes with the product's original values added, or {} when there are none."""
        if not kept:
            return {}
        mine = dict(record.attributes.get(self.vendor.name, {}))
        if all(mine.get(k) == v for k, v in kept.items()):
            return {}
        return {"attributes": {**record.attributes, self.vendor.name: {**mine, **kept}}}

    def _external_id(self, values: dict[str, str]) -> str | None:
        return f"{self.vendor.name}:{values['external_id']}" if values.get("external_id") else None

    # --- users ----------------------------------------------------------------------------------------------

    def _user(self, source: Source, number: int, values: dict[str, str]) -> str:
        """A product user (Salesforce User.csv): remember which leadflow user their id stands for."""
        full_name = values.get("full_name") or f"{values.get('first_name', '')} {values.get('last_name', '')}".strip()
        keys = [values.get("email", ""), values.get("username", ""), full_name]
        user = next((self.users[key.lower()] for key in keys if key and key.lower() in self.users), None)
        if values.get("external_id"):
            self.owner_ids[values["external_id"]] = (user, full_name or values.get("email") or values["external_id"])
        return ""

    # --- companies ------------------------------------------------------------------------------------------

    def _company(self, source: Source, number: int, values: dict[str, str]) -> str:
        name, domain = values.get("name", ""), normalise_domain(values.get("domain"))
        if not (name or domain or values.get("external_id")):
            raise Refused("No company name, domain or record id: nothing identifies this company.")
        kept: dict[str, str] = {}
        fields = {"name": name or domain or "", **self._company_facts(source, number, values, kept)}
        fields.update(domain=domain, owner=self._owner(values))
        external_id = self._external_id(values)
        account = self._find_account(external_id, domain, name)
        if account is None:
            account = create_account(external_id=external_id, **fields, **self._keep(Account(), kept))
            outcome = "new"
        else:
            changes = self._changes("accounts", account, fields)
            if external_id and not account.external_id:
                changes["external_id"] = external_id
            changes.update(self._keep(account, kept))
            if changes:
                update_account(account, **changes)
            outcome = "updated" if changes else "duplicate"
        for key in (values.get("external_id"), name.lower()):
            if key:
                self.accounts[key] = account
        return outcome

    @staticmethod
    def _find_account(external_id: str | None, domain: str | None, name: str) -> Account | None:
        """The account with the product's id, else the same domain, else the same name."""
        for condition in (
            Q(external_id=external_id) if external_id else None,
            Q(domain=domain) if domain else None,
            Q(name__iexact=name) if name else None,
        ):
            if condition is not None and (found := Account.objects.filter(condition).first()) is not None:
                return found
        return None

    def _account_of(self, source: Source, number: int, values: dict[str, str], kept: dict[str, str]) -> Account | None:
        """The company a person or deal names: by the product's company id, else by name or domain (created
        when new, its blank facts filled from the row)."""
        reference = next(iter(_references(values.get("company_ref", ""))), "")
        account = self.accounts.get(reference) or (
            Account.objects.filter(external_id=f"{self.vendor.name}:{reference}").first() if reference else None
        )
        name = values.get("company_name", "")
        if account is None and name:
            account = self.accounts.get(name.lower())
        domain = normalise_domain(values.get("domain")) or work_domain(values.get("email_clean"))
        if account is None and (name or domain):
            account = self._find_account(None, domain, name) or create_account(name=name or domain, domain=domain)
            self.accounts[name.lower() or domain or ""] = account
        if account is not None:
            facts = self._company_facts(source, number, values, kept)
            fill = {key: value for key, value in facts.items() if not getattr(account, key)}
            if fill:
                update_account(account, **fill)
        return account

    # --- people ---------------------------------------------------------------------------------------------

    def _person(self, source: Source, number: int, values: dict[str, str]) -> str:
        try:
            email = normalise_email(values.get("email"))
        except InvalidInput:
            raise Refused(f"{source.columns['email']} {values['email']!r} is not a valid email address.") from None
        phone = values.get("phone") or values.get("mobile", "")
        if not (email or phone or values.get("external_id")):
            raise Refused(f"No email, phone or {self.vendor.label} record id: nothing identifies this person.")
        first, last = values.get("first_name", ""), values.get("last_name", "")
        if not (first or last) and values.get("full_name"):
            first, _, last = values["full_name"].partition(" ")
        kept: dict[str, str] = {}
        account = self._account_of(source, number, {**values, "email_clean": email or ""}, kept)
        funnel = self.vendor.funnel(values)
        for name, value in funnel.unknown:
            self._unknown(source, name, value, kept)
        kept.update({source.columns[n]: values[n] for n in FUNNEL_FIELDS if values.get(n)})
        created = self._date(source, number, values, "created_at")
        lead_fields: dict[str, Any] = {
            "company_name": values.get("company_name", ""),
            **self._source_fields(source, values),
        }
        contact_fields: dict[str, Any] = {"first_name": first, "last_name": last, "phone": phone}
        contact_fields["job_title"] = values.get("job_title", "")
        owner = self._owner(values)
        external_id = self._external_id(values)
        lead = self._find_lead(external_id, email)
        if lead is None:
            contact = Contact.objects.filter(email__iexact=email).first() if email else None
            lead = create_lead(
                by=self.by, email=email, contact=contact, account=account, owner=owner, created_at=created,
                external_id=external_id, **lead_fields, **({} if contact else contact_fields),
            )  # fmt: skip
            contact_changes = self._keep(lead.contact, kept)
            if external_id and not Contact.objects.filter(external_id=external_id).exists():
                contact_changes["external_id"] = external_id
            if contact_changes:
                update_contact(lead.contact, **contact_changes)
            self._walk(lead, self._steps(source, values, funnel, lead), created)
            outcome = "new"
        else:
            outcome = self._update_person(lead, lead_fields, contact_fields, owner, kept, external_id)
            if self.update == "overwrite" or lead.lifecycle_stage == LifecycleStage.LEAD:
                self._walk(lead, self._steps(source, values, funnel, lead), created)
        self._remember(values, lead, f"{first} {last}".strip())
        return outcome

    def _find_lead(self, external_id: str | None, email: str | None) -> Lead | None:
        """The lead already here for this person: by the product's id, else by email (the open lead first)."""
        leads = Lead.objects.select_related("contact")
        if external_id:
            found = leads.filter(Q(external_id=external_id) | Q(contact__external_id=external_id)).first()
            if found is not None:
                return found
        if email:
            mine = leads.filter(contact__email__iexact=email)
            return being_worked(mine).order_by("created_at", "id").first() or mine.order_by("-created_at").first()
        return None

    def _update_person(
        self,
        lead: Lead,
        lead_fields: dict,
        contact_fields: dict,
        owner: User | None,
        kept: dict,
        external_id: str | None,
    ) -> str:
        """Change what the update mode allows on a person already here; "updated" or "duplicate"."""
        lead_changes = self._changes("leads", lead, lead_fields)
        if owner is not None and owner != lead.owner and (self.update == "overwrite" or lead.owner is None):
            lead_changes["owner"] = owner
            self.report.changed["leads: owner"] += 1
        if external_id and not lead.external_id and not Lead.objects.filter(external_id=external_id).exists():
            lead_changes["external_id"] = external_id
        contact_changes = {**self._changes("contacts", lead.contact, contact_fields), **self._keep(lead.contact, kept)}
        if lead_changes:
            update_lead(lead, by=self.by, **lead_changes)
        if contact_changes:
            update_contact(lead.contact, **contact_changes)
        return "updated" if lead_changes or contact_changes else "duplicate"

    def _steps(self, source: Source, values: dict[str, str], funnel: Funnel, lead: Lead) -> list[tuple[str, str]]:
        """The funnel's steps; a stage only a deal reaches, with no deal of theirs in the import, makes a
        prospect (and the report lists the person)."""
        steps = list(funnel.steps)
        has_deal = any(
            key and key in self.with_deals
            for key in (values.get("external_id"), values.get("converted_deal"), values.get("full_name", "").lower(),
                        f"{values.get('first_name', '')} {values.get('last_name', '')}".strip().lower(),
                        f"company:{values['company_ref']}" if values.get("company_ref") else "",
                        f"company:{values['company_name'].lower()}" if values.get("company_name") else "")
        )  # fmt: skip
        if funnel.through_deals and not has_deal:
            steps.insert(0, (LifecycleStage.PROSPECT, f"{funnel.through_deals} (no deal of theirs in this import)"))
            self.report.without_deal.append(f"{lead.contact} ({funnel.through_deals})")
        return steps

    def _walk(self, lead: Lead, steps: list[tuple[str, str]], at: datetime | None) -> None:
        """Take the steps the lifecycle graph allows from where the lead stands (recycling a lead passes
        through disqualified); a lead already where the steps end stays."""
        if not steps or lead.lifecycle_stage == steps[-1][0]:
            return
        for stage, reason in steps:
            if stage == LifecycleStage.RECYCLED and lead.lifecycle_stage == LifecycleStage.LEAD:
                record_lifecycle_change(lead, to=LifecycleStage.DISQUALIFIED, by=self.by, reason=reason, at=at)
            if is_allowed(lead.lifecycle_stage, stage):
                record_lifecycle_change(lead, to=stage, by=self.by, reason=reason, at=at)

    def _remember(self, values: dict[str, str], lead: Lead, name: str) -> None:
        for key in (values.get("external_id"), values.get("converted_person"), name.lower()):
            if key:
                self.people.setdefault(key, lead)
        if values.get("converted_deal"):
            self.converted[values["converted_deal"]] = lead
        if lead.contact.account_id is not None:
            self.people_of_account.setdefault(lead.contact.account_id, lead)

    # --- deals ----------------------------------------------------------------------------------------------

    def _note_deal_people(self, source: Source) -> None:
        """Who the deals name (person ids and names, and for Salesforce the deal ids converted leads name), so
        people whose stage only a deal reaches are known to have one before the deals are read."""
        for _, _, values in self._rows(source):
            self.with_deals.update(_references(values.get("person_ref", "")))
            names = (values.get("external_id", ""), values.get("person_name", "").lower())
            self.with_deals.update(key for key in names if key)
            if not (values.get("person_ref") or values.get("person_name")):  # the deal goes to its company's person
                companies = (*_references(values.get("company_ref", "")), values.get("company_name", "").lower())
                self.with_deals.update(f"company:{key}" for key in companies if key)

    def _deal_stage(self, source: Source, values: dict[str, str]) -> tuple[Stage, str | None, str]:
        """(open stage the deal reached, WON / LOST / None, the product's words for the history)."""
        text = values.get("stage", "")
        mapped = self.vendor.deal_stages.get(value_key(text)) if text else None
        if text and mapped is None:
            self.report.unknown[(source.columns["stage"], text)] += 1
        closed = mapped if isinstance(mapped, str) else None
        status = value_key(values.get("status", ""))
        if status in (WON, LOST):
            closed = status
        elif value_key(values.get("is_closed", "")) in TRUE:
            closed = WON if value_key(values.get("is_won", "")) in TRUE else LOST
        elif status and status != "open":
            self.report.unknown[(source.columns["status"], values["status"])] += 1
        index = mapped if isinstance(mapped, int) else 0
        words = f"{self.vendor.label} deal stage: {text}" if text else f"{self.vendor.label} deal status: {status}"
        return self.open_stages[min(index, len(self.open_stages) - 1)], closed, words

    def _deal(self, source: Source, number: int, values: dict[str, str]) -> str:
        if not (values.get("external_id") or values.get("name")):
            raise Refused("No deal name or record id: nothing identifies this deal.")
        kept: dict[str, str] = {}
        account = self._account_of(source, number, values, kept)
        lead = self._deal_lead(values, account)
        stage, closed, words = self._deal_stage(source, values)
        created = self._date(source, number, values, "created_at")
        close_date = self._date(source, number, values, "close_date")
        closed_at = self._date(source, number, values, "won_time" if closed == WON else "lost_time") or close_date
        currency = values.get("currency", "").upper() or settings.LEADFLOW_DEFAULT_CURRENCY
        if len(currency) != 3 or not currency.isalpha():
            self._unknown(source, "currency", values["currency"], kept)
            currency = settings.LEADFLOW_DEFAULT_CURRENCY
        fields = {
            "amount": self._amount(source, number, values),
            "currency": currency,
            "expected_close_date": close_date.date() if close_date and not closed else None,
            "owner": self._owner(values) or (lead.owner if lead else None),
        }
        external_id = self._external_id(values)
        name = values.get("name") or f"{account.name if account else self.vendor.label}: deal {values['external_id']}"
        existing = Opportunity.objects.filter(external_id=external_id).first() if external_id else None
        if existing is not None:
            return self._update_deal(existing, {"name": name, **fields}, stage, words)
        deal = create_opportunity(
            by=self.by, name=name, pipeline=self.pipeline, stage=self.open_stages[0], lead=lead, account=account,
            contact=lead.contact if lead else None, external_id=external_id, created_at=created, **fields,
        )  # fmt: skip
        opened = deal.created_at
        if lead is not None and is_allowed(lead.lifecycle_stage, LifecycleStage.OPPORTUNITY):
            reason = f"{self.vendor.label} deal {values.get('external_id') or name} imported as opportunity {deal.pk}"
            record_lifecycle_change(lead, to=LifecycleStage.OPPORTUNITY, by=self.by, reason=reason,
                                    at=max(opened, lead.created_at))  # fmt: skip
        if stage != deal.stage:
            move_opportunity(deal, stage=stage, by=self.by, reason=words, at=opened)
        if closed is not None:
            lost = values.get("lost_reason", "")
            move_opportunity(
                deal, stage=self.closing[closed], by=self.by, reason=words, at=max(closed_at or opened, opened),
                lost_reason=self._lost_reason(lost) if closed == LOST else None,
                note=f"Lost reason in {self.vendor.label}: {lost}" if lost and closed == LOST else None,
            )  # fmt: skip
        return "new"

    def _deal_lead(self, values: dict[str, str], account: Account | None) -> Lead | None:
        """The person a deal is about: the converted lead (Salesforce), a person it names by id or name, else
        the first person of its company in this import."""
        candidates = [self.converted.get(values.get("external_id", ""))]
        candidates += [self.people.get(ref) for ref in _references(values.get("person_ref", ""))]
        candidates.append(self.people.get(values.get("person_name", "").lower()))
        candidates.append(self.people_of_account.get(account.pk) if account is not None else None)
        return next((lead for lead in candidates if lead is not None), None)

    def _update_deal(self, deal: Opportunity, fields: dict[str, Any], stage: Stage, words: str) -> str:
        changes = self._changes("opportunities", deal, fields)
        if changes:
            update_opportunity(deal, by=self.by, **changes)
        moved = self.update == "overwrite" and not deal.stage.is_closed and stage != deal.stage
        if moved:
            move_opportunity(deal, stage=stage, by=self.by, reason=words)
            self.report.changed["opportunities: stage"] += 1
        return "updated" if changes or moved else "duplicate"

    @staticmethod
    def _lost_reason(text: str) -> LostReason:
        found = LostReason.objects.filter(name__iexact=text, is_active=True).first() if text else None
        return found or LostReason.objects.get_or_create(name=IMPORTED_LOST_REASON)[0]


def _references(text: str) -> list[str]:
    """Ids in a cell that may hold several ("101;102", "101, 102")."""
    return [part.strip() for part in text.replace(",", ";").split(";") if part.strip()]


def _field_errors(error: DomainError) -> list[str]:
    return [f"{name}: {' '.join(messages)}" for name, messages in error.errors.items() if messages]


def import_export(path: Path, *, preset: str, by: User, **options: Any) -> ImportReport:
    """Import a product's export (a file, a folder or a zip of its files) with its preset."""
    return VendorImport(path, vendor=VENDORS[preset], by=by, **options).run()
