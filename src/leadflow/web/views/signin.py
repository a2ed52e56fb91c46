"""Sign-in throttling as the user meets it: the locked-out login page, and an admin's unlock."""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from leadflow.users.signin import unlock_sign_in

from .common import current, only_for, run_form


def locked_out(request: HttpRequest, response: Any = None, credentials: dict | None = None) -> HttpResponse:
    """The login page again, saying why signing in is refused for now (429)."""
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    form = AuthenticationForm(request, data=request.POST or None)
    form.errors.clear()
    form.add_error(
        None,
        f"Too many failed sign-ins for this username or from this address. Try again in {minutes} minutes, "
        "or ask an admin to unlock it.",
    )
    return render(request, "web/login.html", {"form": form, "next": request.POST.get("next", "")}, status=429)


class UnlockForm(forms.Form):
    username = forms.CharField(required=False, max_length=150)
    address = forms.GenericIPAddressField(required=False)


@only_for(lambda user: user.is_admin)
@require_POST
def unlock(request: HttpRequest) -> HttpResponse:
    """Forget the failed sign-ins of a username or an address."""
    form = UnlockForm(request.POST)
    who = request.POST.get("username") or request.POST.get("address") or ""
    return run_form(
        request,
        form,
        lambda data: unlock_sign_in(by=current(request), **data),
        f"Sign-in unlocked for {who}.",
        back="web:settings",
    )
