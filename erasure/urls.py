"""The subject's erasure URL: cancelling an erasure in its grace period, from the status page."""

from __future__ import annotations

from django.urls import URLPattern, path

from erasure import views

app_name = "erasure"
urlpatterns: list[URLPattern] = [
    path(
        "requests/status/<str:token>/erasure/cancel/",
        views.erasure_cancel_view,
        name="erasure_cancel",
    ),
]
