"""Progress of a long management command, on a terminal or in a log.

Shared by every command that counts its way through many rows (``purge``, the sample host's
``generate_demo_data``), so they all report the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _


class Progress:
    """Report a counted step as ``sales 12,000/50,000 (24%)``.

    On a terminal the line is rewritten after every batch written; otherwise (a log, a pipe)
    each update that moves the percentage is its own line.
    """

    def __init__(self, write: Callable[[str], object], *, in_place: bool) -> None:
        self._write = write
        self._in_place = in_place
        self._label = ""
        self._done = 0
        self._total = 0
        self._width = 0
        self._shown_percent = -1

    def start(self, label: str, total: int) -> None:
        self._label, self._done, self._total, self._width = label, 0, total, 0
        self._shown_percent = -1

    def advance(self, count: int) -> None:
        self._done += count
        # A log gets a line only when the percentage moves: at most about a hundred per step.
        if self._in_place or self._percent() != self._shown_percent or self._done >= self._total:
            self._show()

    def finish(self) -> None:
        if self._shown_percent < 0:
            # Nothing was written (zero sales asked for): still say the step happened.
            self._show()
        if self._in_place:
            self._write("\n")

    def _percent(self) -> int:
        return 100 if self._total == 0 else min(100, self._done * 100 // self._total)

    def _show(self) -> None:
        percent = self._shown_percent = self._percent()
        text = _("%(label)s %(done)s/%(total)s (%(percent)d%%)") % {
            "label": self._label,
            "done": f"{self._done:,}",
            "total": f"{self._total:,}",
            "percent": percent,
        }
        if self._in_place:
            # Pad over what the previous, possibly longer, line left on the screen.
            self._write("\r" + text.ljust(self._width))
            self._width = max(self._width, len(text))
        else:
            self._write(text + "\n")
