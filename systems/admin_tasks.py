"""Systems' tasks in the admin: on the request page, in the queue, and "Waiting on systems".

The tasks are read-only; officers (``systems.change_systemtask``) act on an open one from its
page through the services in ``systems.work``: retry, give it another owner, or close it with a
reason. Each step is recorded in the request's audit trail.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from requests_app.admin_base import ReadOnlyMixin
from requests_app.admin_extensions import RequestAdminExtension, request_admin_extend
from requests_app.models import OPEN_STATUSES, SubjectRequest
from requests_app.text import PlainTextField
from systems import work
from systems.models import OPEN_TASK_STATUSES, SystemTask

MANAGE = "systems.change_systemtask"


class SystemTaskInline(ReadOnlyMixin, admin.TabularInline):
    model = SystemTask
    extra = 0
    can_delete = False
    verbose_name_plural = _("Systems: one task each")
    fields = readonly_fields = (
        "task_link",
        "action",
        "status",
        "owner",
        "due_at",
        "attempts",
        "last_error",
        "answer",
        "finished_at",
    )
    ordering = ("system__name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SystemTask]:
        return super().get_queryset(request).select_related("system", "owner_user")

    @admin.display(description=_("system"))
    def task_link(self, task: SystemTask) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:systems_systemtask_change", args=[task.pk]),
            task.system.name,
        )

    @admin.display(description=_("owner"))
    def owner(self, task: SystemTask) -> str:
        return task.owner

    @admin.display(description=_("answer"))
    def answer(self, task: SystemTask) -> str:
        return answer_words(task)


def answer_words(task: SystemTask) -> str:
    """What the system answered, in words."""
    parts = []
    if task.data_rows is not None:
        parts.append(gettext("%(rows)d rows sent") % {"rows": task.data_rows})
    if task.counts:
        parts.append(", ".join(f"{name}: {count}" for name, count in task.counts.items()))
    if task.reason:
        parts.append(task.reason)
    elif task.note:
        parts.append(task.note)
    if task.answered_by:
        parts.append(gettext("by %(who)s") % {"who": task.answered_by})
    return "; ".join(parts)


class StuckFilter(admin.SimpleListFilter):
    """Which tasks to list; the page opens on the open ones ("Waiting on systems")."""

    title = _("waiting")
    parameter_name = "waiting"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("open", gettext("open")),
            ("stuck", gettext("overdue or out of attempts")),
            ("settled", gettext("settled")),
            ("all", gettext("all")),
        ]

    def value(self) -> str:
        return super().value() or "open"

    def choices(self, changelist: Any) -> Any:
        # No "All" of Django's own: "all" is a choice, and "open" is the default.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[SystemTask]
    ) -> QuerySet[SystemTask]:
        # Tasks of closed requests (rejected, withdrawn) wait for nothing.
        waiting = queryset.filter(
            status__in=list(OPEN_TASK_STATUSES), request__status__in=list(OPEN_STATUSES)
        )
        if self.value() == "open":
            return waiting
        if self.value() == "stuck":
            return waiting.filter(stuck_since__isnull=False)
        if self.value() == "settled":
            return queryset.exclude(status__in=list(OPEN_TASK_STATUSES))
        return queryset


class CloseForm(forms.Form):
    reason = PlainTextField(label=_("Why close it"), max_length=2000)


class ReassignForm(forms.Form):
    owner_user = forms.ModelChoiceField(
        label=_("Staff user"),
        queryset=get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .order_by("username"),
        required=False,
    )
    owner_email = forms.EmailField(label=_("or an email address"), required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("owner_user") and not cleaned.get("owner_email"):
            raise forms.ValidationError(gettext("Name the new owner: a staff user or an email."))
        return cleaned


@admin.register(SystemTask)
class SystemTaskAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """ "Waiting on systems": every task, the open ones first, with the last error."""

    list_display = [
        "request_link",
        "system",
        "action",
        "status",
        "owner",
        "due_at",
        "attempts",
        "last_error",
        "stuck_since",
    ]
    list_filter = [StuckFilter, "status", "system__kind", "system__organization"]
    list_select_related = ["request", "system", "owner_user"]
    search_fields = ["request__reference", "system__name", "owner_email"]
    ordering = ["due_at", "pk"]
    change_form_template = "admin/systems/systemtask/change_form.html"
    fields = readonly_fields = [  # type: ignore[assignment]
        "request_link",
        "system",
        "action",
        "status",
        "owner",
        "due_at",
        "attempts",
        "next_attempt_at",
        "last_error",
        "external_ref",
        "counts",
        "kept",
        "note",
        "reason",
        "data_name",
        "data_sha256",
        "data_rows",
        "answered_by",
        "reminded_at",
        "escalated_at",
        "stuck_since",
        "created_at",
        "finished_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SystemTask]:
        from requests_app import roles

        visible = roles.visible_requests(request.user, SubjectRequest.objects.all())
        return super().get_queryset(request).filter(request__in=visible)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {**(extra_context or {}), "title": gettext("Waiting on systems")}
        )

    @admin.display(description=_("request"), ordering="request__reference")
    def request_link(self, task: SystemTask) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:requests_app_subjectrequest_change", args=[task.request_id]),
            task.request.reference,
        )

    @admin.display(description=_("owner"))
    def owner(self, task: SystemTask) -> str:
        return task.owner

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:task_id>/act/<str:step>/",
                self.admin_site.admin_view(self.act_view),
                name="systems_systemtask_act",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        task = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if task is not None and task.is_open and request.user.has_perm(MANAGE):
            extra.update(
                may_act=True,
                may_retry=work.handler_for(task.system.kind) is not None,
                close_form=CloseForm(),
                reassign_form=ReassignForm(),
            )
        return super().change_view(request, object_id, form_url, extra)

    def act_view(self, request: HttpRequest, task_id: int, step: str) -> HttpResponse:
        """Retry, reassign or close an open task (POST only, officers only)."""
        if request.method != "POST" or not request.user.has_perm(MANAGE):
            raise PermissionDenied
        task = get_object_or_404(self.get_queryset(request), pk=task_id)
        user = cast(User, request.user)
        page = reverse("admin:systems_systemtask_change", args=[task.pk])
        try:
            if step == "retry":
                work.task_retry(task=task, user=user)
                messages.success(request, gettext("The task will be sent again."))
            elif step == "close":
                close = CloseForm(request.POST)
                if not close.is_valid():
                    messages.error(request, gettext("Closing a task needs the reason."))
                    return HttpResponseRedirect(page)
                work.task_close(task=task, user=user, reason=close.cleaned_data["reason"])
                messages.success(request, gettext("The task is closed with your reason."))
            elif step == "reassign":
                reassign = ReassignForm(request.POST)
                if not reassign.is_valid():
                    messages.error(
                        request, gettext("Name the new owner: a staff user or an email address.")
                    )
                    return HttpResponseRedirect(page)
                work.task_reassign(
                    task=task,
                    user=user,
                    owner_user=reassign.cleaned_data["owner_user"],
                    owner_email=reassign.cleaned_data["owner_email"] or "",
                )
                messages.success(request, gettext("The task has a new owner."))
            else:
                raise PermissionDenied
        except work.TaskRefused as refused:
            messages.error(request, str(refused))
        return HttpResponseRedirect(page)


# --- The queue ------------------------------------------------------------------------------------


def _annotate(requests: QuerySet[SubjectRequest]) -> QuerySet[SubjectRequest]:
    open_tasks = SystemTask.objects.filter(
        request=OuterRef("pk"), status__in=list(OPEN_TASK_STATUSES)
    )
    return requests.annotate(waiting_for_systems=Exists(open_tasks))


@admin.display(description=_("systems"), boolean=False)
def waiting_column(obj: SubjectRequest) -> str:
    if getattr(obj, "waiting_for_systems", False):
        return format_html('<span class="dsr-waiting">⏳ {}</span>', gettext("waiting for systems"))
    return ""


class WaitingFilter(admin.SimpleListFilter):
    title = _("systems")
    parameter_name = "systems"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", gettext("waiting for systems")), ("answered", gettext("all answered"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[SubjectRequest]
    ) -> QuerySet[SubjectRequest]:
        # ``waiting_for_systems`` is the queue's annotation (``_annotate``).
        if self.value() == "waiting":
            return queryset.filter(waiting_for_systems=True)  # type: ignore[misc]
        if self.value() == "answered":
            return queryset.filter(waiting_for_systems=False)  # type: ignore[misc]
        return queryset


def extend_request_admin() -> None:
    request_admin_extend(
        RequestAdminExtension(
            name="systems",
            inlines=(SystemTaskInline,),
            queue_annotate=_annotate,
            queue_columns=(waiting_column,),
            queue_filters=(WaitingFilter,),
        )
    )
