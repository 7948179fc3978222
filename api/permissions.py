"""Who may use the staff endpoints: the admin's roles (``requests_app.roles``), nothing new.

A staff user (active, ``is_staff``) whose role lets them view subject requests may read the
queue; which requests they see and which actions they may take on one are the same questions the
admin asks ``roles``: an agent sees the unassigned requests and theirs and works on theirs, an
officer sees and works on all, an auditor reads all and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api.errors import Conflict
from requests_app import roles
from requests_app.models import SubjectRequest
from requests_app.workflow import action_is_legal

VIEW_REQUESTS = "requests_app.view_subjectrequest"
# The actions that change something other than the status.
NO_STATUS_CHANGE = frozenset({"assign", "assign_self", "extend"})


class IsStaffWithRequestAccess(BasePermission):
    """Active staff whose role lets them see subject requests."""

    message = _("Your account has no access to subject requests.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_active
            and getattr(user, "is_staff", False)
            and user.has_perm(VIEW_REQUESTS)
        )


def check_permission(request: Request, permission: str, subject_request: SubjectRequest) -> None:
    """Raise 403 unless the user has ``permission`` and works on ``subject_request``.

    For the export and erasure steps, which the admin guards with a permission of their own on
    top of working on the request.
    """
    user = request.user
    if not (user.has_perm(permission) and roles.works_on(user, subject_request)):
        raise exceptions.PermissionDenied(
            _("Your role does not allow this action on this request.")
        )


def check_action(request: Request, action: str, subject_request: SubjectRequest) -> None:
    """Refuse ``action`` as the admin does: 403 if the role does not allow it, 409 if the
    request's status does not (the same ``roles`` and ``workflow`` rules the admin applies)."""
    if not roles.may_act(request.user, action, subject_request):
        raise exceptions.PermissionDenied(
            _("Your role does not allow this action on this request.")
        )
    if not action_is_legal("assign" if action == "assign_self" else action, subject_request):
        raise Conflict(
            _("This action does not apply to %(reference)s while it is “%(status)s”.")
            % {
                "reference": subject_request.reference,
                "status": subject_request.get_status_display(),
            },
            code="illegal_action" if action in NO_STATUS_CHANGE else "illegal_transition",
        )
