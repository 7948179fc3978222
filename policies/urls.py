from __future__ import annotations

from django.urls import URLPattern, path

from policies import views

app_name = "policies"
urlpatterns: list[URLPattern] = [
    path("", views.organization_list, name="organization_list"),
    path("<slug:org_slug>/", views.organization_detail, name="organization_detail"),
    path("<slug:org_slug>/versions/<int:pk>/", views.version_detail, name="version_detail"),
]
