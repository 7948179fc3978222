"""The subject's export URLs, mounted under ``/privacy/`` (``config/urls.py``).

Included after the request pages, whose ``<org_slug>/request/`` patterns come first, so an
organisation called "exports" keeps its request form.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from exports import views

app_name = "exports"
urlpatterns: list[URLPattern] = [
    path(
        "requests/status/<str:token>/exports/<int:package_id>/download/",
        views.export_status_download,
        name="export_status_download",
    ),
    path("exports/data.schema.json", views.export_data_schema, name="export_data_schema"),
    path("exports/<str:token>/", views.export_link, name="export_link"),
    path("exports/<str:token>/download/", views.export_link_download, name="export_link_download"),
]
