from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from requests_app import views
from requests_app.subject_data import views as export_views

app_name = "requests_app"
urlpatterns: list[URLPattern | URLResolver] = [
    path("requests/confirm/<str:token>/", views.request_confirm, name="request_verify"),
    path("requests/status/<str:token>/", views.request_status, name="request_status"),
    path("requests/new-link/", views.new_link_choose, name="new_link_choose"),
    path(
        "requests/status/<str:token>/exports/<int:package_id>/download/",
        export_views.export_status_download,
        name="export_status_download",
    ),
    # Cancelling an erasure during its grace period, from the status page.
    path("", include("requests_app.erasure.urls")),
    path("<slug:org_slug>/request/", views.request_new, name="request_new"),
    path("<slug:org_slug>/request/sent/", views.request_sent, name="request_sent"),
    path("<slug:org_slug>/request/new-link/", views.request_new_link, name="request_new_link"),
    path("<slug:org_slug>/request/new-link/sent/", views.new_link_sent, name="new_link_sent"),
    # After the organisation pages, so an organisation called "exports" keeps its request form.
    path("exports/data.schema.json", export_views.export_data_schema, name="export_data_schema"),
    path("exports/<str:token>/", export_views.export_link, name="export_link"),
    path(
        "exports/<str:token>/download/",
        export_views.export_link_download,
        name="export_link_download",
    ),
]
