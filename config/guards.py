"""Input no page can use, refused at the edge with a 400 or a 413 instead of failing with a 500.

- **A NUL in the address or the query string.** PostgreSQL refuses it in any text, so a query
  that compares with it fails with ``DataError``: an admin list filter (``?status__exact=%00``),
  a search, an object id. ``InputGuardMiddleware`` answers 400 before the view runs. A middleware
  rather than a guard in the admin's change lists because the same query strings reach every
  admin page, every public page and any page added later, and because refusing the byte up
  front keeps a ``DataError`` what it should be: a bug, logged and answered 500, not something
  to catch and explain away. It is the only character a query string can carry that PostgreSQL
  refuses: Django decodes invalid UTF-8 as U+FFFD. The REST API and the OpenDSR endpoints (DRF
  views) check their own input (path converters, serializers) and answer in their own error
  shape, so the middleware leaves them alone.
- **An impossible date in the admin's date hierarchy** (``?created_at__year=99999``): Django's
  change list turns ``<field>__year``, ``__month`` and ``__day`` into a date and catches only
  some of what that raises, so a year past 9998 or a 30-digit number is an ``OverflowError``.
  The same middleware answers 400 to such a value: the parameter names are the admin's own, and
  every page with a date hierarchy gets the guard without a line of its own.
- **A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``** sent to a page (the forms, the admin): Django
  raises ``RequestDataTooBig`` and answers 400; ``bad_request``, the ``handler400``, answers 413
  with a page that says what happened instead. The API answers the same error with 413 in its
  own error shape (``api.errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import BadRequest, RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import defaults
from rest_framework.views import APIView

NUL = "\x00"


def _is_api_view(view_func: Callable[..., Any]) -> bool:
    view_class = getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def has_nul(request: HttpRequest) -> bool:
    """Say whether the address or a name or value of the query string holds a NUL."""
    return NUL in request.path or any(
        NUL in name or any(NUL in value for value in values) for name, values in request.GET.lists()
    )


# The admin's date-hierarchy parameters and their largest values that still make a date.
_DATE_PARTS = {"__year": 9998, "__month": 12, "__day": 31}


def has_impossible_date(request: HttpRequest) -> bool:
    """Say whether a date-hierarchy parameter's value is not a year, month or day in range."""
    for name, values in request.GET.lists():
        highest = next((top for end, top in _DATE_PARTS.items() if name.endswith(end)), None)
        if highest is not None and not all(
            len(value) <= 4 and value.isdecimal() and 1 <= int(value) <= highest for value in values
        ):
            return True
    return False


class InputGuardMiddleware:
    """Answer 400 to a page request with a NUL or an impossible date-hierarchy value."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        if _is_api_view(view_func):
            return
        # Answered by handler400, logged as a bad request.
        if has_nul(request):
            raise BadRequest("NUL in the address or query string")
        if has_impossible_date(request):
            raise BadRequest("impossible date in the query string")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 page, or for a body that is too large a page saying so, with status 413."""
    if isinstance(exception, RequestDataTooBig):
        return render(request, "413.html", status=413)
    return defaults.bad_request(request, exception)
