"""Cursor pagination: stable pages however many requests arrive while a client reads them."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class RequestCursorPagination(CursorPagination):
    # The primary key only grows, is unique and indexed: the newest request first, no page ever
    # repeats or skips one.
    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Any:
        # A cursor the client mangled is bad input (400), not a missing resource.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}
            ) from None
