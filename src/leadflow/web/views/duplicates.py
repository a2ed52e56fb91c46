"""Duplicates: the pairs to review best first, the merge screen (two contacts side by side, a value chosen per
field), "not a duplicate", the scan and the bulk merge of exact-key pairs. For admins and managers."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leadflow.accounts.models import PairStatus
from leadflow.duplicates import selectors, services
from leadflow.errors import DomainError, InvalidInput

from .common import current, only_for, page_of

mergers = only_for(services.can_merge)


@mergers
def duplicates(request: HttpRequest) -> HttpResponse:
    user = current(request)
    status = PairStatus.NOT_DUPLICATE if request.GET.get("status") == PairStatus.NOT_DUPLICATE else PairStatus.OPEN
    pairs = selectors.pairs_to_review(user, status=status)
    page = page_of(request, pairs)
    context = {
        "page": page,
        "rows": [{"pair": pair, "evidence": selectors.evidence_in_words(pair)} for pair in page],
        "status": status,
        "to_review": selectors.pairs_to_review(user).count(),
        "exact": selectors.exact_pair_count(user),
        "scan": selectors.latest_scan(),
    }
    return render(request, "web/duplicates/list.html", context)


def _side_by_side_page(request: HttpRequest, pair_id: int, status: int = 200) -> HttpResponse:
    pair = selectors.get_pair(current(request), pair_id)
    context = {
        "pair": pair,
        "evidence": selectors.evidence_in_words(pair),
        "fields": selectors.side_by_side(pair),
        "counts": (selectors.related_counts(pair.first), selectors.related_counts(pair.second)),
        "survivor": request.POST.get("survivor", "first"),
    }
    return render(request, "web/duplicates/merge.html", context, status=status)


@mergers
def duplicate_pair(request: HttpRequest, pair_id: int) -> HttpResponse:
    """The merge screen: GET shows it, POST merges with the chosen record and values."""
    if request.method != "POST":
        return _side_by_side_page(request, pair_id)
    user = current(request)
    pair = selectors.get_pair(user, pair_id)
    sides = {"first": pair.first_id, "second": pair.second_id}
    survivor = request.POST.get("survivor", "first")
    try:
        if survivor not in sides:
            raise InvalidInput.on("survivor", "Choose which record stays.")
        keep = {}
        for name in services.MERGE_FIELDS:
            side = request.POST.get(f"keep_{name}")
            if side is not None and side not in sides:
                raise InvalidInput.on(f"keep_{name}", f"Choose one of the two values of {name.replace('_', ' ')}.")
            if side is not None:
                keep[name] = "survivor" if side == survivor else "merged"
        record = services.merge_pair(pair, by=user, survivor_id=sides[survivor], keep=keep)
    except DomainError as error:
        messages.error(request, error.detail)
        return _side_by_side_page(request, pair_id, status=422)
    messages.success(request, f"Merged {record.merged_name} into {record.survivor}.")
    return redirect("web:contact", record.survivor_id)


@mergers
@require_POST
def duplicate_not(request: HttpRequest, pair_id: int) -> HttpResponse:
    pair = selectors.get_pair(current(request), pair_id)
    services.mark_not_duplicate(pair, by=current(request))
    messages.success(request, f"{pair.first} and {pair.second} are kept apart and will not be flagged again.")
    return redirect("web:duplicates")


@mergers
@require_POST
def duplicate_scan(request: HttpRequest) -> HttpResponse:
    job = services.queue_scan(by=current(request))
    messages.success(request, f"Scan {job.pk} queued: the worker compares the contacts and flags what it finds.")
    return redirect("web:duplicates")


@mergers
@require_POST
def duplicate_merge_exact(request: HttpRequest) -> HttpResponse:
    merged, refusals = services.merge_exact_pairs(by=current(request))
    messages.success(request, f"Merged {merged} exact-key pair{'s' if merged != 1 else ''}.")
    for refusal in refusals[:10]:
        messages.error(request, refusal)
    return redirect(reverse("web:duplicates"))
