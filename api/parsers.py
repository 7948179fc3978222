"""The JSON parser of the REST API and the OpenDSR endpoints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No request of ours nests anywhere near this deep; OpenDSR's free-form extensions least of all.
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 what would otherwise fail later with a 500.

    - Nesting deeper than ``MAX_DEPTH``: the decoder recurses, so a body of a million ``[`` raises
      ``RecursionError``, which is no parse error to DRF.
    - An unpaired surrogate escape (``"\\ud800"``): valid JSON, but not text; no database stores
      it and no answer that repeats it (a choice error, say) can be encoded as UTF-8.
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_too_deep()) from None
        _check(data)
        return data


def _too_deep() -> str:
    return str(_("The JSON is nested too deeply: at most %(depth)d levels.") % {"depth": MAX_DEPTH})


def _check(data: Any) -> None:
    """Raise ``ParseError`` when ``data`` nests too deeply or holds an unpaired surrogate."""
    # A loop, not recursion: the structure may be as deep as the decoder allowed.
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ParseError(
                    _("The JSON holds an unpaired surrogate escape, which is not text.")
                )
            continue
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise ParseError(_too_deep())
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
