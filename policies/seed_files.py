"""Reading and checking seed files (``seeds/<name>.toml``, each beside its policy text).

:func:`seeds_read` parses and checks every field of every file and raises :class:`SeedError`
with one line naming the file, the field and the problem; nothing is written here.
``seeds/README.md`` describes the file format; ``policies.seeding`` loads what this returns.

One cohesive thing, and so one module: the file format and every check it is held to.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email, validate_slug
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.models import (
    ClockStart,
    DataCategory,
    MinorsAction,
    PeriodUnit,
    PolicyVersion,
    RequestType,
    RetentionAction,
    RetentionTrigger,
    RuleSource,
    validate_time_zone,
)

# PositiveSmallIntegerField's upper bound on PostgreSQL.
SMALLINT_MAX = 32767
LANGUAGE_CODE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


class SeedError(Exception):
    """A seeds file is invalid or cannot be loaded; ``str()`` is one line for the operator."""

    def __init__(self, path: Path, field_name: str | None, problem: str) -> None:
        self.path = path
        self.field_name = field_name
        self.problem = problem
        where = _display_path(path)
        if field_name:
            message = _("%(file)s: field '%(field)s': %(problem)s") % {
                "file": where,
                "field": field_name,
                "problem": problem,
            }
        else:
            message = f"{where}: {problem}"
        super().__init__(message)


def _display_path(path: Path) -> str:
    """Show ``path`` relative to the working directory when it is inside it (``seeds/x.toml``)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- What a valid file holds ---------------------------------------------------------------------


# The fields frozen with a version, compared between a seeds file and the database; the specs
# below use the model's field names so one helper reads both.
REQUEST_TYPE_FIELDS = (
    "request_type",
    "offered",
    "response_period",
    "response_unit",
    "clock_starts",
    "pauses_while_on_hold",
    "max_extension",
    "extension_unit",
    "extension_notice_required",
    "extension_source",
    "extension_note",
    "identity_verification_required",
    "applies_on_confirmation",
    "source",
    "source_quote",
)
RETENTION_FIELDS = (
    "slug",
    "trigger",
    "period",
    "period_unit",
    "action",
    "notice_days_before",
    "source",
    "source_quote",
)
EXEMPTION_FIELDS = ("category", "legal_basis", "period", "period_unit", "source")
MINORS_FIELDS = ("age_below", "action", "response_days", "source", "source_quote", "note")


def _values(obj: object, fields: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """Return ``obj``'s ``fields`` as a hashable tuple (lists become tuples)."""
    values = []
    for name in fields:
        value = getattr(obj, name)
        values.append((name, tuple(value) if isinstance(value, list) else value))
    return tuple(values)


@dataclass(frozen=True)
class RequestTypeSpec:
    request_type: str
    response_period: int
    response_unit: str
    clock_starts: str
    pauses_while_on_hold: bool
    max_extension: int
    extension_unit: str
    extension_notice_required: bool
    extension_source: str
    extension_note: str
    identity_verification_required: bool
    applies_on_confirmation: bool
    source: str
    source_quote: str
    # A seeds file lists the types the text offers; there is no "not offered" entry.
    offered: bool = True

    def row(self) -> dict[str, Any]:
        """Return the field values of the ``RequestTypeRule`` this entry becomes."""
        return dict(_values(self, REQUEST_TYPE_FIELDS))


@dataclass(frozen=True)
class ExemptionSpec:
    category: str
    legal_basis: str
    period: int
    period_unit: str
    source: str

    def row(self) -> dict[str, Any]:
        return dict(_values(self, EXEMPTION_FIELDS))


@dataclass(frozen=True)
class RetentionSpec:
    slug: str
    trigger: str
    period: int
    period_unit: str
    action: str
    notice_days_before: tuple[int, ...]
    source: str
    source_quote: str
    exemptions: tuple[ExemptionSpec, ...]

    def row(self) -> dict[str, Any]:
        """Return the ``RetentionRule`` field values (without its exemptions)."""
        row = dict(_values(self, RETENTION_FIELDS))
        row["notice_days_before"] = list(self.notice_days_before)
        return row


@dataclass(frozen=True)
class MinorsSpec:
    """The ``[minors]`` table: what the text promises about a child's data."""

    age_below: int
    action: str
    response_days: int
    source: str
    source_quote: str
    note: str

    def row(self) -> dict[str, Any]:
        """Return the field values of the ``MinorsRule`` this table becomes."""
        return dict(_values(self, MINORS_FIELDS))


@dataclass(frozen=True)
class Seed:
    """One valid seeds file and its text, ready to load."""

    path: Path
    organization: dict[str, Any]
    jurisdiction_country: str
    jurisdiction_law: str
    policy_slug: str
    policy_title: str
    notice_period_days: int
    version_label: str
    language: str
    published_on: date
    text: str
    request_types: tuple[RequestTypeSpec, ...]
    retention_rules: tuple[RetentionSpec, ...]
    minors: MinorsSpec | None = None

    @property
    def slug(self) -> str:
        return str(self.organization["slug"])

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def version_content(self) -> VersionContent:
        return VersionContent(
            text_sha256=self.text_sha256,
            language=self.language,
            request_types=frozenset(_values(s, REQUEST_TYPE_FIELDS) for s in self.request_types),
            retention_rules=frozenset(
                (
                    _values(spec, RETENTION_FIELDS),
                    frozenset(_values(e, EXEMPTION_FIELDS) for e in spec.exemptions),
                )
                for spec in self.retention_rules
            ),
            minors=_values(self.minors, MINORS_FIELDS) if self.minors else None,
        )


@dataclass(frozen=True)
class VersionContent:
    """Everything that is frozen with a version: equal contents mean there is nothing to publish."""

    text_sha256: str
    language: str
    request_types: frozenset[Any]
    retention_rules: frozenset[Any]
    minors: Any = None

    @classmethod
    def of(cls, version: PolicyVersion) -> VersionContent:
        """Return the content stored for ``version`` and its rules."""
        return cls(
            text_sha256=version.text_sha256,
            language=version.language,
            request_types=frozenset(
                _values(rule, REQUEST_TYPE_FIELDS) for rule in version.request_type_rules.all()
            ),
            retention_rules=frozenset(
                (
                    _values(rule, RETENTION_FIELDS),
                    frozenset(_values(e, EXEMPTION_FIELDS) for e in rule.exemptions.all()),
                )
                for rule in version.retention_rules.prefetch_related("exemptions")
            ),
            minors=(
                _values(version.minors_rule, MINORS_FIELDS)
                if hasattr(version, "minors_rule")
                else None
            ),
        )


# --- Reading and checking one file ---------------------------------------------------------------


class _Table:
    """A TOML table being read: every getter names the field in its error; unknown keys fail."""

    def __init__(self, path: Path, prefix: str, data: Any) -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(data, dict):
            raise SeedError(path, prefix.rstrip("."), _("must be a table"))
        self.data: dict[str, Any] = data
        self.read: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> SeedError:
        return SeedError(self.path, self.name(key), problem)

    def _get(self, key: str, default: Any, *, required: bool) -> Any:
        self.read.add(key)
        if key not in self.data:
            if required:
                raise self.fail(key, _("is required") + self._misspelling_hint(key))
            return default
        return self.data[key]

    def _misspelling_hint(self, key: str) -> str:
        close = difflib.get_close_matches(key, [k for k in self.data if isinstance(k, str)], n=1)
        if not close or close[0] == key:
            return ""
        return _(" (is %(found)r a misspelling?)") % {"found": close[0]}

    def string(
        self,
        key: str,
        *,
        max_length: int,
        required: bool = True,
        default: str = "",
        check: Callable[[str], None] | None = None,
    ) -> str:
        value = self._get(key, default, required=required)
        if not isinstance(value, str):
            raise self.fail(key, _("must be a string, not %(value)r") % {"value": value})
        value = value.strip()
        if required and not value:
            raise self.fail(key, _("must not be empty"))
        if len(value) > max_length:
            raise self.fail(
                key,
                _("is %(length)d characters long; at most %(max)d are allowed")
                % {"length": len(value), "max": max_length},
            )
        if check is not None and value:
            try:
                check(value)
            except ValidationError as error:
                raise self.fail(key, _one_line(" ".join(error.messages))) from error
        return value

    def integer(
        self, key: str, *, minimum: int, maximum: int = SMALLINT_MAX, default: int | None = None
    ) -> int:
        value = self._get(key, default, required=default is None)
        # TOML booleans are Python bools, which are ints too; `true` is not a number of days.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, _("must be a whole number, not %(value)r") % {"value": value})
        if not minimum <= value <= maximum:
            raise self.fail(
                key,
                _("%(value)d is out of range (%(minimum)d to %(maximum)d)")
                % {"value": value, "minimum": minimum, "maximum": maximum},
            )
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self._get(key, default, required=False)
        if not isinstance(value, bool):
            raise self.fail(key, _("must be true or false, not %(value)r") % {"value": value})
        return value

    def choice(self, key: str, choices: Iterable[str], *, default: str | None = None) -> str:
        allowed = list(choices)
        value = self._get(key, default, required=default is None)
        if value not in allowed:
            raise self.fail(
                key,
                _("%(value)r is not one of %(choices)s")
                % {"value": value, "choices": ", ".join(allowed)},
            )
        return str(value)

    def date(self, key: str) -> date:
        value = self._get(key, None, required=True)
        # A TOML local date parses to `date`; a datetime (also a `date` subclass) is refused
        # because the time of day comes from the organisation's clock, not the file.
        if isinstance(value, datetime) or not isinstance(value, date):
            raise self.fail(
                key, _("must be a TOML date such as 2026-06-23, not %(value)r") % {"value": value}
            )
        return value

    def table(self, key: str) -> _Table:
        value = self._get(key, None, required=True)
        return _Table(self.path, f"{self.name(key)}.", value)

    def tables(self, key: str) -> list[_Table]:
        value = self._get(key, [], required=False)
        if not isinstance(value, list):
            raise self.fail(key, _("must be an array of tables ([[%(key)s]])") % {"key": key})
        return [
            _Table(self.path, f"{self.name(key)}[{index}].", item)
            for index, item in enumerate(value)
        ]

    def array(self, key: str, *, default: list[Any] | None = None) -> list[Any]:
        value = self._get(key, default, required=default is None)
        if not isinstance(value, list):
            raise self.fail(key, _("must be an array, not %(value)r") % {"value": value})
        return value

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt field must not be silently ignored."""
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise self.fail(
                unknown[0],
                _("unknown field (known fields: %(known)s)")
                % {"known": ", ".join(sorted(self.read))},
            )


def _provenance(table: _Table, text: str, *, quote_required: bool) -> tuple[str, str]:
    """Read ``source``, ``quote`` and ``note``; return (source, quote).

    A quote must appear in the policy text (whitespace is compared loosely, so line breaks in the
    text do not matter); a business default must say why in its note.
    """
    source = table.choice("source", RuleSource.values)
    quote = table.string("quote", max_length=2000, required=False)
    note = table.string("note", max_length=2000, required=False)
    if quote and _one_line(quote) not in _one_line(text):
        raise table.fail(
            "quote", _("%(quote)r does not appear in the policy text") % {"quote": quote}
        )
    if (quote_required or source == RuleSource.POLICY) and not quote:
        raise table.fail(
            "quote", _("is required: quote the sentence of the policy text this entry encodes")
        )
    if source == RuleSource.DEFAULT and not note:
        raise table.fail(
            "note", _("is required for a business default: say why and that it is to be confirmed")
        )
    return source, _one_line(quote)


def _languages(table: _Table) -> list[str]:
    known = [code for code, _name in settings.LANGUAGES]
    languages = table.array("languages")
    if not languages:
        raise table.fail("languages", _("must list at least one language"))
    for index, code in enumerate(languages):
        if code not in known:
            raise SeedError(
                table.path,
                f"{table.name('languages')}[{index}]",
                _("%(value)r is not one of %(choices)s")
                % {"value": code, "choices": ", ".join(known)},
            )
    if len(set(languages)) != len(languages):
        raise table.fail("languages", _("lists a language twice"))
    return [str(code) for code in languages]


def _check_language_code(value: str) -> None:
    if not LANGUAGE_CODE_RE.match(value):
        raise ValidationError(
            _("%(value)r is not a lower-case language code such as 'en' or 'uz-cyrl'")
            % {"value": value}
        )


def _check_country(value: str) -> None:
    if not COUNTRY_RE.match(value):
        raise ValidationError(
            _("%(value)r is not an upper-case ISO 3166-1 alpha-2 code such as 'UZ'")
            % {"value": value}
        )


def _read_organization(root: _Table) -> dict[str, Any]:
    table = root.table("organization")
    organization: dict[str, Any] = {
        "slug": table.string("slug", max_length=60, check=validate_slug),
        "name": table.string("name", max_length=200),
        "legal_name": table.string("legal_name", max_length=300),
        "country": table.string("country", max_length=2, check=_check_country),
        "time_zone": table.string("time_zone", max_length=64, check=validate_time_zone),
        "languages": _languages(table),
    }
    organization["default_language"] = table.choice("default_language", organization["languages"])
    organization["contact_email"] = table.string(
        "contact_email", max_length=254, check=validate_email
    )
    organization["website"] = table.string(
        "website", max_length=200, required=False, check=URLValidator(schemes=["https", "http"])
    )
    table.done()
    return organization


def _read_request_type(table: _Table, text: str) -> RequestTypeSpec:
    request_type = table.choice("type", RequestType.values)
    period = table.integer("period", minimum=1)
    period_unit = table.choice("period_unit", PeriodUnit.values)
    clock_starts = table.choice("clock_starts", ClockStart.values, default=ClockStart.RECEIPT)
    pauses = table.boolean("pauses_while_on_hold", default=True)
    max_extension = table.integer("max_extension", minimum=0, default=0)
    extension_unit = table.choice(
        "extension_unit", PeriodUnit.values, default=PeriodUnit.CALENDAR_DAYS
    )
    extension_notice = table.boolean("extension_notice_required", default=True)
    # Absent: the extension comes from where the rest of the entry does.
    extension_source = (
        table.choice("extension_source", RuleSource.values)
        if "extension_source" in table.data
        else ""
    )
    extension_note = _one_line(table.string("extension_note", max_length=2000, required=False))
    verification = table.boolean("identity_verification_required", default=True)
    on_confirmation = table.boolean("applies_on_confirmation", default=False)
    # Every offered right must be traceable to the sentence that grants it, even when its
    # response period is a business default.
    source, quote = _provenance(table, text, quote_required=True)
    if max_extension and (extension_source or source) == RuleSource.DEFAULT:
        if not extension_note:
            raise table.fail(
                "extension_note",
                _("is required for a default extension: say why and that it is to be confirmed"),
            )
        if not extension_notice:
            raise table.fail(
                "extension_notice_required",
                _("a default extension must tell the subject: set it to true"),
            )
    if on_confirmation and request_type != RequestType.MARKETING_OPT_OUT:
        raise table.fail(
            "applies_on_confirmation",
            _("only an unsubscribe (marketing_opt_out) takes effect on confirmation"),
        )
    table.done()
    return RequestTypeSpec(
        request_type=request_type,
        response_period=period,
        response_unit=period_unit,
        clock_starts=clock_starts,
        pauses_while_on_hold=pauses,
        max_extension=max_extension,
        extension_unit=extension_unit,
        extension_notice_required=extension_notice,
        extension_source=extension_source,
        extension_note=extension_note,
        identity_verification_required=verification,
        applies_on_confirmation=on_confirmation,
        source=source,
        source_quote=quote,
    )


def _read_exemption(table: _Table, text: str) -> ExemptionSpec:
    category = table.choice("category", DataCategory.values)
    legal_basis = table.string("legal_basis", max_length=300)
    period = table.integer("period", minimum=1)
    period_unit = table.choice("period_unit", PeriodUnit.values)
    source, _quote = _provenance(table, text, quote_required=False)
    table.done()
    return ExemptionSpec(
        category=category,
        legal_basis=legal_basis,
        period=period,
        period_unit=period_unit,
        source=source,
    )


def _read_retention_rule(table: _Table, text: str) -> RetentionSpec:
    slug = table.string("slug", max_length=60, check=validate_slug)
    trigger = table.choice("trigger", RetentionTrigger.values)
    period = table.integer("period", minimum=1)
    period_unit = table.choice("period_unit", PeriodUnit.values)
    action = table.choice("action", RetentionAction.values, default=RetentionAction.DELETE)
    notice = table.array("notice_days_before", default=[])
    for index, days in enumerate(notice):
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= SMALLINT_MAX:
            raise SeedError(
                table.path,
                f"{table.name('notice_days_before')}[{index}]",
                _("must be a whole number of days of at least 1, not %(value)r") % {"value": days},
            )
    if len(set(notice)) != len(notice):
        raise table.fail("notice_days_before", _("lists a day twice"))
    source, quote = _provenance(table, text, quote_required=False)
    exemptions = [_read_exemption(item, text) for item in table.tables("exemptions")]
    _refuse_duplicates(table, "exemptions", [e.category for e in exemptions], key_name="category")
    table.done()
    return RetentionSpec(
        slug=slug,
        trigger=trigger,
        period=period,
        period_unit=period_unit,
        action=action,
        notice_days_before=tuple(sorted(notice, reverse=True)),
        source=source,
        source_quote=quote,
        exemptions=tuple(sorted(exemptions, key=lambda e: e.category)),
    )


def _read_minors(table: _Table, text: str) -> MinorsSpec:
    age_below = table.integer("age_below", minimum=1)
    action = table.choice("action", MinorsAction.values)
    response_days = table.integer("response_days", minimum=1)
    note = table.string("note", max_length=2000, required=False)
    source, quote = _provenance(table, text, quote_required=False)
    table.done()
    return MinorsSpec(
        age_below=age_below,
        action=action,
        response_days=response_days,
        source=source,
        source_quote=quote,
        note=_one_line(note),
    )


def _refuse_duplicates(table: _Table, key: str, values: list[str], *, key_name: str = "") -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise SeedError(
                table.path,
                f"{table.name(key)}[{index}].{key_name}",
                _("%(value)r appears twice") % {"value": value},
            )
        seen.add(value)


def _read_text(path: Path) -> str:
    text_path = path.with_suffix(".txt")
    try:
        raw = text_path.read_bytes()
    except FileNotFoundError as error:
        raise SeedError(
            path,
            None,
            _("the policy text %(text)s is missing") % {"text": _display_path(text_path)},
        ) from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SeedError(
            path, None, _("the policy text %(text)s is not UTF-8") % {"text": text_path.name}
        ) from error
    # Line endings are normalised so a checkout with CRLF endings is the same text, not a new
    # version.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise SeedError(
            path, None, _("the policy text %(text)s is empty") % {"text": text_path.name}
        )
    return text


def seed_read(*, path: Path, today: date | None = None) -> Seed:
    """Parse and check one seeds file and its text; raise :class:`SeedError` on the first problem.

    ``today`` (the current date by default) bounds the published date: a version cannot be
    published in the future.
    """
    text = _read_text(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as error:
        raise SeedError(path, None, _("is not UTF-8")) from error
    except tomllib.TOMLDecodeError as error:
        raise SeedError(path, None, _("not valid TOML: %(error)s") % {"error": error}) from error
    root = _Table(path, "", data)

    organization = _read_organization(root)

    jurisdiction = root.table("jurisdiction")
    jurisdiction_country = jurisdiction.string("country", max_length=2, check=_check_country)
    jurisdiction_law = jurisdiction.string("law", max_length=300)
    _provenance(jurisdiction, text, quote_required=False)
    jurisdiction.done()

    policy = root.table("policy")
    policy_slug = policy.string("slug", max_length=60, check=validate_slug)
    policy_title = policy.string("title", max_length=200)
    notice = policy.table("notice_period")
    notice_period_days = notice.integer("days", minimum=0)
    _provenance(notice, text, quote_required=False)
    notice.done()
    policy.done()

    version = root.table("version")
    version_label = version.string("label", max_length=40)
    language = version.string("language", max_length=10, check=_check_language_code)
    published = version.table("published")
    published_on = published.date("date")
    today = today or timezone.localdate(timezone=ZoneInfo(organization["time_zone"]))
    if published_on > today:
        raise published.fail(
            "date",
            _("%(date)s is in the future; a version is published on or before today")
            % {"date": published_on.isoformat()},
        )
    _provenance(published, text, quote_required=False)
    published.done()
    version.done()

    request_types = [_read_request_type(item, text) for item in root.tables("request_types")]
    if not request_types:
        raise root.fail("request_types", _("must list at least one request type the text offers"))
    _refuse_duplicates(
        root, "request_types", [spec.request_type for spec in request_types], key_name="type"
    )
    retention_rules = [_read_retention_rule(item, text) for item in root.tables("retention_rules")]
    _refuse_duplicates(
        root, "retention_rules", [spec.slug for spec in retention_rules], key_name="slug"
    )
    minors = _read_minors(root.table("minors"), text) if "minors" in root.data else None
    root.done()

    return Seed(
        path=path,
        organization=organization,
        jurisdiction_country=jurisdiction_country,
        jurisdiction_law=jurisdiction_law,
        policy_slug=policy_slug,
        policy_title=policy_title,
        notice_period_days=notice_period_days,
        version_label=version_label,
        language=language,
        published_on=published_on,
        text=text,
        request_types=tuple(sorted(request_types, key=lambda s: s.request_type)),
        retention_rules=tuple(sorted(retention_rules, key=lambda s: s.slug)),
        minors=minors,
    )


def seeds_read(*, directory: Path, today: date | None = None) -> list[Seed]:
    """Parse and check every ``*.toml`` in ``directory``, in name order, before anything loads.

    Raise :class:`SeedError` for the first invalid file, or when two files describe the same
    organisation or the directory holds no seeds file.
    """
    if not directory.is_dir():
        raise SeedError(directory, None, _("is not a directory"))
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise SeedError(directory, None, _("holds no *.toml seeds file"))
    seeds: list[Seed] = []
    owners: dict[str, Path] = {}
    for path in paths:
        seed = seed_read(path=path, today=today)
        if seed.slug in owners:
            raise SeedError(
                path,
                "organization.slug",
                _("%(slug)r is already used by %(other)s")
                % {"slug": seed.slug, "other": owners[seed.slug].name},
            )
        owners[seed.slug] = path
        seeds.append(seed)
    return seeds
