"""What every admin page of the tracker shares: read-only admins, evidence, request lookups.

- ``ReadOnlyMixin`` / ``ReadOnlyAdmin``: nothing is added, edited or deleted through a form;
  changes go through the services (for model admins and inlines alike).
- ``EvidenceAdmin``: read-only evidence (purge runs, erasures, certificates, notices) that only
  staff who manage retention or view evidence see.
- ``staff_subject_request`` and ``request_change_url``: the request a page about one request
  acts on, as the user's role lets them see it, and the way back to its page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from requests_app import roles
from requests_app.models import SubjectRequest


class ReadOnlyMixin:
    """Nothing here is edited through forms: changes go through the services."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A model admin that only shows."""


def sees_evidence(request: HttpRequest) -> bool:
    user = request.user
    return (
        user.is_active
        and user.is_staff
        and (user.has_perm(roles.MANAGE_RETENTION) or user.has_perm(roles.VIEW_EVIDENCE))
    )


class EvidenceAdmin(ReadOnlyAdmin):
    """Read-only evidence, seen by whoever manages retention or views evidence."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return sees_evidence(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return sees_evidence(request)


def html_table(headers: list[str], rows: list[list[Any]]) -> SafeString:
    if not rows:
        return format_html("<p>{}</p>", gettext("none"))
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def staff_subject_request(request: HttpRequest, request_id: int) -> SubjectRequest:
    """The request ``request_id`` if the user's role lets them see it; 404 otherwise."""
    found = (
        roles.visible_requests(request.user, SubjectRequest.objects.all())
        .select_related("organization", "rule", "policy_version")
        .filter(pk=request_id)
        .first()
    )
    if found is None:
        raise Http404
    return found


def request_change_url(subject_request: SubjectRequest) -> str:
    return reverse("admin:requests_app_subjectrequest_change", args=[subject_request.pk])


def message_user(request: HttpRequest, message: str, level: int = messages.INFO) -> None:
    """What ``ModelAdmin.message_user`` does, for pages that hang off another app's admin."""
    messages.add_message(request, level, message)


def request_page_context(
    site: AdminSite, request: HttpRequest, subject_request: SubjectRequest, title: str
) -> dict[str, Any]:
    """The context of an admin page about one request, under that request's breadcrumbs."""
    return {
        **site.each_context(request),
        "opts": SubjectRequest._meta,
        "original": subject_request,
        "title": title,
        "change_url": request_change_url(subject_request),
    }
