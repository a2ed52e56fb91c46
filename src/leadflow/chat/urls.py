"""Public chat endpoints (mounted at /chat/)."""

from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("widget.js", views.widget, name="widget"),
    path("<str:key>/offer", views.offer, name="offer"),
    path("<str:key>/start", views.start, name="start"),
    path("<str:key>/answer", views.answer, name="answer"),
]
