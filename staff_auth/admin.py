"""Staff API tokens (issued, listed, revoked) and the log-in lockouts (seen and lifted).

A token's key is shown once, on the page that follows adding the token; only its hash is kept,
so a lost key is replaced, never recovered. Revoking deletes the token: the next call with its
key is a 401. The lockouts page lists the failed log-ins that still count; "Unlock" forgets them.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff_auth.models import ApiToken, FailedLogin
from staff_auth.tokens import api_token_issue


class ApiTokenAddForm(forms.ModelForm):
    days = forms.IntegerField(
        label=_("valid for (days)"),
        help_text=_("It stops working after this many days; issue a new one before then."),
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = self.fields["user"].queryset.filter(  # type: ignore[attr-defined]
            is_staff=True, is_active=True
        )
        days = self.fields["days"]
        days.initial = settings.API_TOKEN_DAYS
        days.validators += [MinValueValidator(1), MaxValueValidator(settings.API_TOKEN_MAX_DAYS)]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "key_hint", "created_at", "expires_at", "last_used_at")
    list_filter = ("expires_at", "last_used_at")
    search_fields = ("name", "user__username", "key_hint")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = ("user", "name", "key_hint", "created_at", "expires_at", "last_used_at")
    readonly_fields = ("user", "key_hint", "created_at", "expires_at", "last_used_at")
    actions = ["revoke"]

    def get_form(
        self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return ("user", "name", "days") if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Revoke" says what deleting a token means
        return actions

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_issue(user=obj.user, name=obj.name, days=form.cleaned_data["days"])
        # The admin goes on with ``obj`` (logging the addition, the key page): make it the token.
        obj.pk = token.pk
        obj.refresh_from_db()
        request._api_token_key = key  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("API token"),
            "opts": self.opts,
            "token": obj,
            "key": request._api_token_key,  # type: ignore[attr-defined]
            "list_url": reverse("admin:staff_auth_apitoken_changelist"),
        }
        response = TemplateResponse(request, "admin/staff_auth/apitoken/key.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description=_("Revoke the selected API tokens"), permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.count()
        self.log_deletions(request, queryset)
        queryset.delete()
        self.message_user(
            request,
            ngettext(
                "Revoked %(count)d API token: calls with its key are now refused.",
                "Revoked %(count)d API tokens: calls with their keys are now refused.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


def _recent_total(**match: Any) -> Subquery:
    """Failures that still count of the attempts sharing the row's ``match`` fields."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    same = AccessAttempt.objects.filter(
        attempt_time__gte=since, **{field: OuterRef(field) for field in match}
    )
    return Subquery(
        same.order_by()
        .values("ip_address")
        .annotate(total=Sum("failures_since_start"))
        # Grouped by the address the filter fixed: one row, the total.
        .values("total")[:1],
        output_field=IntegerField(),
    )


def _recent_last(**match: Any) -> Subquery:
    """The last failure that still counts of the attempts sharing the row's ``match`` fields."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    same = AccessAttempt.objects.filter(
        attempt_time__gte=since, **{field: OuterRef(field) for field in match}
    )
    return Subquery(same.order_by("-attempt_time").values("attempt_time")[:1])


@admin.register(FailedLogin)
class FailedLoginAdmin(AccessAttemptAdmin):
    list_display = [
        "attempt_time",
        "username",
        "ip_address",
        "failures_since_start",
        "lock",
        "path_info",
        "user_agent",
    ]
    list_filter = ["attempt_time", "path_info"]
    ordering = ("-attempt_time",)
    actions = ["unlock"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessAttempt]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                pair_failures=Coalesce(_recent_total(username=True, ip_address=True), 0),
                pair_last=_recent_last(username=True, ip_address=True),
                address_failures=Coalesce(_recent_total(ip_address=True), 0),
                address_last=_recent_last(ip_address=True),
            )
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Unlock" says what deleting them means
        return actions

    @admin.display(description=_("locked"))
    def lock(self, attempt: Any) -> str:
        cool_off = settings.AXES_COOLOFF_TIME
        if attempt.address_failures >= settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS:
            return _("until %(time)s: every username at this address") % {
                "time": formats.localize(timezone.localtime(attempt.address_last + cool_off))
            }
        if attempt.pair_failures >= settings.AXES_FAILURE_LIMIT:
            return _("until %(time)s: this username at this address") % {
                "time": formats.localize(timezone.localtime(attempt.pair_last + cool_off))
            }
        return "—"

    @admin.action(
        description=_("Unlock: forget the selected failed log-ins"), permissions=["delete"]
    )
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        count = queryset.count()
        self.log_deletions(request, queryset)
        queryset.delete()
        self.message_user(
            request,
            ngettext("Forgot %(count)d failed log-in.", "Forgot %(count)d failed log-ins.", count)
            % {"count": count},
            messages.SUCCESS,
        )


# django-otp's own page for devices shows and edits keys; staff set up their device themselves
# (staff_auth.views.two_factor), and officers only see devices and remove a lost one.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TwoFactorDeviceAdmin(admin.ModelAdmin):
    """Staff members' authenticator devices: seen by officers and auditors, removed by officers.

    Removing a device makes its owner set up a new one at their next page (when their role must
    use one) and is kept in the admin's history.
    """

    list_display = ("user", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username", "user__email")
    fields = ("user", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields
    ordering = ("user__username",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
