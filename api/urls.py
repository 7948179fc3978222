"""The REST API, version 1: the subject's endpoints and the staff's (mounted under ``/api/``)."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path, register_converter
from django.urls.converters import StringConverter

from api import public, staff
from api.errors import NotFoundView


class ReferenceConverter(StringConverter):
    """A request's reference: any other text (a NUL, say) names no request and is a 404."""

    regex = staff.REFERENCE_PATTERN


register_converter(ReferenceConverter, "reference")

app_name = "api"

_REQUEST = "v1/staff/requests/<reference:reference>/"

urlpatterns: list[URLPattern] = [
    # The subject's endpoints.
    path("v1/organizations/<slug:org_slug>/", public.OfferView.as_view(), name="offer"),
    path(
        "v1/organizations/<slug:org_slug>/requests/",
        public.FileRequestView.as_view(),
        name="request_file",
    ),
    path("v1/requests/confirm/<str:token>/", public.ConfirmView.as_view(), name="request_confirm"),
    path("v1/requests/status/<str:token>/", public.StatusView.as_view(), name="request_status"),
    path(
        "v1/requests/status/<str:token>/withdraw/",
        public.WithdrawView.as_view(),
        name="request_withdraw",
    ),
    # The staff's endpoints.
    path("v1/staff/requests/", staff.RequestListView.as_view(), name="staff_request_list"),
    path(_REQUEST, staff.RequestDetailView.as_view(), name="staff_request_detail"),
    path(f"{_REQUEST}assign-to-me/", staff.AssignToMeView.as_view(), name="staff_assign_to_me"),
    path(f"{_REQUEST}assign/", staff.AssignView.as_view(), name="staff_assign"),
    path(f"{_REQUEST}start/", staff.StartView.as_view(), name="staff_start"),
    path(f"{_REQUEST}hold/", staff.HoldView.as_view(), name="staff_hold"),
    path(f"{_REQUEST}resume/", staff.ResumeView.as_view(), name="staff_resume"),
    path(f"{_REQUEST}extend/", staff.ExtendView.as_view(), name="staff_extend"),
    path(f"{_REQUEST}reject/", staff.RejectView.as_view(), name="staff_reject"),
    path(f"{_REQUEST}complete/", staff.CompleteView.as_view(), name="staff_complete"),
    path(f"{_REQUEST}build-export/", staff.BuildExportView.as_view(), name="staff_build_export"),
    path(
        f"{_REQUEST}deliver-export/",
        staff.DeliverExportView.as_view(),
        name="staff_deliver_export",
    ),
    path(
        f"{_REQUEST}approve-erasure/",
        staff.ApproveErasureView.as_view(),
        name="staff_approve_erasure",
    ),
    # Last: every other path under /api/ is a 404 in the API's error shape.
    re_path(r"", NotFoundView.as_view(), name="not_found"),
]
