"""The OpenDSR processor endpoints, mounted under ``/v1/`` (the spec's major-version prefix)."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from opendsr import views

app_name = "opendsr"
urlpatterns: list[URLPattern] = [
    path("discovery", views.DiscoveryView.as_view(), name="discovery"),
    path("certificate.pem", views.CertificateView.as_view(), name="certificate"),
    path("requests", views.RequestCreateView.as_view(), name="request_create"),
    path(
        "requests/<str:subject_request_id>",
        views.RequestDetailView.as_view(),
        name="request_detail",
    ),
    # OpenGDPR's names for the same endpoints (OpenDSR section 10.1 asks to keep them working).
    path("opengdpr_requests", views.LegacyRequestCreateView.as_view(), name="legacy_create"),
    path(
        "opengdpr_requests/<str:subject_request_id>",
        views.LegacyRequestDetailView.as_view(),
        name="legacy_detail",
    ),
    # Last: every other path under /v1/ is a 404 in the spec's error shape.
    re_path(r"", views.NotFoundView.as_view(), name="not_found"),
]
