"""The public page an announcement links to: what changed in a published version."""

from __future__ import annotations

from django.urls import URLPattern, path

from announcements import views

app_name = "announcements"
urlpatterns: list[URLPattern] = [
    path(
        "<slug:org_slug>/versions/<int:pk>/changes/",
        views.version_changes,
        name="version_changes",
    ),
]
