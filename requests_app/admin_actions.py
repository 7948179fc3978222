"""Staff actions on requests in the admin: the forms, the action pages and the bulk actions.

Every action is a call to a ``requests_app.workflow`` service, which records it in the audit
trail. An action is offered only when ``roles.may_act`` allows it to the user and
``workflow.action_is_legal`` allows it in the request's status; the action page asks both again,
so a forced POST is refused: with 403 when the role does not allow it, with a message and no
change when the request's status does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from policies.deadlines import max_extension
from requests_app import roles
from requests_app.audit import Actor
from requests_app.models import ReasonCode, SubjectRequest
from requests_app.text import PlainTextField
from requests_app.workflow import (
    IllegalAction,
    IllegalTransition,
    MissingReason,
    action_is_legal,
    request_assign,
    request_complete,
    request_extend,
    request_hold,
    request_reject,
    request_resume,
    request_start,
)

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[SubjectRequest]
else:
    _Base = object

TEXT = forms.Textarea(attrs={"rows": 5, "cols": 80})


class ActionForm(forms.Form):
    """The input an action asks for; it may depend on the request acted on."""

    def __init__(self, *args: Any, request: SubjectRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class AssignForm(ActionForm):
    assignee = forms.ModelChoiceField(
        label=_("Assign to"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("nobody (back to the pool)"),
    )

    def __init__(self, *args: Any, request: SubjectRequest, **kwargs: Any) -> None:
        super().__init__(*args, request=request, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["assignee"])
        field.queryset = roles.assignable_users()
        field.initial = request.assignee_id


class HoldForm(ActionForm):
    question = PlainTextField(
        label=_("Question for the subject"),
        widget=TEXT,
        max_length=2000,
        help_text=_(
            "Emailed to the subject. The clock pauses while on hold if the policy says so."
        ),
    )


class ExtendForm(ActionForm):
    amount = forms.IntegerField(label=_("Extend by"), min_value=1)
    reason = PlainTextField(label=_("Reason (the subject is told)"), widget=TEXT, max_length=2000)

    def __init__(self, *args: Any, request: SubjectRequest, **kwargs: Any) -> None:
        super().__init__(*args, request=request, **kwargs)
        allowed = max_extension(request.rule)
        field = cast(forms.IntegerField, self.fields["amount"])
        if allowed is not None:
            field.max_value = allowed.amount
            field.validators.append(MaxValueValidator(allowed.amount))
            field.widget.attrs["max"] = allowed.amount
            field.initial = allowed.amount
            field.help_text = _("In %(unit)s; at most %(maximum)s, once.") % {
                "unit": request.rule.get_extension_unit_display(),
                "maximum": allowed,
            }


class RejectForm(ActionForm):
    reason_code = forms.ChoiceField(label=_("Reason code"), choices=ReasonCode.choices)
    reason = PlainTextField(
        label=_("Explanation for the subject"),
        widget=TEXT,
        max_length=5000,
        help_text=_("Emailed to the subject with their right to complain."),
    )


class CompleteForm(ActionForm):
    outcome = PlainTextField(
        label=_("Outcome for the subject"),
        widget=TEXT,
        max_length=5000,
        help_text=_("What was done; emailed to the subject."),
    )


@dataclass(frozen=True)
class StaffAction:
    label: Any  # the button on the record ("…" when it asks for more first)
    submit: Any  # the button that carries it out
    done: Any
    form: type[ActionForm] | None
    run: Callable[[SubjectRequest, Actor, User, dict[str, Any]], SubjectRequest]
    # Said instead of ``done`` for a request a controller forwarded through OpenDSR, whose
    # subject we never email (see ``SubjectRequest.emails_subject``).
    done_forwarded: Any = None


ACTIONS: dict[str, StaffAction] = {
    "assign_self": StaffAction(
        _("Assign to me"),
        _("Assign to me"),
        _("%(reference)s is assigned to you."),
        None,
        lambda r, actor, user, data: request_assign(request=r, actor=actor, assignee=user),
    ),
    "assign": StaffAction(
        _("Assign to…"),
        _("Assign"),
        _("%(reference)s is assigned."),
        AssignForm,
        lambda r, actor, user, data: request_assign(
            request=r, actor=actor, assignee=data["assignee"]
        ),
    ),
    "start": StaffAction(
        _("Start work"),
        _("Start work"),
        _("Work on %(reference)s has started."),
        None,
        lambda r, actor, user, data: request_start(request=r, actor=actor),
    ),
    "hold": StaffAction(
        _("Put on hold…"),
        _("Put on hold and ask the subject"),
        _("%(reference)s is on hold; the question was sent to the subject."),
        HoldForm,
        lambda r, actor, user, data: request_hold(
            request=r, actor=actor, question=data["question"]
        ),
        _(
            "%(reference)s is on hold. %(controller)s forwarded it through OpenDSR and we do not "
            "email its subject: ask %(controller)s for what you need."
        ),
    ),
    "resume": StaffAction(
        _("Resume work"),
        _("Resume work"),
        _("Work on %(reference)s has resumed."),
        None,
        lambda r, actor, user, data: request_resume(request=r, actor=actor),
    ),
    "extend": StaffAction(
        _("Extend the deadline…"),
        _("Extend the deadline"),
        _("The deadline of %(reference)s is extended."),
        ExtendForm,
        lambda r, actor, user, data: request_extend(
            request=r, actor=actor, amount=data["amount"], reason=data["reason"]
        ),
    ),
    "reject": StaffAction(
        _("Reject…"),
        _("Reject the request"),
        _("%(reference)s is rejected; the subject is told why."),
        RejectForm,
        lambda r, actor, user, data: request_reject(
            request=r, actor=actor, reason_code=data["reason_code"], reason=data["reason"]
        ),
        _("%(reference)s is rejected; %(controller)s hears of it through its status callback."),
    ),
    "complete": StaffAction(
        _("Complete…"),
        _("Complete the request"),
        _("%(reference)s is completed; the subject is told the outcome."),
        CompleteForm,
        lambda r, actor, user, data: request_complete(
            request=r, actor=actor, outcome=data["outcome"]
        ),
        _("%(reference)s is completed; %(controller)s hears of it through its status callback."),
    ),
}
REFUSALS = (IllegalTransition, IllegalAction, MissingReason)


def _done_message(staff_action: StaffAction, request: SubjectRequest) -> str:
    if staff_action.done_forwarded is not None and not request.emails_subject:
        controller = request.opendsr.controller.name
        return str(
            staff_action.done_forwarded % {"reference": request.reference, "controller": controller}
        )
    return str(staff_action.done % {"reference": request.reference})


def _legal(action: str, request: SubjectRequest) -> bool:
    return action_is_legal("assign" if action == "assign_self" else action, request)


def staff_user(request: HttpRequest) -> User:
    return cast(User, request.user)


class RequestActionsMixin(_Base):
    """Adds the action pages and the bulk actions to the subject request admin."""

    actions = ["assign_selected_to_me", "start_selected", "resume_selected", "assign_selected"]

    def has_process_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.PROCESS)

    def has_assign_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.ASSIGN)

    def action_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/act/<slug:action>/",
                self.admin_site.admin_view(self.action_view),
                name="requests_app_subjectrequest_act",
            ),
        ]

    def offered_actions(self, request: HttpRequest, obj: SubjectRequest) -> list[dict[str, Any]]:
        """The actions to show on ``obj``'s page: name, label, URL and whether it asks first."""
        return [
            {
                "name": name,
                "label": ACTIONS[name].label,
                "url": reverse("admin:requests_app_subjectrequest_act", args=[obj.pk, name]),
                "asks": ACTIONS[name].form is not None,
            }
            for name in roles.available_actions(request.user, obj)
        ]

    def action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """Show an action's form (GET) or carry the action out (POST)."""
        staff_action = ACTIONS.get(action)
        obj = self.get_object(request, unquote(object_id))
        if staff_action is None or obj is None:
            raise Http404
        if not roles.may_act(request.user, action, obj):
            raise PermissionDenied
        change_url = reverse("admin:requests_app_subjectrequest_change", args=[obj.pk])
        if not _legal(action, obj):
            self.message_user(
                request,
                gettext("“%(action)s” does not apply to %(reference)s while it is “%(status)s”.")
                % {
                    "action": staff_action.submit,
                    "reference": obj.reference,
                    "status": obj.get_status_display(),
                },
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        form = (
            staff_action.form(request.POST if request.method == "POST" else None, request=obj)
            if staff_action.form
            else None
        )
        if request.method == "POST" and (form is None or form.is_valid()):
            data = form.cleaned_data if form is not None else {}
            try:
                staff_action.run(obj, Actor.staff(staff_user(request)), staff_user(request), data)
            except REFUSALS as error:
                if form is None:
                    self.message_user(request, str(error), messages.ERROR)
                    return HttpResponseRedirect(change_url)
                form.add_error(None, str(error))
            else:
                self.message_user(request, _done_message(staff_action, obj), messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": f"{obj.reference}: {staff_action.submit}",
            "action_label": staff_action.submit,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/requests_app/subjectrequest/action.html", context)

    # Bulk actions ---------------------------------------------------------------------------

    def _bulk(
        self, request: HttpRequest, queryset: QuerySet[SubjectRequest], action: str, **data: Any
    ) -> None:
        user = staff_user(request)
        done = skipped = 0
        for obj in queryset.select_related("rule", "organization", "assignee").order_by("pk"):
            if not (roles.may_act(user, action, obj) and _legal(action, obj)):
                skipped += 1
                continue
            try:
                ACTIONS[action].run(obj, Actor.staff(user), user, data)
            except REFUSALS:
                skipped += 1
            else:
                done += 1
        label = ACTIONS[action].submit
        if done:
            self.message_user(
                request,
                ngettext(
                    "“%(action)s”: done for %(count)d request.",
                    "“%(action)s”: done for %(count)d requests.",
                    done,
                )
                % {"action": label, "count": done},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "“%(action)s” does not apply to %(count)d selected request (its status "
                    "or its assignee); it was left unchanged.",
                    "“%(action)s” does not apply to %(count)d selected requests (their status "
                    "or their assignee); they were left unchanged.",
                    skipped,
                )
                % {"action": label, "count": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Assign the selected requests to me"), permissions=["process"])
    def assign_selected_to_me(
        self, request: HttpRequest, queryset: QuerySet[SubjectRequest]
    ) -> None:
        self._bulk(request, queryset, "assign_self")

    @admin.action(description=_("Start work on the selected requests"), permissions=["process"])
    def start_selected(self, request: HttpRequest, queryset: QuerySet[SubjectRequest]) -> None:
        self._bulk(request, queryset, "start")

    @admin.action(description=_("Resume work on the selected requests"), permissions=["process"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[SubjectRequest]) -> None:
        self._bulk(request, queryset, "resume")

    @admin.action(description=_("Assign the selected requests to…"), permissions=["assign"])
    def assign_selected(
        self, request: HttpRequest, queryset: QuerySet[SubjectRequest]
    ) -> TemplateResponse | None:
        form = AssignForm(
            request.POST if request.POST.get("post") == "yes" else None,
            request=SubjectRequest(),
        )
        if form.is_bound and form.is_valid():
            self._bulk(request, queryset, "assign", assignee=form.cleaned_data["assignee"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Assign the selected requests"),
            "form": form,
            "requests": list(queryset.order_by("pk")),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/requests_app/subjectrequest/assign_selected.html", context
        )
