"""What higher apps add to an export: systems outside the engine, and what a build waits for.

``exports`` sits below ``systems`` and imports none of it; ``systems`` registers here in its
``ready()``:

- ``outside_source_register(fn)``: ``fn(request)`` returns the systems outside the tracker's
  engine that were asked for the subject's data (``OutsideSystem``), each with its task's status
  and, when it answered with data, a way to open the answer file. The builder copies each file
  into the package as ``systems/<slug>.json`` and names every such system, answered or not, in
  the manifest and the subject's summary.
- ``export_blocker_register(fn)``: ``fn(request)`` returns why a package cannot be built yet (a
  system still searching), in words for staff; ``export_create`` refuses while any is given, so a
  package never silently lacks an answer that was still coming.
- ``package_ready_register(fn)``: ``fn(package, models)`` is called once a package is ready, on
  commit, with its rows per model label (the engine's own systems settle their tasks from it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exports.models import ExportPackage
    from requests_app.models import SubjectRequest


@dataclass(frozen=True)
class OutsideSystem:
    """A system outside the engine asked for the subject's data, and what it answered."""

    name: str
    slug: str
    kind: str
    status: str
    status_label: str
    reason: str = ""
    rows: int | None = None
    answered_by: str = ""
    answered_at: str | None = None
    answer_sha256: str = ""
    open_answer: Callable[[], IO[bytes]] | None = None

    @property
    def file(self) -> str:
        return f"systems/{self.slug}.json" if self.open_answer is not None else ""

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slug": self.slug,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "rows": self.rows,
            "answered_by": self.answered_by,
            "answered_at": self.answered_at,
            "file": self.file,
            "answer_sha256": self.answer_sha256,
        }


_SOURCES: list[Callable[[SubjectRequest], list[OutsideSystem]]] = []
_BLOCKERS: list[Callable[[SubjectRequest], list[str]]] = []
_READY: list[Callable[[ExportPackage, dict[str, int]], None]] = []


def outside_source_register(source: Callable[[SubjectRequest], list[OutsideSystem]]) -> None:
    if source not in _SOURCES:
        _SOURCES.append(source)


def export_blocker_register(blocker: Callable[[SubjectRequest], list[str]]) -> None:
    if blocker not in _BLOCKERS:
        _BLOCKERS.append(blocker)


def package_ready_register(listener: Callable[[ExportPackage, dict[str, int]], None]) -> None:
    if listener not in _READY:
        _READY.append(listener)


def outside_systems(request: SubjectRequest) -> list[OutsideSystem]:
    return [found for source in _SOURCES for found in source(request)]


def export_blockers(request: SubjectRequest) -> list[str]:
    return [reason for blocker in _BLOCKERS for reason in blocker(request)]


def package_ready(package: ExportPackage, models: dict[str, int]) -> None:
    for listener in _READY:
        listener(package, models)
