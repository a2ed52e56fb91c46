"""Finding and merging duplicate contacts: the scan over blocks of candidates, "not a duplicate", and the merge
that keeps the chosen value of each field and re-points every row that belonged to the merged-away contact."""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import ForeignObjectRel, Model, Q
from django.utils import timezone
from rapidfuzz import fuzz, process

from leadflow.accounts.matching import (
    CLOSE_NAMES,
    CROWDED_KEY,
    EXACT_KEYS,
    Person,
    company_domain,
    judge,
    plain_name,
    short_forms,
)
from leadflow.accounts.models import Contact, DuplicatePair, PairStatus
from leadflow.accounts.services import update_contact
from leadflow.consent.models import Consent
from leadflow.errors import Conflict, DomainError, InvalidInput, NotAllowed
from leadflow.jobs.models import JobStatus
from leadflow.leads.models import Lead
from leadflow.leads.services import merge_leads, open_lead_for
from leadflow.nurture.models import Enrolment, EnrolmentStatus
from leadflow.qualification.models import Handoff, HandoffStatus
from leadflow.scoring.services import predict_leads, rescore_leads
from leadflow.users.models import User

from .models import ContactMerge, DuplicateScanJob

# The fields whose surviving value the person merging chooses, in the order the merge screen shows them.
MERGE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "seniority",
    "role_function",
    "account",
    "country",
    "time_zone",
    "email_opt_in",
)
SIDES = ("survivor", "merged")
# Blocks bigger than this are compared in overlapping windows of names in alphabetical order, not all pairs.
MAX_BLOCK = 2000


def can_merge(user: User) -> bool:
    """Admins and managers review and merge duplicates (merging rewrites other people's leads and contacts)."""
    return user.is_admin or user.is_manager


def ensure_can_merge(user: User) -> None:
    if not can_merge(user):
        raise NotAllowed("Only admins and managers may review and merge duplicates.")


# --- the scan ------------------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    contacts: int
    compared: int  # pairs of names compared within blocks
    flagged: int  # new pairs
    updated: int  # pairs to review whose score changed


def _blocks_of(person: Person, last_name: str) -> Iterable[tuple]:
    """The blocks a contact falls in: only contacts sharing a block are compared."""
    if person.domain:
        yield ("domain", person.domain)
    if person.phone_key:
        yield ("phone", person.phone_key[:-3])
    if last_name and person.account_id and not person.domain:  # with a domain, its block holds this one
        yield ("initial", last_name[0], person.account_id)
    if person.mailbox_key:
        yield ("mailbox", person.mailbox_key)


def _close_pairs(members: list[int], names: list[str]) -> Iterable[tuple[int, int, int]]:
    """(i, j, closeness), i < j, for the members of a block whose names are at least CLOSE_NAMES alike."""
    if len(members) > MAX_BLOCK:
        ordered = sorted(members, key=names.__getitem__)
        step = MAX_BLOCK // 2
        for start in range(0, len(ordered) - step, step):
            yield from _close_pairs(ordered[start : start + MAX_BLOCK], names)
        return
    block_names = [names[i] for i in members]
    scores = process.cdist(
        block_names, block_names, scorer=fuzz.token_sort_ratio, score_cutoff=CLOSE_NAMES, dtype=np.uint8
    )
    for a, b in zip(*np.nonzero(np.triu(scores, 1)), strict=True):
        first, second = sorted((members[a], members[b]))  # a window holds its members in name order
        yield first, second, int(scores[a, b])


def _short_form_pairs(members: list[int], people: list[Person]) -> Iterable[tuple[int, int]]:
    """(i, j), i < j, for the members of a block with one last name and first names that are forms of one name
    (Bob and Robert Smith), which no closeness of spelling finds."""
    by_name: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index in members:
        if people[index].first_name and people[index].last_name:
            by_name[(people[index].last_name, people[index].first_name)].append(index)
    for (last, first), group in by_name.items():
        for form in short_forms(first):
            if form > first:  # each two names once
                for a in group:
                    for b in by_name.get((last, form), ()):
                        yield min(a, b), max(a, b)


def _comparisons(size: int) -> int:
    """How many pairs of names `_close_pairs` compares in a block of this size."""
    if size <= MAX_BLOCK:
        return size * (size - 1) // 2
    step = MAX_BLOCK // 2
    return sum(_comparisons(min(MAX_BLOCK, size - start)) for start in range(0, size - step, step))


def _exact_pairs(members: list[int]) -> Iterable[tuple[int, int, None]]:
    """Every pair in a group sharing a key, unless the group is crowded (a switchboard, not a person)."""
    if len(members) > CROWDED_KEY:
        return
    for position, a in enumerate(members):
        for b in members[position + 1 :]:
            yield a, b, None


def scan_for_duplicates(*, progress: Callable[[int], None] | None = None) -> ScanResult:
    """Judge every pair of contacts that share a block (company domain, phone prefix, last-name initial within a
    company, Gmail mailbox) or a match key, and flag the likely duplicates; never all pairs. Pairs already called
    "not a duplicate" stay so; pairs still to review get their score refreshed."""
    people: list[Person] = []
    names: list[str] = []
    blocks: dict[tuple, list[int]] = defaultdict(list)
    keys: dict[tuple, list[int]] = defaultdict(list)
    columns = ["pk", "first_name", "last_name", "email", "mailbox_key", "phone_key", "name_key", "account_id"]
    rows = Contact.objects.order_by("pk").values_list(*columns, "account__domain")
    for pk, first, last, email, mailbox, phone, name_key, account_id, account_domain in rows.iterator(5000):
        index = len(people)
        person = Person(pk, plain_name(first), plain_name(last), company_domain(account_domain, email), mailbox,
                        phone, name_key, account_id)  # fmt: skip
        people.append(person)
        names.append(person.name)
        for block in _blocks_of(person, person.last_name):
            blocks[block].append(index)
        for key in ("phone_key", "name_key"):  # the mailbox key is a block of its own
            if getattr(person, key):
                keys[(key, getattr(person, key))].append(index)
        if progress is not None and index % 10000 == 9999:
            progress(index // 2)
    candidates: dict[tuple[int, int], int | None] = {}
    compared = 0
    for members in blocks.values():
        if len(members) > 1:
            compared += _comparisons(len(members))
            candidates.update(((a, b), close) for a, b, close in _close_pairs(members, names))
            for pair in _short_form_pairs(members, people):
                candidates.setdefault(pair, None)
    for members in list(keys.values()) + [m for block, m in blocks.items() if block[0] == "mailbox"]:
        if len(members) > 1:
            candidates.update(((a, b), close) for a, b, close in _exact_pairs(members) if (a, b) not in candidates)
    if progress is not None:
        progress(len(people) * 3 // 4)
    flagged, updated = _store_pairs(people, candidates)
    if progress is not None:
        progress(len(people))
    return ScanResult(contacts=len(people), compared=compared, flagged=flagged, updated=updated)


def _store_pairs(people: list[Person], candidates: dict[tuple[int, int], int | None]) -> tuple[int, int]:
    """Write the likely pairs among the candidates; returns (new pairs, pairs re-scored)."""
    known = {
        (first, second): (pk, status, score)
        for pk, first, second, status, score in DuplicatePair.objects.values_list(
            "pk", "first_id", "second_id", "status", "score"
        ).iterator(5000)
    }
    new, changed = [], []
    for (a, b), close in candidates.items():
        judgement = judge(people[a], people[b], closeness=close)
        if judgement is None:
            continue
        ids = (people[a].id, people[b].id)  # people are in id order and a < b
        existing = known.get(ids)
        if existing is None:
            new.append(DuplicatePair(first_id=ids[0], second_id=ids[1], score=judgement.score,
                                     evidence=judgement.evidence, found_by="scan"))  # fmt: skip
        elif existing[1] == PairStatus.OPEN and existing[2] != judgement.score:
            changed.append(DuplicatePair(pk=existing[0], score=judgement.score, evidence=judgement.evidence))
    with transaction.atomic():
        DuplicatePair.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
        DuplicatePair.objects.bulk_update(changed, ["score", "evidence"], batch_size=2000)
    return len(new), len(changed)


def queue_scan(*, by: User) -> DuplicateScanJob:
    """A job for the worker to scan every contact; a scan already waiting is reused, not doubled."""
    ensure_can_merge(by)
    waiting = DuplicateScanJob.objects.filter(status=JobStatus.QUEUED).first()
    return waiting or DuplicateScanJob.objects.create(requested_by=by, progress_total=Contact.objects.count())


def run_scan_job(job: DuplicateScanJob, progress: Callable[[int], None]) -> str:
    """The worker's side of `queue_scan`."""
    result = scan_for_duplicates(progress=progress)
    return (
        f"Contacts: {result.contacts:,}; pairs of names compared: {result.compared:,}; "
        f"newly flagged: {result.flagged:,}; re-scored: {result.updated:,}."
    )


# --- decisions -----------------------------------------------------------------------------------------------


@transaction.atomic
def mark_not_duplicate(pair: DuplicatePair, *, by: User) -> DuplicatePair:
    """Remember that the two contacts are different people, so neither capture nor scan flags them again."""
    ensure_can_merge(by)
    pair.status, pair.decided_by, pair.decided_at = PairStatus.NOT_DUPLICATE, by, timezone.now()
    pair.save(update_fields=["status", "decided_by", "decided_at"])
    return pair


def _value(contact: Contact, name: str) -> Any:
    return contact.account if name == "account" else getattr(contact, name)


def default_choices(survivor: Contact, merged: Contact) -> dict[str, str]:
    """Which side each field's value comes from unless chosen: the survivor's, or the merged one's where the
    survivor's is blank."""
    return {
        name: "merged" if not _value(survivor, name) and _value(merged, name) else "survivor" for name in MERGE_FIELDS
    }


def _chosen_values(survivor: Contact, merged: Contact, keep: Mapping[str, str]) -> dict[str, str]:
    unknown = set(keep) - set(MERGE_FIELDS)
    if unknown:
        raise InvalidInput.on(f"keep.{sorted(unknown)[0]}", f"Not a field that can be chosen: {sorted(unknown)[0]}.")
    wrong = [name for name, side in keep.items() if side not in SIDES]
    if wrong:
        raise InvalidInput.on(f"keep.{wrong[0]}", "Must be 'survivor' or 'merged'.")
    return {**default_choices(survivor, merged), **keep}


def _settle_clashes(survivor_lead: Lead, merged_lead: Lead, *, by: User, at: Any) -> None:
    """What a lead may have only one of at a time, the survivor's stays: the merged lead's run of a sequence the
    survivor is also in ends, and its turn in the sales queue (when both wait there) is closed as merged."""
    reason = f"Merged into lead {survivor_lead.pk}"
    running = Enrolment.objects.filter(lead=survivor_lead, status=EnrolmentStatus.ACTIVE).values("sequence_id")
    Enrolment.objects.filter(lead=merged_lead, status=EnrolmentStatus.ACTIVE, sequence_id__in=running).update(
        status=EnrolmentStatus.EXITED, finished_at=at, exit_reason=reason
    )
    if Handoff.objects.filter(lead=survivor_lead, status=HandoffStatus.PENDING).exists():
        Handoff.objects.filter(lead=merged_lead, status=HandoffStatus.PENDING).update(
            status=HandoffStatus.CLOSED, decided_at=at, decided_by=by, rejection_reason=reason
        )


def _settle_consents(merged: Contact, survivor: Contact) -> None:
    """A person has one consent per purpose: where both contacts have one, the later answer stands (a consent given
    after an unsubscribe, or a withdrawal after a consent) and the other goes."""
    theirs = {consent.purpose: consent for consent in Consent.objects.filter(contact=survivor)}
    for consent in Consent.objects.filter(contact=merged, purpose__in=list(theirs)):
        kept = theirs[consent.purpose]
        (consent if kept.updated_at >= consent.updated_at else kept).delete()


def _repoint_rows(merged: Contact, survivor: Contact) -> dict[str, int]:
    """Point every row that references the merged contact at the survivor, whatever table it is in (found through
    the models' foreign keys, so a new table is covered); returns the rows moved per table."""
    moved: dict[str, int] = {}
    # Hidden ones too: a foreign key declared with related_name="+" still points at the merged contact.
    relations = [f for f in Contact._meta.get_fields(include_hidden=True) if isinstance(f, ForeignObjectRel)]
    for relation in relations:
        model: type[Model] = relation.related_model  # type: ignore[assignment]
        if model in (ContactMerge, DuplicatePair) or relation.many_to_many:  # their own rules: see merge_contacts
            continue
        if relation.one_to_one and model._default_manager.filter(**{relation.field.name: survivor}).exists():
            continue  # the survivor has its own; the merged one's goes with the contact
        count = model._default_manager.filter(**{relation.field.name: merged}).update(**{relation.field.name: survivor})
        if count:
            moved[model._meta.label_lower] = moved.get(model._meta.label_lower, 0) + count
    return moved


def _carry_decisions(merged: Contact, survivor: Contact) -> None:
    """ "Not a duplicate" said of the merged contact and someone else holds for the survivor too."""
    decided = DuplicatePair.objects.filter(Q(first=merged) | Q(second=merged), status=PairStatus.NOT_DUPLICATE)
    for pair in decided:
        other = pair.second_id if pair.first_id == merged.pk else pair.first_id
        if other == survivor.pk:
            continue
        first, second = sorted((survivor.pk, other))
        DuplicatePair.objects.update_or_create(
            first_id=first,
            second_id=second,
            defaults={"status": PairStatus.NOT_DUPLICATE, "decided_by": pair.decided_by, "decided_at": pair.decided_at},
            create_defaults={"status": PairStatus.NOT_DUPLICATE, "decided_by": pair.decided_by,
                             "decided_at": pair.decided_at, "score": pair.score, "evidence": pair.evidence,
                             "found_by": pair.found_by},
        )  # fmt: skip


def _shown(name: str, value: Any) -> str:
    """A kept value as the merge record shows it: a choice by its label, a yes/no in words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    choices = dict(Contact._meta.get_field(name).choices or ())  # type: ignore[union-attr]
    return "" if value is None else str(choices.get(value, value))


@transaction.atomic
def merge_contacts(
    *, survivor: Contact, merged: Contact, by: User, keep: Mapping[str, str] | None = None
) -> ContactMerge:
    """Merge `merged` into `survivor`: each field keeps the side chosen in `keep` ({field: 'survivor'|'merged'},
    blanks filled from the other side by default), their open leads are merged (one open lead per person), every
    row of the merged contact moves to the survivor, the survivor's leads are scored afresh, and the merge is
    recorded on the survivor. A "do not contact" on either side stays."""
    ensure_can_merge(by)
    if survivor.pk == merged.pk:
        raise InvalidInput.on("merged_id", "A contact cannot be merged into itself.")
    locked = {c.pk: c for c in Contact.objects.select_for_update(of=("self",)).select_related("account").filter(
        pk__in=[survivor.pk, merged.pk])}  # fmt: skip
    if len(locked) < 2:
        raise Conflict("One of the two contacts no longer exists (merged already?).")
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    choices = _chosen_values(survivor, merged, keep or {})
    values = {name: _value(survivor if side == "survivor" else merged, name) for name, side in choices.items()}
    values["do_not_contact"] = survivor.do_not_contact or merged.do_not_contact
    if not survivor.external_id and merged.external_id:
        values["external_id"] = merged.external_id
    at = timezone.now()

    survivor_lead, merged_lead = open_lead_for(survivor), open_lead_for(merged)
    if survivor_lead is not None and merged_lead is not None:
        _settle_clashes(survivor_lead, merged_lead, by=by, at=at)
        merge_leads(survivor=survivor_lead, duplicate=merged_lead, by=by)
    # The survivor may take over the merged contact's email and external id: free them first.
    Contact.objects.filter(pk=merged.pk).update(email=None, external_id=None)
    _settle_consents(merged, survivor)
    moved = _repoint_rows(merged, survivor)
    _carry_decisions(merged, survivor)
    record = ContactMerge.objects.create(
        survivor=survivor,
        merged_contact_id=merged.pk,
        merged_name=str(merged),
        merged_email=merged.email or "",
        by=by,
        at=at,
        kept={name: {"value": _shown(name, values[name]), "from": choices[name]} for name in MERGE_FIELDS},
        moved=moved,
    )
    merged.delete()
    survivor.attributes = {**merged.attributes, **survivor.attributes}
    update_contact(survivor, **values)
    leads = list(survivor.leads.values_list("pk", flat=True))
    rescore_leads(leads, reason=f"Merged with {record.merged_name}")
    predict_leads(leads)
    return record


def merge_pair(
    pair: DuplicatePair, *, by: User, survivor_id: int | None = None, keep: Mapping[str, str] | None = None
) -> ContactMerge:
    """Merge a flagged pair: `survivor_id` (default: the older contact) stays, the other is merged into it."""
    survivor_id = pair.first_id if survivor_id is None else survivor_id
    if survivor_id not in (pair.first_id, pair.second_id):
        raise InvalidInput.on("survivor_id", "Must be one of the pair's two contacts.")
    if pair.status == PairStatus.NOT_DUPLICATE:
        raise Conflict("These two were marked as different people.", errors={"status": ["Not a duplicate."]})
    survivor, merged = (pair.first, pair.second) if survivor_id == pair.first_id else (pair.second, pair.first)
    return merge_contacts(survivor=survivor, merged=merged, by=by, keep=keep)


def is_exact(evidence: dict) -> bool:
    """Whether a pair's evidence holds a key that leaves no real doubt (the same Gmail mailbox, the same name at
    the same company domain): such pairs may be merged in bulk."""
    return bool(EXACT_KEYS & set(evidence.get("keys", [])))


def merge_exact_pairs(*, by: User, limit: int = 1000) -> tuple[int, list[str]]:
    """Merge every pair still to review that shares an exact key, best first, each into its older contact with the
    default choices (the survivor's values, blanks filled); returns (merged, refusals)."""
    ensure_can_merge(by)
    merged, refusals = 0, []
    waiting = DuplicatePair.objects.filter(status=PairStatus.OPEN).order_by("-score", "id")
    exact = [pk for pk, evidence in waiting.values_list("pk", "evidence").iterator() if is_exact(evidence)]
    for pair_id in exact[:limit]:
        pair = DuplicatePair.objects.select_related("first", "second").filter(pk=pair_id).first()
        if pair is None:
            continue  # gone with a contact merged earlier in this run
        try:
            merge_pair(pair, by=by)
            merged += 1
        except DomainError as exc:
            refusals.append(f"{pair.first} and {pair.second}: {exc.detail}")
    return merged, refusals
