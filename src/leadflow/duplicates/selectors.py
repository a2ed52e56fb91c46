"""Reads for reviewing duplicates: the pairs best first, one pair side by side, and the merges on a timeline."""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from leadflow.accounts.matching import KEY_NAMES
from leadflow.accounts.models import Contact, DuplicatePair, PairStatus
from leadflow.pipeline.selectors import TimelineEntry
from leadflow.users.models import User

from .models import ContactMerge, DuplicateScanJob
from .services import MERGE_FIELDS, default_choices, ensure_can_merge, is_exact


def pairs_to_review(user: User, *, status: str = PairStatus.OPEN) -> QuerySet[DuplicatePair]:
    """The pairs in this status, most likely first, with both contacts and their accounts (admins and managers)."""
    ensure_can_merge(user)
    return (
        DuplicatePair.objects.filter(status=status)
        .select_related("first__account", "second__account", "decided_by")
        .order_by("-score", "id")
    )


def get_pair(user: User, pair_id: int) -> DuplicatePair:
    """One pair, whatever its status (admins and managers); 404 when there is none."""
    ensure_can_merge(user)
    pair = DuplicatePair.objects.filter(pk=pair_id).select_related("first__account", "second__account").first()
    if pair is None:
        raise Http404("No such pair.")
    return pair


def evidence_in_words(pair: DuplicatePair) -> list[str]:
    """What links the two, in words: the keys they share and how close their names are."""
    words = [KEY_NAMES[key] for key in pair.evidence.get("keys", []) if key in KEY_NAMES]
    if pair.evidence.get("same_domain") and "name_domain" not in pair.evidence.get("keys", []):
        words.append("same company domain")
    if pair.evidence.get("short_form"):
        words.append("one first name in a long and a short form")
    words.append(f"names {pair.evidence.get('name_closeness', 0)}% alike")
    return words


@dataclass(frozen=True)
class FieldChoice:
    """One row of the merge screen: a field, each side's value, and the side chosen unless changed."""

    name: str
    label: str
    first: str
    second: str
    chosen: str  # "first" or "second"

    @property
    def differs(self) -> bool:
        return self.first != self.second


def _shown(contact: Contact, name: str) -> str:
    if name == "account":
        return str(contact.account or "")
    if name == "seniority":
        return contact.get_seniority_display()
    value: Any = getattr(contact, name)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return value or ""


def side_by_side(pair: DuplicatePair) -> list[FieldChoice]:
    """The fields of both contacts, side by side, with the default choice (the older contact's value, blanks
    filled from the other)."""
    defaults = default_choices(pair.first, pair.second)
    return [
        FieldChoice(
            name=name,
            label=Contact._meta.get_field(name).verbose_name.capitalize(),  # type: ignore[union-attr]
            first=_shown(pair.first, name),
            second=_shown(pair.second, name),
            chosen="first" if defaults[name] == "survivor" else "second",
        )
        for name in MERGE_FIELDS
    ]


def related_counts(contact: Contact) -> dict[str, int]:
    """How much hangs on a contact: its leads, deals and events (what the merge will move)."""
    return {
        "leads": contact.leads.count(),
        "opportunities": contact.opportunities.count(),
        "events": contact.events.count(),
    }


def exact_pair_count(user: User) -> int:
    """How many pairs to review share an exact key (what a bulk merge would merge)."""
    ensure_can_merge(user)
    evidence = DuplicatePair.objects.filter(status=PairStatus.OPEN).values_list("evidence", flat=True)
    return sum(1 for each in evidence.iterator() if is_exact(each))


def latest_scan() -> DuplicateScanJob | None:
    return DuplicateScanJob.objects.order_by("-created_at", "-id").first()


def merges_of(contact: Contact) -> QuerySet[ContactMerge]:
    return ContactMerge.objects.filter(survivor=contact).select_related("by").order_by("-at", "-id")


def merge_entries(contact: Contact) -> list[TimelineEntry]:
    """The merges into this contact as timeline entries: who, when, and which values were kept from which side."""
    entries = []
    for merge in merges_of(contact):
        taken = [
            f"{Contact._meta.get_field(name).verbose_name} “{kept['value']}”"  # type: ignore[union-attr]
            for name, kept in merge.kept.items()
            if kept["from"] == "merged" and kept["value"]
        ]
        detail = "Kept from the merged contact: " + ", ".join(taken) if taken else "Kept this contact's values."
        title = f"Merged {merge.merged_name}" + (f" <{merge.merged_email}>" if merge.merged_email else "")
        entries.append(TimelineEntry(at=merge.at, kind="merge", title=title, detail=detail, by=str(merge.by or "")))
    return entries
