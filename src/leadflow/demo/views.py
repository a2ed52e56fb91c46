"""The sample site at /demo-site/: a product page and a pricing page of a made-up product, with the demo world's
request-a-demo and newsletter forms embedded as any site would embed them, and the tracking snippet of the demo
world's company website, which does not ask for consent first."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from leadflow.capture.models import Form
from leadflow.tracking.models import Site

from .capture import DEMO_REQUEST, NEWSLETTER
from .world import WEBSITE

PAGES = {"": "demo/site/product.html", "pricing/": "demo/site/pricing.html"}


@require_GET
def site_page(request: HttpRequest, page: str = "") -> HttpResponse:
    """One page of the sample site; 404 until `leadflow demo` has made its forms."""
    forms = {form.slug: form for form in Form.objects.filter(slug__in=[DEMO_REQUEST, NEWSLETTER], is_active=True)}
    if page not in PAGES or len(forms) < 2:
        raise Http404("The sample site needs the demo world: run `leadflow demo`.")
    context = {
        "demo_form": forms[DEMO_REQUEST],
        "newsletter": forms[NEWSLETTER],
        "page": page,
        "tracked_site": Site.objects.filter(name=WEBSITE, is_active=True).first(),
    }
    return render(request, PAGES[page], context)
