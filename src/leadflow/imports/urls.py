"""Routes of the import pages, mounted under /imports/ by the web app."""

from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("<int:job_id>/", views.import_detail, name="detail"),
    path("<int:job_id>/start/", views.import_start, name="start"),
    path("<int:job_id>/progress/", views.import_progress, name="progress"),
    path("<int:job_id>/errors.csv", views.import_errors, name="errors"),
]
