"""The subject's erasure URLs; included in the ``requests_app`` namespace by its urls.py."""

from __future__ import annotations

from django.urls import URLPattern, path

from requests_app.erasure import views

urlpatterns: list[URLPattern] = [
    path(
        "requests/status/<str:token>/erasure/cancel/",
        views.erasure_cancel_view,
        name="erasure_cancel",
    ),
]
