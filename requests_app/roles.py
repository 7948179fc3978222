"""Staff roles: support agents, privacy officers and auditors, and what each may do.

The roles are Django groups holding explicit permissions (created by migration 0003, the export
permissions added by 0007; ``ROLES`` is their current definition and ``roles_sync`` brings the
groups in line with it). The admin asks this module both whether to offer an action and whether
to carry it out, so what is not offered is also refused when forced.

- **Agents** see the requests assigned to them and the unassigned ones (the pool they pick work
  from), take an unassigned request ("assign to me"), and start, hold, resume and complete the
  requests assigned to them. They see those requests' export packages and their downloads. They
  cannot extend, reject, reassign, build or deliver an export, or delete.
- **Privacy officers** see and work every request, assign to anyone, extend, reject, approve
  erasures, build, re-run, discard and deliver export packages, manage retention settings, see
  metrics and the evidence record; they add systems (external databases) and give them data maps.
  They see failed staff log-ins and lift lockouts, see staff API tokens and revoke them, and
  see staff members' authenticator devices and remove a lost one
  (issuing a token stays with superusers: it acts as its user).
- **Auditors** read everything, export packages and their downloads and systems and their data
  maps included, failed staff log-ins and API tokens, and view and download evidence records;
  they change nothing.

Nobody, superusers included, deletes a request or an audit event through the admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q, QuerySet

from requests_app.workflow import action_is_legal

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from requests_app.models import SubjectRequest

    AnyUser = User | AnonymousUser

AGENTS = "Support agents"
OFFICERS = "Privacy officers"
AUDITORS = "Auditors"

PROCESS = "requests_app.process_request"
VIEW_ALL = "requests_app.view_all_requests"
ASSIGN = "requests_app.assign_request"
EXTEND = "requests_app.extend_request"
REJECT = "requests_app.reject_request"
APPROVE_ERASURE = "requests_app.approve_erasure"
VIEW_EVIDENCE = "requests_app.view_evidence"
EXPORT_EVIDENCE = "requests_app.export_evidence"
MANAGE_RETENTION = "requests_app.manage_retention"
VIEW_METRICS = "requests_app.view_metrics"
VERIFY_RELATIONSHIP = "requests_app.verify_relationship"
PLACE_LEGAL_HOLD = "requests_app.place_legal_hold"
# Building covers re-running a failed build and discarding a package; delivering is its own step.
BUILD_EXPORT = "exports.add_exportpackage"
DELIVER_EXPORT = "exports.deliver_exportpackage"

_POLICY_READING = frozenset(
    {
        "policies.view_organization",
        "policies.view_policy",
        "policies.view_policyversion",
        "policies.view_requesttyperule",
        "policies.view_retentionrule",
        "policies.view_retentionexemption",
    }
)
_REQUEST_READING = frozenset({"requests_app.view_subjectrequest", "requests_app.view_requestevent"})
_EXPORT_READING = frozenset({"exports.view_exportpackage", "exports.view_exportdownload"})
_SYSTEM_READING = frozenset({"systems.view_system", "systems.view_datamapversion"})
# Everyone who works on requests sees their systems' tasks; officers retry, reassign and close them.
TASK_READING = "systems.view_systemtask"
MANAGE_TASKS = "systems.change_systemtask"
_SIGN_IN_READING = frozenset(
    {"staff_auth.view_failedlogin", "staff_auth.view_apitoken", "otp_totp.view_totpdevice"}
)
# The record of consent withdrawn and restrictions (effects), and of policy announcements.
_EFFECT_READING = frozenset({"effects.view_consentchange", "announcements.view_announcement"})
LIFT_RESTRICTION = "effects.lift_restriction"

ROLES: dict[str, frozenset[str]] = {
    AGENTS: _REQUEST_READING | _EXPORT_READING | _POLICY_READING | {PROCESS, TASK_READING},
    OFFICERS: _REQUEST_READING
    | _EXPORT_READING
    | _POLICY_READING
    | {
        PROCESS,
        VIEW_ALL,
        ASSIGN,
        EXTEND,
        REJECT,
        APPROVE_ERASURE,
        VIEW_EVIDENCE,
        EXPORT_EVIDENCE,
        MANAGE_RETENTION,
        VIEW_METRICS,
        BUILD_EXPORT,
        DELIVER_EXPORT,
        VERIFY_RELATIONSHIP,
        PLACE_LEGAL_HOLD,
        "policies.add_retentionrule",
        "policies.change_retentionrule",
        "policies.delete_retentionrule",
        "policies.add_retentionexemption",
        "policies.change_retentionexemption",
        "policies.delete_retentionexemption",
        "systems.add_system",
        "systems.change_system",
        "systems.add_datamapversion",
        TASK_READING,
        MANAGE_TASKS,
        # Lifting a lockout deletes its failed log-ins; revoking a token deletes it.
        "staff_auth.delete_failedlogin",
        "staff_auth.delete_apitoken",
        # Removing a lost authenticator makes its owner set up a new one.
        "otp_totp.delete_totpdevice",
        LIFT_RESTRICTION,
    }
    | _SYSTEM_READING
    | _SIGN_IN_READING
    | _EFFECT_READING,
    AUDITORS: _REQUEST_READING
    | _EXPORT_READING
    | _POLICY_READING
    | _SYSTEM_READING
    | _SIGN_IN_READING
    | _EFFECT_READING
    | {VIEW_ALL, VIEW_EVIDENCE, EXPORT_EVIDENCE, VIEW_METRICS, TASK_READING},
}

# The permission each staff action needs, on top of being allowed to work on the request.
ACTION_PERMISSIONS: dict[str, str] = {
    "assign_self": PROCESS,
    "assign": ASSIGN,
    "start": PROCESS,
    "hold": PROCESS,
    "resume": PROCESS,
    "complete": PROCESS,
    "extend": EXTEND,
    "reject": REJECT,
}


def _permissions(names: frozenset[str]) -> list[Permission]:
    query = Q()
    for name in names:
        app_label, codename = name.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query))
    if len(found) != len(names):
        missing = names - {f"{p.content_type.app_label}.{p.codename}" for p in found}
        raise LookupError(f"permissions missing from the database: {sorted(missing)}")
    return found


@transaction.atomic
def roles_sync() -> None:
    """Create the role groups that are missing and give each exactly the permissions of ``ROLES``.

    Migration 0003 does this on install; call it again after a database flush (tests) or to
    repair groups an administrator edited by hand.
    """
    for name, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(names))


def sees_all_requests(user: AnyUser) -> bool:
    return user.has_perm(VIEW_ALL)


def visible_requests(user: AnyUser, requests: QuerySet[SubjectRequest]) -> QuerySet[SubjectRequest]:
    """Narrow ``requests`` to the ones ``user`` may see: all, or theirs and the unassigned ones."""
    if sees_all_requests(user):
        return requests
    return requests.filter(Q(assignee_id=user.pk) | Q(assignee__isnull=True))


def works_on(user: AnyUser, request: SubjectRequest) -> bool:
    """Whether ``user`` may act on ``request``: every request, or the ones assigned to them."""
    return sees_all_requests(user) or (
        request.assignee_id is not None and request.assignee_id == user.pk
    )


def may_act(user: AnyUser, action: str, request: SubjectRequest) -> bool:
    """Whether ``user``'s role allows ``action`` on ``request`` (legality aside).

    "assign_self" is how an agent takes a request from the unassigned pool; only someone who
    sees every request may take one assigned to somebody else.
    """
    if not user.has_perm(ACTION_PERMISSIONS[action]):
        return False
    if action == "assign_self":
        if request.assignee_id == user.pk:
            return False
        return request.assignee_id is None or sees_all_requests(user)
    if action == "assign":
        return True
    return works_on(user, request)


def available_actions(user: AnyUser, request: SubjectRequest) -> list[str]:
    """The actions to offer ``user`` on ``request``: allowed by the role and legal right now."""
    return [
        action
        for action in ACTION_PERMISSIONS
        if may_act(user, action, request)
        and action_is_legal("assign" if action == "assign_self" else action, request)
    ]


def assignable_users() -> QuerySet[User]:
    """Active staff who can work on requests: the people a request can be assigned to."""
    app_label, codename = PROCESS.split(".")
    can_process = Q(content_type__app_label=app_label, codename=codename)
    permission = Permission.objects.filter(can_process)
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__in=permission)
            | Q(user_permissions__in=permission)
        )
        .distinct()
        .order_by("username")
    )


def officers() -> QuerySet[User]:
    """Active privacy officers with an email address: who hears about unassigned requests.

    When no officer is set up, the active superusers stand in, so escalations reach somebody.
    """
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    in_group = users.filter(groups__name=OFFICERS).distinct()
    if in_group.exists():
        return in_group.order_by("username")
    return users.filter(is_superuser=True).order_by("username")
