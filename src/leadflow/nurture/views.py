"""The endpoints a recipient's mail client and browser reach, without logging in: the open pixel, tracked links,
and the unsubscribe / preference page (with RFC 8058 one-click unsubscribe)."""

import base64
from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import services
from .emails import OPEN_SALT, UNSUBSCRIBE_SALT, read_click, read_token
from .models import Delivery
from .signals import link_followed

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _delivery(delivery_id: Any) -> Delivery:
    delivery = Delivery.objects.select_related("lead__contact", "step__sequence").filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404("No such email.")
    return delivery


@never_cache
def opened(request: HttpRequest, token: str) -> HttpResponse:
    """The 1-pixel image in each email: loading it records an open (a forged token records nothing)."""
    delivery_id = read_token(token, OPEN_SALT)
    if delivery_id is not None and Delivery.objects.filter(pk=delivery_id).exists():
        services.record_open(_delivery(delivery_id))
    return HttpResponse(PIXEL, content_type="image/gif")


def clicked(request: HttpRequest, token: str) -> HttpResponse:
    """A tracked link: records the click, then sends the reader on to the address the email named."""
    carried = read_click(token)
    if carried is None or urlsplit(carried[1]).scheme not in ("http", "https"):
        raise Http404("This link is not valid.")
    delivery_id, target = carried
    delivery = _delivery(delivery_id)
    services.record_click(delivery, target)
    answers = link_followed.send(Delivery, delivery=delivery, target=target)
    return HttpResponseRedirect(next((address for _, address in answers if address), target))


@csrf_exempt  # the one-click POST comes from the mailbox provider, with no session
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the preference page. POST: unsubscribe (one click, List-Unsubscribe-Post) or, from the page's form,
    subscribe again."""
    delivery = _delivery(read_token(token, UNSUBSCRIBE_SALT))
    contact = delivery.lead.contact
    if request.method == "POST":
        wants_email = request.POST.get("choice") == "subscribe"
        how = "preference page" if "choice" in request.POST else "one-click unsubscribe"
        services.set_email_consent(contact, opted_in=wants_email, how=how)
        contact.refresh_from_db()
    return render(request, "nurture/preferences.html", {"contact": contact, "token": token})
