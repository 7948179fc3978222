"""Public pages of export packages: the emailed link, the downloads, the published JSON Schema.

A link that does not work gets the same "link not valid" page as every other secret link; a link
whose download period is over says so, with the date, on its own page (410 Gone). Downloads are
streamed from storage and recorded when the response closes.
"""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET

from exports.delivery import (
    LinkExpired,
    download_start,
    package_for_link,
    package_for_status_page,
)
from exports.models import DownloadRoute, ExportPackage
from requests_app.limits import Refusal, link_open_count
from requests_app.verification import InvalidLink
from subject_data.schema import data_schema


class PackageResponse(FileResponse):
    # Larger reads than FileResponse's 4 KiB: a package can be hundreds of megabytes.
    block_size = 256 * 1024


def _invalid_link(request: HttpRequest, *, status: int = 404) -> HttpResponse:
    return render(request, "requests_app/link_invalid.html", status=status)


def _refused(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    response = _invalid_link(request, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def _expired(request: HttpRequest, package: ExportPackage) -> HttpResponse:
    return render(
        request,
        "exports/expired.html",
        {"package": package, "organization": package.request.organization},
        status=410,
    )


def _stream(package: ExportPackage, route: DownloadRoute) -> HttpResponseBase:
    stream = download_start(package=package, route=route)
    response = PackageResponse(
        stream,
        as_attachment=True,
        filename=package.download_filename(),
        content_type="application/zip",
    )
    response["Content-Length"] = str(package.size)
    return response


@require_GET
@cache_control(max_age=3600, public=True)
def export_data_schema(request: HttpRequest) -> JsonResponse:
    """The JSON Schema of ``data.json``."""
    return JsonResponse(
        data_schema(),
        content_type="application/schema+json",
        json_dumps_params={"indent": 2, "ensure_ascii": False},
    )


@never_cache
@require_GET
def export_link(request: HttpRequest, token: str) -> HttpResponse:
    """The page an emailed link opens: what the package holds, until when, and the download.

    A page rather than the file itself, so a mail scanner that opens links downloads nothing.
    """
    if refusal := link_open_count(request):
        return _refused(request, refusal)
    try:
        package = package_for_link(token=token)
    except LinkExpired as expired:
        return _expired(request, expired.package)
    except InvalidLink:
        return _invalid_link(request)
    return render(
        request,
        "exports/download.html",
        {
            "package": package,
            "subject_request": package.request,
            "organization": package.request.organization,
            "token": token,
        },
    )


@never_cache
@require_GET
def export_link_download(request: HttpRequest, token: str) -> HttpResponseBase:
    if refusal := link_open_count(request):
        return _refused(request, refusal)
    try:
        package = package_for_link(token=token)
    except LinkExpired as expired:
        return _expired(request, expired.package)
    except InvalidLink:
        return _invalid_link(request)
    return _stream(package, DownloadRoute.EMAIL_LINK)


@never_cache
@require_GET
def export_status_download(request: HttpRequest, token: str, package_id: int) -> HttpResponseBase:
    """Download a delivered package from the request's status page (its own secret link)."""
    if refusal := link_open_count(request):
        return _refused(request, refusal)
    try:
        package = package_for_status_page(token=token, package_id=package_id)
    except LinkExpired as expired:
        return _expired(request, expired.package)
    except InvalidLink:
        return _invalid_link(request)
    return _stream(package, DownloadRoute.STATUS_PAGE)
