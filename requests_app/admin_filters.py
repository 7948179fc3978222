"""The queue's filters: who a request is assigned to, where it stands against its deadline.

The deadline filters use the same queryset methods as the reminder job, which the partial index
on open requests' deadlines (``subject_request_open_deadline``) serves.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from requests_app import roles
from requests_app.models import RequestStatus, SubjectRequest, SubjectRequestQuerySet

DUE_THIS_WEEK_DAYS = 7


class AssigneeFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        people: list[tuple[str, Any]] = [("me", _("me")), ("nobody", _("nobody"))]
        if roles.sees_all_requests(request.user):
            people += [(str(user.pk), user.get_username()) for user in roles.assignable_users()]
        return people

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[SubjectRequest]
    ) -> QuerySet[SubjectRequest]:
        value = self.value()
        if value == "me":
            return queryset.filter(assignee_id=request.user.pk)
        if value == "nobody":
            return queryset.filter(assignee__isnull=True)
        # A user id: ASCII digits of a size a key can have ("²" is a digit, 5000 digits no int).
        if value and value.isascii() and value.isdigit() and len(value) <= 18:
            return queryset.filter(assignee_id=int(value))
        return queryset


class DeadlineFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("overdue", _("overdue")),
            ("soon", _("due within %(days)d days") % {"days": settings.REMINDER_DAYS_BEFORE}),
            ("week", _("due this week (next 7 days)")),
            ("paused", _("clock paused")),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[SubjectRequest]
    ) -> QuerySet[SubjectRequest]:
        requests = cast(SubjectRequestQuerySet, queryset)
        now = timezone.now()
        value = self.value()
        if value == "overdue":
            return requests.overdue(now)
        if value == "soon":
            return requests.due_within(now, settings.REMINDER_DAYS_BEFORE)
        if value == "week":
            return requests.due_within(now, DUE_THIS_WEEK_DAYS)
        if value == "paused":
            return queryset.filter(status=RequestStatus.ON_HOLD, rule__pauses_while_on_hold=True)
        return queryset


class OnHoldFilter(admin.SimpleListFilter):
    title = _("on hold")
    parameter_name = "on_hold"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("waiting for the subject")), ("no", _("not on hold"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[SubjectRequest]
    ) -> QuerySet[SubjectRequest]:
        if self.value() == "yes":
            return queryset.filter(status=RequestStatus.ON_HOLD)
        if self.value() == "no":
            return queryset.exclude(status=RequestStatus.ON_HOLD)
        return queryset
