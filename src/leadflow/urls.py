"""URL map: the REST API under /api/v1/ and the web app everywhere else."""

from django.urls import include, path

from leadflow.api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("leadflow.web.urls")),
]
