"""Duplicates: likely pairs of contacts best first, merging a pair with a value chosen per field, "not a duplicate",
the bulk merge of exact-key pairs and the scan (admins and managers)."""

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from leadflow.accounts.models import Contact, DuplicatePair, PairStatus
from leadflow.duplicates import selectors, services
from leadflow.duplicates.models import ContactMerge, DuplicateScanJob

from .auth import current_user
from .columns import Body, Id
from .pagination import PageParams, page_of, paginate
from .statuses import may_conflict

router = Router(tags=["duplicates"])


class PersonOut(Schema):
    id: int
    name: str
    email: str | None
    phone: str
    account_id: int | None
    account_name: str | None

    @staticmethod
    def resolve_name(obj: Contact) -> str:
        return str(obj)

    @staticmethod
    def resolve_account_name(obj: Contact) -> str | None:
        return obj.account.name if obj.account else None


class EvidenceOut(Schema):
    keys: list[str] = Field(description="Match keys both share: mailbox (Gmail), phone, name_domain")
    name_closeness: int = Field(description="How alike the names are, 0-100")
    same_domain: bool = False
    short_form: bool = Field(False, description="Same last name; first names are forms of one (Bob, Robert)")


class PairOut(Schema):
    id: int
    score: int
    status: str
    found_by: str
    found_at: datetime
    evidence: EvidenceOut
    evidence_words: list[str]
    first: PersonOut
    second: PersonOut

    @staticmethod
    def resolve_evidence_words(obj: DuplicatePair) -> list[str]:
        return selectors.evidence_in_words(obj)


Side = Literal["survivor", "merged"]


class PairMergeIn(Body):
    survivor_id: Id | None = Field(None, description="The contact that stays (default: the older of the two)")
    keep: dict[str, Side] = Field(
        default_factory=dict,
        description=f"Where each field's value comes from; fields: {', '.join(services.MERGE_FIELDS)}",
    )


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_contact_id: int
    merged_name: str
    merged_email: str
    by_id: int | None
    at: datetime
    kept: dict[str, dict[str, str]]
    moved: dict[str, int]


class BulkMergeOut(Schema):
    merged: int
    refusals: list[str]


class ScanOut(Schema):
    id: int
    status: str
    progress: int
    progress_total: int | None
    message: str
    created_at: datetime
    finished_at: datetime | None


@router.get("/duplicates", response=page_of(PairOut))
def list_pairs(request: HttpRequest, page: Query[PageParams], status: PairStatus = PairStatus.OPEN) -> dict:
    """Likely duplicate pairs, the most likely first, with both people and the evidence."""
    return paginate(selectors.pairs_to_review(current_user(request), status=status), page)


@router.post("/duplicates/merge-exact", response=BulkMergeOut)
def merge_exact(request: HttpRequest) -> dict:
    """Merge every pair to review that shares an exact key (same Gmail mailbox, same name at the same company
    domain), each into its older contact, blanks filled from the other."""
    merged, refusals = services.merge_exact_pairs(by=current_user(request))
    return {"merged": merged, "refusals": refusals}


@router.post("/duplicates/scans", response={202: ScanOut})
def queue_scan(request: HttpRequest) -> Status:
    """Ask the worker to compare every contact with its candidates and flag the likely duplicates."""
    return Status(202, services.queue_scan(by=current_user(request)))


@router.get("/duplicates/scans/{scan_id}", response=ScanOut)
def get_scan(request: HttpRequest, scan_id: Id) -> DuplicateScanJob:
    services.ensure_can_merge(current_user(request))
    return get_object_or_404(DuplicateScanJob, pk=scan_id)


@router.get("/duplicates/{pair_id}", response=PairOut)
def get_pair(request: HttpRequest, pair_id: Id) -> DuplicatePair:
    return selectors.get_pair(current_user(request), pair_id)


@router.post("/duplicates/{pair_id}/merge", response=MergeOut)
@may_conflict
def merge_pair(request: HttpRequest, pair_id: Id, payload: PairMergeIn) -> ContactMerge:
    """Merge the pair into `survivor_id`, each field's value from the side named in `keep`; every row of the
    other contact moves over and the survivor's leads are scored afresh."""
    user = current_user(request)
    pair = selectors.get_pair(user, pair_id)
    return services.merge_pair(pair, by=user, survivor_id=payload.survivor_id, keep=payload.keep)


@router.post("/duplicates/{pair_id}/not-duplicate", response=PairOut)
def not_duplicate(request: HttpRequest, pair_id: Id) -> DuplicatePair:
    """Remember that the two are different people: the pair is not flagged again."""
    user = current_user(request)
    return services.mark_not_duplicate(selectors.get_pair(user, pair_id), by=user)


@router.get("/contacts/{contact_id}/merges", response=list[MergeOut], tags=["contacts"])
def contact_merges(request: HttpRequest, contact_id: Id) -> list[ContactMerge]:
    """The contacts merged into this one: who merged, when, which values were kept and what moved."""
    return list(selectors.merges_of(get_object_or_404(Contact, pk=contact_id))[:100])
