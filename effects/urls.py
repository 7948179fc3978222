"""The one-click unsubscribe link (RFC 8058), under the organisation's privacy pages."""

from __future__ import annotations

from django.urls import URLPattern, path

from effects import views

app_name = "effects"
urlpatterns: list[URLPattern] = [
    path("<slug:org_slug>/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
