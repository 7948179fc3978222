"""Where systems send their answers: mounted under ``/privacy/systems/`` (public, signed)."""

from __future__ import annotations

from django.urls import URLPattern, path

from systems import callback_views

app_name = "systems_callbacks"
urlpatterns: list[URLPattern] = [
    path("tasks/<int:task_id>/callback", callback_views.webhook, name="webhook"),
    path("tasks/<int:task_id>/opendsr-status", callback_views.opendsr, name="opendsr"),
]
