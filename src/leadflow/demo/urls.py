"""The sample site."""

from django.urls import path

from . import views

app_name = "demo"

urlpatterns = [
    path("", views.site_page, name="product"),
    path("pricing/", views.site_page, {"page": "pricing/"}, name="pricing"),
]
