"""The interactive API docs: swagger-ui from the vendored copy, so `/api/v1/docs` works without internet."""

import json
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger

if TYPE_CHECKING:
    from ninja import NinjaAPI


class VendoredSwagger(Swagger):
    """django-ninja's Swagger page, rendered from our template with our static files (no CDN, no inline script)."""

    def render_page(self, request: HttpRequest, api: "NinjaAPI", **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        return render(request, "api/swagger.html", {"api": api, "swagger_settings": json.dumps(self.settings)})
