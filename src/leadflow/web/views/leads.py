"""Leads: the list with filters and bulk actions, the new-lead form and the lead page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leadflow.capture.selectors import doors_of
from leadflow.chat.selectors import conversations_of, timeline_entries
from leadflow.consent.selectors import consents_of
from leadflow.duplicates.selectors import merge_entries
from leadflow.errors import DomainError
from leadflow.imports.exports import LEAD_COLUMNS
from leadflow.leads import selectors, services
from leadflow.leads.lifecycle import FORWARD, NEEDS_REASON
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.nurture.selectors import filter_by_segment
from leadflow.pipeline.selectors import lead_timeline, next_task
from leadflow.pipeline.services import convert_lead
from leadflow.scoring.selectors import explain_leads, lead_score_card
from leadflow.users.models import User

from ..forms import (
    ActivityForm,
    BantForm,
    BulkForm,
    ConvertForm,
    LeadFilterForm,
    LeadForm,
    TransitionForm,
    add_domain_errors,
)
from .common import csv_download, current, is_htmx, logged_activity, owner_choices, page_of
from .qualification import qualification_card


def _filtered_leads(request: HttpRequest, form: LeadFilterForm):
    user = current(request)
    data = form.cleaned_data if form.is_valid() else {}
    owner = data.get("owner") or ""
    deal = data.get("deal") or ""
    leads = selectors.lead_list(
        user,
        lifecycle_stage=data.get("stage") or None,
        source=data.get("source") or None,
        owner_id=user.pk if owner == "me" else int(owner) if owner.isdigit() else None,
        unassigned=True if owner == "none" else None,
        search=data.get("q") or None,
        created_from=data.get("created_from"),
        created_to=data.get("created_to"),
        has_open_opportunity={"open": True, "none": False}.get(deal),
    )
    if data.get("segment") is not None:
        leads = filter_by_segment(leads, data["segment"])
    sort = data.get("sort") or "-created_at"
    order = F("score__total").desc(nulls_last=True) if sort == "-score" else sort
    return leads.select_related("score").order_by(order, "-id")


@login_required
def lead_list(request: HttpRequest) -> HttpResponse:
    user = current(request)
    form = LeadFilterForm(request.GET or None, owners=owner_choices(user))
    page = page_of(request, _filtered_leads(request, form))
    context = {
        "form": form,
        "page": page,
        "owners": owner_choices(user),
        "stages": LifecycleStage.choices,
        "can_bulk_assign": not user.is_sales,
    }
    template = "web/leads/_table.html" if is_htmx(request) else "web/leads/list.html"
    return render(request, template, context)


@login_required
def lead_export(request: HttpRequest) -> HttpResponseBase:
    """The filtered leads list as CSV."""
    form = LeadFilterForm(request.GET or None, owners=owner_choices(current(request)))
    return csv_download("leads", LEAD_COLUMNS, _filtered_leads(request, form).select_related("team"))


@login_required
@require_POST
def lead_bulk(request: HttpRequest) -> HttpResponse:
    """Assign or move the checked leads; each lead succeeds or is refused on its own."""
    user = current(request)
    form = BulkForm(request.POST)
    back = request.POST.get("next") or reverse("web:leads")
    if not form.is_valid():
        messages.error(request, "Choose at least one lead and an action.")
        return redirect(back)
    leads = list(selectors.lead_list(user).filter(pk__in=form.cleaned_data["lead_ids"]))
    if form.cleaned_data["action"] == "assign":
        owner_id = form.cleaned_data["owner"]
        owner = User.objects.filter(pk=owner_id).first() if owner_id.isdigit() else None
        done, refusals = services.assign_leads(leads, owner=owner, by=user)
        messages.success(request, f"Assigned {done} lead{'s' if done != 1 else ''} to {owner or 'the team queue'}.")
    else:
        to = form.cleaned_data["to"]
        done, refusals = services.transition_leads(leads, to=to, by=user, reason=form.cleaned_data["reason"])
        messages.success(request, f"Moved {done} lead{'s' if done != 1 else ''} to {to}.")
    for refusal in refusals[:10]:
        messages.warning(request, refusal)
    return redirect(back)


@login_required
def lead_new(request: HttpRequest) -> HttpResponse:
    form = LeadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            lead = services.create_lead(by=current(request), **form.cleaned_data)
        except DomainError as error:
            add_domain_errors(form, error)
            if "existing_lead_id" in error.extra:
                existing = reverse("web:lead", args=[error.extra["existing_lead_id"]])
                messages.info(request, f"Open the existing lead instead: {request.build_absolute_uri(existing)}")
        else:
            messages.success(request, f"Lead captured: {lead.contact}.")
            return redirect("web:lead", lead.pk)
    status = 422 if form.errors else 200
    return render(request, "web/leads/new.html", {"form": form}, status=status)


# What the lifecycle buttons say, as verbs.
STEP_ACTIONS: dict[str, str] = {
    LifecycleStage.PROSPECT: "Move to prospect",
    LifecycleStage.DISQUALIFIED: "Disqualify",
    LifecycleStage.RECYCLED: "Recycle for nurture",
    LifecycleStage.LEAD: "Back to lead",
}


def _lifecycle_steps(lead: Lead) -> list[dict]:
    """The lifecycle bar: the forward path, marked done/current, plus the side stage when the lead is on one."""
    reached = lead.furthest_stage or LifecycleStage.LEAD
    steps = []
    for stage in FORWARD:
        state = (
            "current"
            if stage == lead.lifecycle_stage
            else "done"
            if FORWARD.index(stage) <= FORWARD.index(reached)
            else ""
        )
        steps.append({"value": stage, "label": LifecycleStage(stage).label, "state": state})
    if lead.lifecycle_stage not in FORWARD:
        steps.append({"value": lead.lifecycle_stage, "label": lead.get_lifecycle_stage_display(), "state": "side"})
    return steps


def _lead_page(request: HttpRequest, lead: Lead, **extra) -> HttpResponse:
    user = current(request)
    chats = list(conversations_of(lead))
    context = {
        "lead": lead,
        "steps": _lifecycle_steps(lead),
        "next_stages": [
            {"value": s, "action": STEP_ACTIONS.get(s, f"Move to {s}"), "needs_reason": s in NEEDS_REASON}
            for s in selectors.manual_next_stages(lead)
        ],
        "can_convert": not user.is_marketing and lead.lifecycle_stage in ("lead", "prospect"),
        "opportunities": lead.opportunities.select_related("stage").order_by("-created_at"),
        "timeline": sorted(
            lead_timeline(lead) + merge_entries(lead.contact) + timeline_entries(chats),
            key=lambda e: e.at,
            reverse=True,
        ),
        "chats": chats,
        "doors": doors_of(lead),
        "consents": consents_of(lead.contact),
        "score": lead_score_card(lead),
        "prediction": explain_leads([lead.pk]).get(lead.pk),
        "next_task": next_task(lead),
        "bant_form": BantForm(initial=_bant_initial(lead)),
        "qualification": qualification_card(lead, user),
        "activity_form": ActivityForm(),
        "convert_form": ConvertForm(initial={"name": ""}),
        **extra,
    }
    return render(request, "web/leads/detail.html", context, status=422 if extra else 200)


def _bant_initial(lead: Lead) -> dict:
    return {name: getattr(lead, name) for name in BantForm.base_fields}


@login_required
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    return _lead_page(request, selectors.get_lead(current(request), lead_id))


@login_required
@require_POST
def lead_transition(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = current(request)
    lead = selectors.get_lead(user, lead_id)
    form = TransitionForm(request.POST)
    if form.is_valid():
        try:
            services.transition_lead(lead, to=form.cleaned_data["to"], by=user, reason=form.cleaned_data["reason"])
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, f"Moved to {lead.get_lifecycle_stage_display()}.")
    else:
        messages.error(request, "Choose a stage to move to.")
    return redirect("web:lead", lead.pk)


@login_required
def lead_bant(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The BANT panel: shown, edited in place (htmx), saved through the lead service; a save also redraws the
    qualification checklist that the answers feed."""
    user = current(request)
    lead = selectors.get_lead(user, lead_id)
    if request.method == "POST":
        form = BantForm(request.POST)
        if form.is_valid():
            try:
                services.update_lead(lead, by=user, **form.cleaned_data)
            except DomainError as error:
                add_domain_errors(form, error)
            else:
                context = {"lead": lead, "qualification": qualification_card(lead, user)}
                return render(request, "web/leads/_bant_saved.html", context)
        return render(request, "web/leads/_bant_form.html", {"lead": lead, "bant_form": form}, status=422)
    if request.GET.get("edit"):
        return render(
            request, "web/leads/_bant_form.html", {"lead": lead, "bant_form": BantForm(initial=_bant_initial(lead))}
        )
    return render(request, "web/leads/_bant.html", {"lead": lead})


@login_required
@require_POST
def lead_convert(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = current(request)
    lead = selectors.get_lead(user, lead_id)
    form = ConvertForm(request.POST)
    if not form.is_valid():
        return _lead_page(request, lead, convert_form=form)
    try:
        opportunity, created = convert_lead(lead, by=user, **form.cleaned_data)
    except DomainError as error:
        add_domain_errors(form, error)
        return _lead_page(request, lead, convert_form=form)
    messages.success(request, "Converted to an opportunity." if created else "This lead was already converted.")
    return redirect("web:opportunity", opportunity.pk)


@login_required
@require_POST
def lead_activity(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.get_lead(current(request), lead_id)
    form = logged_activity(request, lead=lead)
    return redirect("web:lead", lead.pk) if form is None else _lead_page(request, lead, activity_form=form)
