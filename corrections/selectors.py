"""Who may review and apply a request's corrections: used by the admin and the API alike."""

from __future__ import annotations

from typing import Any

from requests_app import roles
from requests_app.models import SubjectRequest


def may_correct(user: Any, subject_request: SubjectRequest) -> bool:
    return user.has_perm(roles.PROCESS) and roles.works_on(user, subject_request)
