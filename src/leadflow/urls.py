"""URL map: the REST API under /api/v1/, what nurture emails link to under /e/, the tracking snippet and its
beacons under /t/, the chat widget and its endpoints under /chat/, the public capture doors (/f/, /forms/,
/hooks/), the sample site of the demo world (/demo-site/), the web app everywhere else."""

from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from leadflow.api.api import api

urlpatterns = [
    # Browsers ask for /favicon.ico wherever a page names no icon (an error page, a file).
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True)),
    path("api/v1/", api.urls),
    path("e/", include("leadflow.nurture.urls")),
    path("t/", include("leadflow.tracking.urls")),
    path("chat/", include("leadflow.chat.urls")),
    path("", include("leadflow.capture.urls")),
    path("demo-site/", include("leadflow.demo.urls")),
    path("", include("leadflow.web.urls")),
]
