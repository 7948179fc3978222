"""Admin for organisations, policies and their versions.

Drafts are edited here, rules included; publishing goes through ``policy_version_publish`` (an
action and a button, both behind a confirmation page). A published version, its rules and their
exemptions are shown read-only, and a POST that tries to change or delete them anyway is turned
away with a message instead of reaching the model's own refusal.

One cohesive thing, and so one module: the policy pages of the admin and their publish step.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ForeignKey, QuerySet, URLField
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from policies import selectors
from policies.forms import NewDraftForm, PublishForm, VersionCompareForm
from policies.models import (
    Organization,
    Policy,
    PolicyPublication,
    PolicyVersion,
    PublishedVersionFrozen,
    RequestTypeRule,
    RetentionExemption,
    RetentionRule,
)
from policies.services import (
    PromisesDropped,
    policy_version_draft,
    policy_version_publish,
    promises_dropped,
    version_followed,
)


def _local_datetime(version: PolicyVersion, moment: Any) -> str:
    """Format ``moment`` on the organisation's clock, which is the one the policy speaks of."""
    local = timezone.localtime(moment, version.policy.organization.tz)
    return (
        f"{formats.date_format(local, 'DATETIME_FORMAT')} ({version.policy.organization.time_zone})"
    )


# --- Organisations and policies ----------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "country", "time_zone", "contact_email")
    search_fields = ("name", "legal_name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    # Django 6 makes https the default scheme; choose it now rather than inherit a warning.
    formfield_overrides = {URLField: {"assume_scheme": "https"}}


class PolicyVersionListInline(admin.TabularInline):
    """The versions of a policy as a read-only list; each is edited on its own page."""

    model = PolicyVersion
    fields = ("version_label", "language", "published_at", "effective_at", "in_force")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, version: PolicyVersion) -> bool:
        return version.is_in_force()


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("title", "organization", "slug", "notice_period_days")
    list_filter = ("organization",)
    list_select_related = ("organization",)
    search_fields = ("title", "organization__name")
    inlines = (PolicyVersionListInline,)


# --- Frozen once published ---------------------------------------------------------------------


class FrozenInlineMixin:
    """Inline rows editable while the version is a draft and read-only once it is published."""

    def parent_version(self, obj: Any) -> PolicyVersion | None:
        return obj if isinstance(obj, PolicyVersion) else None

    def _frozen(self, obj: Any) -> bool:
        version = self.parent_version(obj) if obj is not None else None
        return version is not None and version.is_published

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._frozen(obj) and super().has_add_permission(request, obj)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._frozen(obj) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._frozen(obj) and super().has_delete_permission(request, obj)  # type: ignore[misc]


class FrozenWithVersionAdmin(admin.ModelAdmin):
    """A model admin whose objects freeze with the policy version they belong to.

    Subclasses set ``fields`` and say which version an object belongs to.
    """

    draft_readonly_fields: tuple[str, ...] = ()

    def version_of(self, obj: Any) -> PolicyVersion | None:
        raise NotImplementedError

    def is_frozen(self, obj: Any) -> bool:
        # Ask the database: the form's copy of the object may predate its publication.
        version = self.version_of(obj) if obj is not None else None
        return version is not None and version.is_frozen_in_database()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if self.is_frozen(obj):
            return flatten_fieldsets(self.get_fieldsets(request, obj))
        return list(self.draft_readonly_fields)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self.is_frozen(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self.is_frozen(obj) and super().has_delete_permission(request, obj)

    def _refuse(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        self.message_user(request, PublishedVersionFrozen().message, messages.ERROR)
        opts = self.opts
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
        )

    def _is_frozen_object(self, request: HttpRequest, object_id: str) -> bool:
        return self.is_frozen(self.get_object(request, unquote(object_id)))

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and object_id and self._is_frozen_object(request, object_id):
            return self._refuse(request, object_id)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PublishedVersionFrozen:
            # Published between the form being shown and being saved; nothing was written.
            if object_id is None:
                raise
            return self._refuse(request, object_id)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if self._is_frozen_object(request, object_id):
            return self._refuse(request, object_id)
        return super().delete_view(request, object_id, extra_context)


# --- Policy versions ---------------------------------------------------------------------------


class RequestTypeRuleInline(FrozenInlineMixin, admin.StackedInline):
    model = RequestTypeRule
    extra = 0
    fields = (
        ("request_type", "offered"),
        ("response_period", "response_unit", "clock_starts", "pauses_while_on_hold"),
        ("max_extension", "extension_unit", "extension_notice_required"),
        ("extension_source", "extension_note"),
        ("identity_verification_required", "applies_on_confirmation"),
        ("source", "source_quote"),
    )


class RetentionRuleInline(FrozenInlineMixin, admin.StackedInline):
    model = RetentionRule
    extra = 0
    show_change_link = True  # exemptions are edited on the rule's own page
    fields = (
        ("slug", "trigger", "action"),
        ("period", "period_unit", "notice_days_before"),
        ("source", "source_quote"),
    )


class PublicationFilter(admin.SimpleListFilter):
    title = _("publication")
    parameter_name = "publication"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("draft", _("draft")), ("published", _("published"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "draft":
            return queryset.filter(published_at__isnull=True)
        if self.value() == "published":
            return queryset.filter(published_at__isnull=False)
        return queryset


@admin.register(PolicyVersion)
class PolicyVersionAdmin(FrozenWithVersionAdmin):
    list_display = (
        "organization",
        "policy",
        "version_label",
        "language",
        "published_at",
        "effective_at",
        "in_force",
    )
    list_filter = ("policy__organization", PublicationFilter, "language")
    list_select_related = ("policy__organization",)
    search_fields = ("version_label", "policy__title", "policy__organization__name")
    fields = (
        "policy",
        "version_label",
        "language",
        "significant",
        "text",
        "text_sha256",
        "published_at",
        "effective_at",
        "created_at",
    )
    draft_readonly_fields = ("text_sha256", "published_at", "effective_at", "created_at")
    inlines = (RequestTypeRuleInline, RetentionRuleInline)
    actions = ("publish_selected",)

    def version_of(self, obj: Any) -> PolicyVersion | None:
        return obj if isinstance(obj, PolicyVersion) else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyVersion]:
        return super().get_queryset(request).select_related("policy__organization")

    @admin.display(description=_("organisation"), ordering="policy__organization__name")
    def organization(self, version: PolicyVersion) -> Organization:
        return version.policy.organization

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, version: PolicyVersion) -> bool:
        return version.is_in_force()

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return super().has_change_permission(request)

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        prefix = f"{opts.app_label}_{opts.model_name}"
        return [
            path(
                "<path:object_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name=f"{prefix}_publish",
            ),
            path(
                "<path:object_id>/compare/",
                self.admin_site.admin_view(self.compare_view),
                name=f"{prefix}_compare",
            ),
            *super().get_urls(),
        ]

    # Publishing -------------------------------------------------------------------------------

    def _publish(self, request: HttpRequest, version: PolicyVersion, reason: str = "") -> bool:
        try:
            version = policy_version_publish(
                version=version, published_by=request.user.get_username(), reason=reason
            )
        except PromisesDropped as error:
            self.message_user(
                request,
                gettext(
                    "%(version)s was not published: it drops %(what)s. Publish it from its own "
                    "page, with the reason."
                )
                % {"version": version, "what": "; ".join(d.description for d in error.dropped)},
                messages.ERROR,
            )
            return False
        except PublishedVersionFrozen:
            self.message_user(
                request,
                gettext("%(version)s is already published; it was left unchanged.")
                % {"version": version},
                messages.ERROR,
            )
            return False
        self.log_change(request, version, gettext("Published."))
        self.message_user(
            request,
            gettext("%(version)s is published and in force from %(effective)s.")
            % {"version": version, "effective": _local_datetime(version, version.effective_at)},
            messages.SUCCESS,
        )
        if version.significant:
            self.message_user(
                request,
                gettext(
                    "It is marked significant: subjects with an open request and the account "
                    "contacts are being emailed, once each."
                ),
                messages.INFO,
            )
        return True

    def _confirmation(
        self,
        request: HttpRequest,
        versions: list[PolicyVersion],
        *,
        from_action: bool,
        form: PublishForm | None = None,
    ) -> TemplateResponse:
        now = timezone.now()
        single = versions[0] if len(versions) == 1 and not versions[0].is_published else None
        comparison, dropped = None, []
        if single is not None:
            followed = version_followed(single)
            if followed is not None:
                comparison = selectors.version_comparison(left_pk=followed.pk, right_pk=single.pk)
            dropped = promises_dropped(single)
        context = {
            "comparison": comparison,
            "dropped": dropped,
            "publish_form": form or PublishForm(dropped=bool(dropped)),
            "significant": [v for v in versions if v.significant and not v.is_published],
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Publish policy versions?"),
            "drafts": [
                (version, _local_datetime(version, now), version.policy.notice_period_days)
                for version in versions
                if not version.is_published
            ],
            "already_published": [version for version in versions if version.is_published],
            "from_action": from_action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/policies/policyversion/publish_confirmation.html", context
        )

    @admin.action(description=_("Publish the selected drafts"), permissions=["publish"])
    def publish_selected(
        self, request: HttpRequest, queryset: QuerySet[PolicyVersion]
    ) -> TemplateResponse | None:
        versions = list(queryset.select_related("policy__organization").order_by("pk"))
        if request.POST.get("post") != "yes":
            return self._confirmation(request, versions, from_action=True)
        # The confirmation page asks for a reason only when it shows a single draft.
        reason = str(request.POST.get("reason", "")) if len(versions) == 1 else ""
        for version in versions:
            self._publish(request, version, reason=reason)
        return None

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        version = self.get_object(request, unquote(object_id))
        if version is None:
            raise Http404
        if not self.has_publish_permission(request):
            raise PermissionDenied
        change_url = reverse("admin:policies_policyversion_change", args=[version.pk])
        if version.is_published:
            self.message_user(
                request,
                gettext("%(version)s is already published; it was left unchanged.")
                % {"version": version},
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        if request.method == "POST" and request.POST.get("post") == "yes":
            form = PublishForm(request.POST, dropped=bool(promises_dropped(version)))
            if form.is_valid():
                self._publish(request, version, reason=form.cleaned_data.get("reason", ""))
                return HttpResponseRedirect(change_url)
            return self._confirmation(request, [version], from_action=False, form=form)
        return self._confirmation(request, [version], from_action=False)

    # A new draft ------------------------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A new version starts as a copy of the newest published one (text, rules, exemptions):
        ask only for its policy and label, then open the copy to edit."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NewDraftForm(request.POST or None, initial={"policy": request.GET.get("policy")})
        if request.method == "POST" and form.is_valid():
            try:
                draft = policy_version_draft(
                    policy=form.cleaned_data["policy"],
                    version_label=form.cleaned_data["version_label"],
                )
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                self.log_addition(
                    request, draft, gettext("Draft copied from the version in force.")
                )
                self.message_user(
                    request,
                    gettext(
                        "%(version)s is a draft copied from the newest published version, with "
                        "its rights and retention rules. Edit it, then publish it."
                    )
                    % {"version": draft},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:policies_policyversion_change", args=[draft.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("New policy version"),
            "form": form,
        }
        return TemplateResponse(request, "admin/policies/policyversion/new_draft.html", context)

    # Comparing --------------------------------------------------------------------------------

    def compare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show ``object_id`` next to another version of its policy, the older one on the left.

        Without a choice the version is compared with the one created just before it.
        """
        version = self.get_object(request, unquote(object_id))
        if version is None:
            raise Http404
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        form = VersionCompareForm(request.GET or None, version=version)
        other: PolicyVersion | None = None
        if form.is_bound and form.is_valid():
            other = form.cleaned_data["other"]
        elif not form.is_bound:
            other = (
                PolicyVersion.objects.filter(policy_id=version.policy_id, pk__lt=version.pk)
                .order_by("-pk")
                .first()
            )
            if other is not None:
                form = VersionCompareForm(initial={"other": other.pk}, version=version)
        comparison = None
        if other is not None:
            older, newer = sorted([version, other], key=lambda v: v.pk)
            comparison = selectors.version_comparison(left_pk=older.pk, right_pk=newer.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": version,
            "title": gettext("Compare versions of %(policy)s") % {"policy": version.policy},
            "form": form,
            "comparison": comparison,
        }
        return TemplateResponse(request, "admin/policies/policyversion/compare.html", context)


# --- Retention rules and their exemptions ------------------------------------------------------


class RetentionExemptionInline(FrozenInlineMixin, admin.TabularInline):
    model = RetentionExemption
    extra = 0
    fields = ("category", "legal_basis", "period", "period_unit", "source")

    def parent_version(self, obj: Any) -> PolicyVersion | None:
        return obj.version if isinstance(obj, RetentionRule) else None


@admin.register(RetentionRule)
class RetentionRuleAdmin(FrozenWithVersionAdmin):
    list_display = ("slug", "version", "trigger", "period", "period_unit", "action")
    list_filter = ("trigger", "action")
    list_select_related = ("version__policy__organization",)
    search_fields = ("slug", "version__version_label", "version__policy__title")
    fields = (
        "version",
        "slug",
        "trigger",
        "period",
        "period_unit",
        "action",
        "notice_days_before",
        "source",
        "source_quote",
    )
    inlines = (RetentionExemptionInline,)

    def version_of(self, obj: Any) -> PolicyVersion | None:
        return obj.version if isinstance(obj, RetentionRule) else None

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        # Rules can only be attached to drafts; published versions would refuse them anyway.
        if db_field.name == "version":
            kwargs["queryset"] = PolicyVersion.objects.filter(
                published_at__isnull=True
            ).select_related("policy__organization")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(PolicyPublication)
class PolicyPublicationAdmin(admin.ModelAdmin):
    """Who published each version, and what it dropped and why: read-only."""

    list_display = ("version", "published_at", "published_by", "significant", "dropped_count")
    list_filter = ("version__policy__organization", "significant")
    list_select_related = ("version__policy__organization",)
    fields = (
        "version",
        "follows",
        "published_at",
        "published_by",
        "significant",
        "dropped",
        "reason",
    )
    readonly_fields = fields

    @admin.display(description=_("promises dropped"))
    def dropped_count(self, publication: PolicyPublication) -> int:
        return len(publication.dropped)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
