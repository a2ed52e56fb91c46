"""URL map: the REST API under /api/v1/, what nurture emails link to under /e/, the tracking snippet and its
beacons under /t/, the public capture doors (/f/, /forms/, /hooks/), the sample site of the demo world
(/demo-site/), the web app everywhere else."""

from django.urls import include, path

from leadflow.api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("e/", include("leadflow.nurture.urls")),
    path("t/", include("leadflow.tracking.urls")),
    path("", include("leadflow.capture.urls")),
    path("demo-site/", include("leadflow.demo.urls")),
    path("", include("leadflow.web.urls")),
]
