"""URL map: the REST API under /api/v1/, what nurture emails link to under /e/, the public capture doors (/f/,
/forms/, /hooks/), the web app everywhere else."""

from django.urls import include, path

from leadflow.api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("e/", include("leadflow.nurture.urls")),
    path("", include("leadflow.capture.urls")),
    path("", include("leadflow.web.urls")),
]
