"""Building an export package: the subject's rows streamed into a ZIP on the ``exports`` storage.

The ZIP holds ``data.json`` (every category's records), one CSV per category, ``summary.html``
(readable, in the request's language) and ``manifest.json`` (who, what, when, row counts, and the
size and SHA-256 of every other file). See ``records`` for how values are written.

Bounded memory: each model's rows come from the database in chunks of ``EXPORT_CHUNK_SIZE``
(server-side cursors on PostgreSQL, all read from one snapshot) and go straight into the archive;
``data.json`` is written chunk by chunk while each category's CSV is spooled to a temporary file
on the worker's disk (``tempfile``'s directory, about a third of ``data.json``'s size) and copied
into the archive afterwards, so the database is read once.
The archive is written as a stream (it never seeks), so the same code writes to local disk or to
an object store.

No half file is ever visible: on local storage the attempt writes under ``partial/`` and the
finished file is renamed into ``packages/`` before the package is marked ready; on an object store
(S3) the upload only becomes an object once complete. A killed attempt leaves the package
``building``; after the task's hard time limit has surely passed, housekeeping
(``delivery.exports_recover_stalled``) deletes its partial file and queues it again.

One cohesive thing, and so one module: the package's layout and the streaming that writes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import DatabaseError, connection, connections, router, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation

from exports.events import export_event
from exports.models import ExportKind, ExportPackage, ExportStatus
from exports.sources import outside_systems, package_ready
from exports.statements import policy_statements
from outbox import heartbeat
from outbox.heartbeat import Heartbeat, WorkTakenOver
from policies.models import DataCategory
from requests_app.audit import Actor
from subject_data.records import (
    FORMULA_GUARD,
    FORMULA_START,
    RowWriter,
    category_csv_columns,
    csv_header,
)
from subject_data.registry import Registration, SubjectIdentity, registry
from subject_data.schema import FORMAT, schema_url

logger = logging.getLogger(__name__)

BUILD_JOB = "build-export-package"
MAX_ATTEMPTS = 3
PARTIAL_DIR = "partial"
PACKAGE_DIR = "packages"
# Deflate level 1: text still shrinks about fivefold, at several times the speed of the default 6.
COMPRESS_LEVEL = 1
COPY_BLOCK = 1024 * 1024


def export_storage() -> Storage:
    return storages["exports"]


def stall_after() -> timedelta:
    """How long a build may go without a heartbeat before it is thought dead (its worker gone)."""
    return heartbeat.stall_after()


def is_local(storage: Storage) -> bool:
    try:
        storage.path("")
    except NotImplementedError:
        return False
    return True


def final_name(partial_path: str) -> str:
    """Where the file an attempt writes to ``partial_path`` ends up once complete."""
    base = os.path.basename(partial_path).removesuffix(".part")
    return f"{PACKAGE_DIR}/{base}"


def delete_quietly(storage: Storage, name: str) -> None:
    """Delete ``name`` if it exists; a failure is logged, the next housekeeping run retries."""
    if not name:
        return
    try:
        storage.delete(name)
    except OSError:
        logger.exception("could not delete export file %s", name)


# --- Writing --------------------------------------------------------------------------------------


class _Digest:
    """A binary sink that passes bytes on while counting and hashing them.

    It has ``tell`` but no ``seek``, so ``zipfile`` writes a streamable archive (sizes in data
    descriptors) and the hash of what passed through is the hash of the finished file.
    """

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def write_text(self, text: str) -> None:
        self.write(text.encode("utf-8"))

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        """Leave the target open: whoever opened it closes it."""

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass(frozen=True)
class PackedFile:
    name: str
    size: int
    sha256: str


@dataclass
class BuildResult:
    size: int = 0
    sha256: str = ""
    files: list[PackedFile] = field(default_factory=list)
    models: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.models.values())

    def row_counts(self) -> dict[str, dict[str, int]]:
        return {"categories": self.categories, "models": self.models}


@contextlib.contextmanager
def _entry(
    archive: zipfile.ZipFile, name: str, result: BuildResult, *, at: datetime
) -> Iterator[_Digest]:
    info = zipfile.ZipInfo(name, date_time=at.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    # What ZipFile.open would set from the archive for a bare name (it also dates it 1980).
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]
    info.external_attr = 0o644 << 16
    with archive.open(info, "w", force_zip64=True) as raw:
        digest = _Digest(raw)
        yield digest
    result.files.append(PackedFile(name, digest.size, digest.hexdigest()))


@contextlib.contextmanager
def _one_snapshot() -> Iterator[None]:
    """Read every model from one snapshot, so the package is consistent, in a transaction, so
    PostgreSQL's server-side cursors stream rather than materialise.

    SQLite (the embedded default) reads in autocommit: its IMMEDIATE transactions would hold the
    write lock for the whole export.
    """
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


@contextlib.contextmanager
def _system_snapshot(alias: str) -> Iterator[None]:
    """Read one table of a system's own PostgreSQL in a read-only transaction, so its rows stream
    through a server-side cursor (the tracker's own database is in ``_one_snapshot`` already)."""
    other = connections[alias]
    if alias == connection.alias or other.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=alias):
        with other.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


class ArchiveWriter:
    """Writes one package's archive into a binary sink."""

    def __init__(
        self, package: ExportPackage, *, generated_at: datetime, vendor: str | None = None
    ) -> None:
        """``vendor`` picks who formats the rows (see ``records``): the database's by default."""
        self.vendor = vendor
        self.package = package
        self.request = package.request
        self.generated_at = generated_at
        # ZIP entries carry a local time without a zone: the organisation's clock.
        self.local_time = generated_at.astimezone(self.request.organization.tz)
        self.identity = SubjectIdentity.of_request(self.request)
        self.registrations = registry.selected(
            portable_only=package.is_portability, organization_id=self.request.organization_id
        )
        self.chunk_size: int = settings.EXPORT_CHUNK_SIZE
        # Called between batches: raises when another attempt took the build over.
        self.alive: Callable[[], None] = lambda: None
        self.result = BuildResult()
        # Systems outside the engine and their answers (``exports.sources``).
        self.outside = outside_systems(self.request)
        self._json = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
        )

    def row_writer(self, registration: Registration, columns: Sequence[str]) -> RowWriter:
        """The writer for the database the registration's rows live in (or ``vendor``'s)."""
        vendor = self.vendor or connections[router.db_for_read(registration.model)].vendor
        return RowWriter.for_database(vendor, registration, columns)

    def categories(self) -> dict[DataCategory, list[Registration]]:
        grouped: dict[DataCategory, list[Registration]] = {}
        for registration in self.registrations:
            grouped.setdefault(registration.category, []).append(registration)
        return grouped

    def write(self, sink: IO[bytes]) -> BuildResult:
        digest = _Digest(sink)
        archive = zipfile.ZipFile(
            digest,
            "w",
            compression=zipfile.ZIP_DEFLATED,
            compresslevel=COMPRESS_LEVEL,
        )
        with archive, contextlib.ExitStack() as spools, translation.override(self.request.language):
            csv_files: list[tuple[str, IO[bytes]]] = []
            with (
                _one_snapshot(),
                _entry(archive, "data.json", self.result, at=self.local_time) as out,
            ):
                self._data_json(out, spools, csv_files)
            for name, spool in csv_files:
                spool.seek(0)
                with _entry(archive, name, self.result, at=self.local_time) as out:
                    shutil.copyfileobj(spool, out, COPY_BLOCK)
            for system in self.outside:
                if system.open_answer is None:
                    continue
                with (
                    system.open_answer() as answer,
                    _entry(archive, system.file, self.result, at=self.local_time) as out,
                ):
                    shutil.copyfileobj(answer, out, COPY_BLOCK)
            with _entry(archive, "summary.html", self.result, at=self.local_time) as out:
                out.write_text(self._summary())
            # The manifest is last: it lists the size and hash of every file before it.
            manifest = json.dumps(self._manifest(), ensure_ascii=False, indent=2)
            with _entry(archive, "manifest.json", self.result, at=self.local_time) as out:
                out.write_text(manifest + "\n")
        self.result.size, self.result.sha256 = digest.size, digest.hexdigest()
        return self.result

    def _data_json(
        self, out: _Digest, spools: contextlib.ExitStack, csv_files: list[tuple[str, IO[bytes]]]
    ) -> None:
        head = {
            "$schema": schema_url(),
            "format": FORMAT,
            "request": self.request.reference,
            "kind": self.package.kind,
            "generated_at": self.generated_at.isoformat(),
        }
        out.write_text(self._json.encode(head)[:-1] + ',"categories":{')
        for number, (category, members) in enumerate(self.categories().items()):
            spool = spools.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by spools
            csv_files.append((f"{category.value}.csv", spool))
            out.write_text(("," if number else "") + f"\n{self._json.encode(category.value)}:[")
            self.result.categories[category.value] = self._category(members, out, spool)
            out.write_text("\n]")
        out.write_text("\n}}\n")

    def _category(self, members: list[Registration], out: _Digest, spool: IO[bytes]) -> int:
        """Write a category's records into ``data.json`` and its CSV into ``spool``; count them."""
        columns = category_csv_columns(members)
        spool.write(csv_header(columns).encode("utf-8"))
        separator = "\n"
        total = 0
        for registration in members:
            writer = self.row_writer(registration, columns)
            count = 0
            rows = registration.rows(self.identity)
            with _system_snapshot(rows.db):
                for batch in writer.batches(rows, self.chunk_size):
                    self.alive()
                    out.write_text(separator + batch.json)
                    separator = ",\n"
                    spool.write(batch.csv.encode("utf-8"))
                    count += batch.count
            self.result.models[registration.label] = count
            total += count
        return total

    def _statements_context(self) -> dict[str, Any]:
        version = self.request.policy_version
        if self.package.kind != ExportKind.ACCESS:
            return {}
        return {
            "statements": policy_statements(version.text),
            "retention_rules": list(version.retention_rules.prefetch_related("exemptions")),
        }

    def _category_rows(self) -> list[dict[str, Any]]:
        rows = []
        for category, members in self.categories().items():
            rows.append(
                {
                    "category": category.value,
                    "label": str(category.label),
                    "file": f"{category.value}.csv",
                    "rows": self.result.categories.get(category.value, 0),
                    "models": [
                        {
                            "model": r.label,
                            "label": str(r.model._meta.verbose_name_plural),
                            "rows": self.result.models.get(r.label, 0),
                            "fields": list(r.columns),
                        }
                        for r in members
                    ],
                }
            )
        return rows

    def _summary(self) -> str:
        request = self.request
        organization = request.organization
        context = {
            "package": self.package,
            "request": request,
            "organization": organization,
            "version": request.policy_version,
            "generated_local": self.generated_at.astimezone(organization.tz),
            "categories": self._category_rows(),
            "total_rows": self.result.total_rows,
            "engine_systems": [found["name"] for found in self._systems()],
            "outside_systems": self.outside,
            "schema_url": schema_url(),
            "is_access": self.package.kind == ExportKind.ACCESS,
            **self._statements_context(),
        }
        return render_to_string("exports/summary.html", context)

    def _systems(self) -> list[dict[str, Any]]:
        """The systems the export read, with the tables of each."""
        found: dict[str, list[str]] = {}
        for registration in self.registrations:
            found.setdefault(registration.system_name, []).append(registration.label)
        return [{"name": name, "models": labels} for name, labels in sorted(found.items())]

    def _manifest(self) -> dict[str, Any]:
        request = self.request
        organization = request.organization
        version = request.policy_version
        return {
            "format": FORMAT,
            "generated_at": self.generated_at.isoformat(),
            "package": {"id": self.package.pk, "kind": self.package.kind},
            "request": {
                "reference": request.reference,
                "type": request.request_type,
                "received_at": request.received_at.isoformat(),
                "language": request.language,
            },
            "subject": {
                "email": request.email,
                "name": request.name,
                "account_identifier": request.account_identifier,
            },
            "organization": {
                "slug": organization.slug,
                "name": organization.name,
                "legal_name": organization.legal_name,
                "country": organization.country,
                "contact_email": organization.contact_email,
            },
            "policy_version": {
                "policy": version.policy.title,
                "version": version.version_label,
                "language": version.language,
                "published_at": version.published_at.isoformat() if version.published_at else None,
                "effective_at": version.effective_at.isoformat() if version.effective_at else None,
                "text_sha256": version.text_sha256,
            },
            "data_schema": schema_url(),
            "systems": self._systems(),
            # Systems outside the engine: each with its task's status (done, nothing found,
            # closed by an officer with the reason...) and its answer file in this package.
            "outside_systems": [system.manifest() for system in self.outside],
            "categories": self._category_rows(),
            "csv": {
                "formula_guard": FORMULA_GUARD,
                "guarded_starts": sorted(FORMULA_START),
                "note": (
                    "A text cell of a CSV file that begins with one of guarded_starts has "
                    "formula_guard in front, so that a spreadsheet shows it as text instead of "
                    "running it as a formula; data.json holds the exact value."
                ),
            },
            "total_rows": self.result.total_rows,
            "files": [
                {"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.result.files
            ],
        }


# --- The build service ------------------------------------------------------------------------


def _claim(package_id: int, now: datetime) -> tuple[ExportPackage, str] | None:
    """Move the package to ``building`` for a new attempt; return it and the attempt's partial
    path, or None when there is nothing to build (done, discarded, or another attempt is alive).
    """
    storage = export_storage()
    token = uuid.uuid4().hex
    local = is_local(storage)
    partial = f"{PARTIAL_DIR}/{token}.zip.part" if local else f"{PACKAGE_DIR}/{token}.zip"
    with transaction.atomic():
        package = (
            ExportPackage.objects.select_for_update()
            .select_related(
                "request__organization", "request__policy_version__policy", "request__rule"
            )
            .filter(pk=package_id)
            .first()
        )
        if package is None:
            return None
        alive_at = package.heartbeat_at or package.started_at
        stalled = (
            package.status == ExportStatus.BUILDING
            and alive_at is not None
            and alive_at <= now - stall_after()
        )
        retryable = package.status == ExportStatus.FAILED and package.attempts < MAX_ATTEMPTS
        if not (package.status == ExportStatus.QUEUED or retryable or stalled):
            return None
        previous = package.partial_path
        package.status = ExportStatus.BUILDING
        package.attempts = F("attempts") + 1
        package.started_at = package.heartbeat_at = now
        package.partial_path = partial
        package.save(
            update_fields=["status", "attempts", "started_at", "heartbeat_at", "partial_path"]
        )
        package.refresh_from_db(fields=["attempts"])
        if previous:
            transaction.on_commit(lambda: _delete_attempt_files(storage, previous))
    return package, partial


def _delete_attempt_files(storage: Storage, partial: str) -> None:
    delete_quietly(storage, partial)
    if partial.startswith(f"{PARTIAL_DIR}/"):
        # The attempt may have died between renaming its file and recording it.
        delete_quietly(storage, final_name(partial))


def _open_for_writing(storage: Storage, name: str) -> IO[bytes]:
    if is_local(storage):
        path = storage.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = storage.open(name, "wb")
        # Personal data: readable by the service's own user only.
        os.chmod(path, 0o600)
        return handle
    return storage.open(name, "wb")


def _publish(storage: Storage, partial: str) -> str:
    """Make the complete file visible under its final name and return that name."""
    if not is_local(storage):
        return partial
    final = final_name(partial)
    target = storage.path(final)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(storage.path(partial), target)
    return final


def _failure_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _record_failure(package: ExportPackage, exc: BaseException, now: datetime) -> None:
    reason = _failure_text(exc)
    try:
        with transaction.atomic():
            failed = ExportPackage.objects.filter(
                pk=package.pk, status=ExportStatus.BUILDING, attempts=package.attempts
            ).update(status=ExportStatus.FAILED, failure=reason, partial_path="")
            if failed:
                export_event(
                    package=package,
                    event="build_failed",
                    actor=Actor.system(BUILD_JOB),
                    at=now,
                    note=f"Export package build failed (attempt {package.attempts}): {reason}",
                    data={"attempt": package.attempts},
                )
    except DatabaseError:
        # The database itself is the problem; housekeeping finds the package stalled later.
        logger.exception("could not record the failure of export package %s", package.pk)


def export_build(*, package_id: int, at: datetime | None = None) -> ExportPackage | None:
    """Build the package's file; return the package once ready, or None if there was nothing to do.

    Safe to run again and concurrently: an attempt first claims the package (queued, failed with
    attempts left, or building but stalled) and only the attempt that claimed it may mark it
    ready. A failure marks the package failed with the reason, removes the partial file and
    re-raises, so the task can retry.
    """
    claimed = _claim(package_id, at or timezone.now())
    if claimed is None:
        return None
    package, partial = claimed
    storage = export_storage()
    generated_at = timezone.now()
    this_attempt = ExportPackage.objects.filter(
        pk=package.pk, status=ExportStatus.BUILDING, attempts=package.attempts
    )
    try:
        with Heartbeat(this_attempt) as alive, _open_for_writing(storage, partial) as sink:
            writer = ArchiveWriter(package, generated_at=generated_at)
            writer.alive = alive.check
            result = writer.write(sink)
        final = _publish(storage, partial)
    except WorkTakenOver:
        # This worker was thought dead and another attempt builds now: leave the work to it.
        _delete_attempt_files(storage, partial)
        return None
    except BaseException as exc:
        _delete_attempt_files(storage, partial)
        _record_failure(package, exc, timezone.now())
        raise
    return _record_ready(package, final, result)


def _record_ready(package: ExportPackage, final: str, result: BuildResult) -> ExportPackage | None:
    storage = export_storage()
    now = timezone.now()
    with transaction.atomic():
        ready = ExportPackage.objects.filter(
            pk=package.pk, status=ExportStatus.BUILDING, attempts=package.attempts
        ).update(
            status=ExportStatus.READY,
            file_path=final,
            partial_path="",
            size=result.size,
            sha256=result.sha256,
            row_counts=result.row_counts(),
            total_rows=result.total_rows,
            built_at=now,
            failure="",
        )
        if ready != 1:
            # Another attempt took over (this one was thought dead): its file is the one kept.
            transaction.on_commit(lambda: delete_quietly(storage, final))
            return None
        export_event(
            package=package,
            event="built",
            actor=Actor.system(BUILD_JOB),
            at=now,
            note=(
                f"Export package built: {result.total_rows} rows, {result.size} bytes, "
                f"SHA-256 {result.sha256}."
            ),
            data={"rows": result.row_counts(), "size": result.size, "sha256": result.sha256},
        )
        models = dict(result.models)
        transaction.on_commit(lambda: package_ready(package, models))
    package.refresh_from_db()
    return package
