"""Public endpoints for the people nurture emails reach (mounted at /e/)."""

from django.urls import path

from . import views

app_name = "nurture"

urlpatterns = [
    path("o/<str:token>.gif", views.opened, name="open"),
    path("c/<str:token>/", views.clicked, name="click"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
