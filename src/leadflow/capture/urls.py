"""The public capture doors: hosted forms under /f/, the embed script and submission endpoint under /forms/, and
lead-ads webhooks under /hooks/."""

from django.urls import path

from . import views

app_name = "capture"

urlpatterns = [
    path("f/confirm/<str:token>/", views.confirm, name="confirm"),
    path("f/<slug:slug>/", views.hosted, name="hosted"),
    path("forms/<str:key>.js", views.embed_script, name="embed"),
    path("forms/<str:key>/submit", views.submit, name="submit"),
    path("hooks/<str:key>/", views.webhook, name="webhook"),
]
