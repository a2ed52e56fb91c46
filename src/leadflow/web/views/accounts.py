"""Accounts and contacts: lists and pages."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render

from leadflow.accounts.models import Account, Contact
from leadflow.accounts.selectors import account_list, contact_list
from leadflow.duplicates.selectors import merge_entries
from leadflow.imports.exports import ACCOUNT_COLUMNS, CONTACT_COLUMNS
from leadflow.leads.selectors import lead_list
from leadflow.pipeline.selectors import can_see_amounts, opportunity_list

from .common import csv_download, current, is_htmx, page_of


@login_required
def accounts(request: HttpRequest) -> HttpResponseBase:
    term = request.GET.get("q", "")
    if request.GET.get("format") == "csv":
        return csv_download("accounts", ACCOUNT_COLUMNS, account_list(search=term))
    page = page_of(request, account_list(search=term).select_related("owner"))
    template = "web/accounts/_table.html" if is_htmx(request) else "web/accounts/list.html"
    return render(request, template, {"page": page, "q": term})


@login_required
def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    user = current(request)
    account = get_object_or_404(Account.objects.select_related("owner"), pk=account_id)
    context = {
        "account": account,
        "contacts": account.contacts.order_by("last_name", "first_name")[:100],
        "leads": lead_list(user).filter(contact__account=account)[:50],
        "opportunities": opportunity_list(user, account_id=account.pk)[:50],
        "show_amounts": can_see_amounts(user),
    }
    return render(request, "web/accounts/detail.html", context)


@login_required
def contacts(request: HttpRequest) -> HttpResponseBase:
    term = request.GET.get("q", "")
    if request.GET.get("format") == "csv":
        return csv_download("contacts", CONTACT_COLUMNS, contact_list(search=term))
    page = page_of(request, contact_list(search=term))
    template = "web/contacts/_table.html" if is_htmx(request) else "web/contacts/list.html"
    return render(request, template, {"page": page, "q": term})


@login_required
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    user = current(request)
    contact = get_object_or_404(Contact.objects.select_related("account"), pk=contact_id)
    context = {
        "contact": contact,
        "leads": lead_list(user).filter(contact=contact),
        "opportunities": opportunity_list(user).filter(contact=contact)[:50],
        "show_amounts": can_see_amounts(user),
        "timeline": merge_entries(contact),
    }
    return render(request, "web/contacts/detail.html", context)
