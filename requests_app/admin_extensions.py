"""What other apps add to a subject request's admin pages, registered in their ``ready()``.

The request page belongs to ``requests_app``; the steps that act on the subject's data belong to
the apps built on it (corrections, erasure, exports), which ``requests_app`` never imports. Each
registers a ``RequestAdminExtension``: the buttons it offers on a request's page (``links``),
the pages those buttons lead to (``urls``, mounted under the request admin, names kept as
``admin:<name>``), its inlines on the request page and its bulk actions in the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite
    from django.contrib.admin.options import InlineModelAdmin
    from django.db.models import QuerySet
    from django.urls import URLPattern

    from requests_app.models import SubjectRequest

# A link: {"name", "label", "url", "asks"}; ``asks`` when the page it opens asks before acting.
StaffLink = dict[str, Any]


@dataclass(frozen=True)
class RequestAdminExtension:
    name: str
    links: Callable[[Any, SubjectRequest], list[StaffLink]] | None = None
    urls: Callable[[AdminSite], list[URLPattern]] | None = None
    inlines: Sequence[type[InlineModelAdmin[Any, Any]]] = field(default_factory=tuple)
    actions: Sequence[Callable[..., Any]] = field(default_factory=tuple)
    # The queue: an annotation of its queryset (one query for the page, whatever the rows), the
    # columns reading it and the filters on it.
    queue_annotate: Callable[[QuerySet[SubjectRequest]], QuerySet[SubjectRequest]] | None = None
    queue_columns: Sequence[Callable[..., Any]] = field(default_factory=tuple)
    queue_filters: Sequence[Any] = field(default_factory=tuple)
    # Warnings at the top of a request's page (a request filed by someone else, a legal hold).
    notices: Callable[[Any, SubjectRequest], list[str]] | None = None


_EXTENSIONS: dict[str, RequestAdminExtension] = {}


def request_admin_extend(extension: RequestAdminExtension) -> None:
    """Add ``extension`` to the subject request admin (registering a name again replaces it)."""
    _EXTENSIONS[extension.name] = extension


def extensions() -> list[RequestAdminExtension]:
    return list(_EXTENSIONS.values())


def staff_links(user: Any, subject_request: SubjectRequest) -> list[StaffLink]:
    """Every extension's buttons that apply to ``subject_request`` for ``user`` now."""
    return [
        link
        for extension in extensions()
        if extension.links is not None
        for link in extension.links(user, subject_request)
    ]


def extension_urls(site: AdminSite) -> list[URLPattern]:
    return [
        url
        for extension in extensions()
        if extension.urls is not None
        for url in extension.urls(site)
    ]


def queue_annotate(requests: QuerySet[SubjectRequest]) -> QuerySet[SubjectRequest]:
    for extension in extensions():
        if extension.queue_annotate is not None:
            requests = extension.queue_annotate(requests)
    return requests


def staff_notices(user: Any, subject_request: SubjectRequest) -> list[str]:
    """Every extension's warnings about ``subject_request``, for ``user``."""
    return [
        notice
        for extension in extensions()
        if extension.notices is not None
        for notice in extension.notices(user, subject_request)
    ]
