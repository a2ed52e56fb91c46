"""Public tracking endpoints (mounted at /t/)."""

from django.urls import path

from . import views

app_name = "tracking"

urlpatterns = [
    path("leadflow.js", views.snippet, name="snippet"),
    path("<str:key>/collect", views.collect, name="collect"),
]
