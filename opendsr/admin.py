"""Registering OpenDSR controllers and issuing their API keys; reading their requests.

A controller's API key is shown once, on the page that follows adding the controller or issuing
a new key; only its hash is stored, so a lost key is replaced, never recovered.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _

from opendsr.models import Controller, OpenDSRCallback, OpenDSRRequest
from opendsr.services import controller_key_issue

_KEY_PAGE = (
    '{% extends "admin/base_site.html" %}{% load i18n %}{% block content %}'
    "<p>{% blocktranslate with name=controller.name %}"
    "The new API key of {{ name }}:{% endblocktranslate %}</p>"
    "<p><code>{{ key }}</code></p>"
    '<p>{% translate "Copy it now and give it to the controller: it is shown only this once. '
    'Their system sends it as the header Authorization: Bearer followed by the key." %}</p>'
    '<p><a href="{{ change_url }}">{% translate "Back to the controller" %}</a></p>'
    "{% endblock %}"
)


@admin.register(Controller)
class ControllerAdmin(admin.ModelAdmin):
    list_display = ("name", "identifier", "organization", "is_active", "api_key_hint")
    list_filter = ("is_active", "organization")
    search_fields = ("name", "identifier")
    fields = (
        "organization",
        "name",
        "identifier",
        "callback_hosts",
        "is_active",
        "api_key_hint",
        "key_issued_at",
    )
    readonly_fields = ("api_key_hint", "key_issued_at")
    actions = ["issue_new_key"]

    def _key_page(self, request: HttpRequest, controller: Controller, key: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("API key"),
            "controller": controller,
            "key": key,
            "change_url": reverse("admin:opendsr_controller_change", args=[controller.pk]),
        }
        response = HttpResponse(engines["django"].from_string(_KEY_PAGE).render(context, request))
        add_never_cache_headers(response)
        return response

    def response_add(
        self, request: HttpRequest, obj: Controller, post_url_continue: str | None = None
    ) -> HttpResponse:
        return self._key_page(request, obj, controller_key_issue(controller=obj))

    @admin.action(description=_("Issue a new API key (the old one stops working)"))
    def issue_new_key(
        self, request: HttpRequest, queryset: QuerySet[Controller]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, _("Choose exactly one controller to issue a key for."), messages.WARNING
            )
            return None
        controller = queryset.get()
        return self._key_page(request, controller, controller_key_issue(controller=controller))


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OpenDSRCallbackInline(ReadOnlyMixin, admin.TabularInline):
    model = OpenDSRCallback
    extra = 0
    fields = readonly_fields = (
        "created_at",
        "request_status",
        "url",
        "attempts",
        "last_attempt_at",
        "response_status",
        "last_error",
        "delivered_at",
    )


@admin.register(OpenDSRRequest)
class OpenDSRRequestAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "subject_request_id",
        "controller",
        "request",
        "request_type",
        "regulation",
        "reported_status",
        "received_time",
    )
    list_filter = ("controller", "request_type", "reported_status")
    list_select_related = ("controller", "request")
    search_fields = ("=subject_request_id", "request__reference")
    fields = readonly_fields = (
        "controller",
        "request",
        "subject_request_id",
        "regulation",
        "request_type",
        "status_callback_urls",
        "api_version",
        "submitted_time",
        "received_time",
        "reported_status",
        "cancelled_at",
    )
    inlines = [OpenDSRCallbackInline]
