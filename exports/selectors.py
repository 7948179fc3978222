"""Who may build a request's export package, and whether one can be built now.

Used by the admin (the build button and its page) and the staff API alike.
"""

from __future__ import annotations

from typing import Any

from exports.delivery import EXPORT_TYPES, EXPORTABLE_STATUSES
from exports.models import IN_THE_WORKS
from requests_app import roles
from requests_app.models import SubjectRequest


def may_build_export(user: Any, subject_request: SubjectRequest) -> bool:
    """Whether ``user``'s role lets them build ``subject_request``'s package (status aside)."""
    return user.has_perm(roles.BUILD_EXPORT) and roles.works_on(user, subject_request)


def export_buildable(subject_request: SubjectRequest) -> bool:
    """Whether ``export_create`` would take ``subject_request`` now: an open, confirmed access or
    portability request with no package of its kind already in preparation."""
    return (
        subject_request.request_type in EXPORT_TYPES
        and subject_request.status in EXPORTABLE_STATUSES
        and not subject_request.export_packages.filter(
            kind=subject_request.request_type, status__in=IN_THE_WORKS
        ).exists()
    )
