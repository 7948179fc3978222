"""Benchmark: one subject's export package against PostgreSQL's COPY of the same rows.

    .venv/bin/python -m tests.servers -- .venv/bin/python bench/export.py --sales 1000000

(``tests.servers`` starts a throwaway PostgreSQL and Redis; any ``DATABASE_URL`` pointing at a
PostgreSQL database you can migrate works too.) The default, ``--sales 200000``, runs in about a
minute.

In a child process it migrates, then creates (once) one subject who owns an account with
``--sales`` sales of ``--lines-per-sale`` lines each, besides the few rows of every other POS
model that ``generate_demo_data`` gives an account. The measuring process then, in the same run:

1. warms the cache with a ``COPY (SELECT ...) TO STDOUT`` of the subject's rows (and loads the
   URLconf, as a worker that has run a task before has);
2. builds the subject's access export (``export_build``, as the worker does) onto a temporary
   directory, sampling its resident memory every 10 ms;
3. runs the same ``COPY`` again, for every registered model with the very SQL the export uses.

It prints rows/s and MB/s of both, their ratio (the target is at least 0.3) and the export's peak
RSS growth over the baseline just before it (the target is below 64 MB).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Exports go to a throwaway directory, not the project's var/media (removed at the end).
if "MEDIA_ROOT" not in os.environ:
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="dsr-bench-export-")
    atexit.register(shutil.rmtree, os.environ["MEDIA_ROOT"], ignore_errors=True)

import django  # noqa: E402

ORGANIZATION = "bench-export"
MB = 1024 * 1024


def _setup() -> None:
    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit(
            "bench/export.py measures PostgreSQL: set DATABASE_URL (see the docstring)"
        )


def generate(sales: int, lines_per_sale: int) -> None:
    """Migrate and create the subject and their sales unless they exist already."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from policies.models import Organization, Policy, PolicyVersion, RequestType, RequestTypeRule
    from policies.services import policy_version_publish
    from pos.demo_data import demo_data_generate, large_subject_email
    from pos.models import Account, AccountUser, Product, Sale

    call_command("migrate", verbosity=0)
    organization, _ = Organization.objects.get_or_create(
        slug=ORGANIZATION,
        defaults={
            "name": "Bench Export",
            "legal_name": "Bench Export LLC",
            "country": "UZ",
            "time_zone": "Asia/Tashkent",
            "languages": ["en"],
            "contact_email": "privacy@bench.example",
        },
    )
    if not PolicyVersion.objects.filter(policy__organization=organization).exists():
        policy = Policy.objects.create(organization=organization, slug="privacy", title="Privacy")
        version = PolicyVersion.objects.create(
            policy=policy, version_label="bench", language="en", text="2. How We Use It\nTo sell."
        )
        RequestTypeRule.objects.create(version=version, request_type=RequestType.ACCESS)
        policy_version_publish(version=version, at=timezone.now() - timedelta(days=1))
    # The subject's account, with a few rows of every model, then the bulk of sales by SQL.
    demo_data_generate(organizations=[organization], accounts=0, large_subject_sales=1)
    email = large_subject_email(organization)
    account = Account.objects.get(organization=organization, users__email=email)
    present = Sale.objects.filter(account=account, number__startswith="B-").count()
    if present >= sales:
        print(f"subject {email}: {present:,} bench sales present")
        return
    cashier = AccountUser.objects.filter(account=account).order_by("pk").last()
    product = Product.objects.filter(account=account).order_by("pk").first()
    assert cashier is not None
    assert product is not None
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO pos_sale (account_id, cashier_id, number, created_at, total,
                                  customer_name, customer_phone)
            SELECT %(account)s, %(cashier)s, 'B-' || lpad(g::text, 9, '0'),
                   now() - interval '2 years' + g * interval '1 minute',
                   (1000 + g %% 90000)::numeric / 100,
                   CASE WHEN g %% 4 = 0 THEN 'Aziz Rahimov' ELSE '' END,
                   CASE WHEN g %% 4 = 0 THEN '+998 90 111 22 33' ELSE '' END
            FROM generate_series(%(first)s, %(last)s) AS g
            """,
            {"account": account.pk, "cashier": cashier.pk, "first": present + 1, "last": sales},
        )
        cursor.execute(
            """
            INSERT INTO pos_saleline (sale_id, product_id, quantity, unit_price)
            SELECT s.id, %(product)s, 1.000, s.total
            FROM pos_sale s CROSS JOIN generate_series(1, %(lines)s)
            WHERE s.account_id = %(account)s AND s.number > %(after)s AND s.number LIKE 'B-%%'
            """,
            {
                "product": product.pk,
                "lines": lines_per_sale,
                "account": account.pk,
                "after": f"B-{present:09d}",
            },
        )
        cursor.execute("ANALYZE pos_sale; ANALYZE pos_saleline")
    print(
        f"subject {email}: {sales - present:,} sales and their lines inserted in "
        f"{time.perf_counter() - started:.1f} s"
    )


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Sample this process's resident set size every 10 ms in a thread; keep the highest."""

    def __init__(self) -> None:
        self.baseline = _rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@dataclass
class CopyResult:
    rows: int
    bytes: int
    seconds: float


def copy_rows(request_id: int) -> CopyResult:
    """COPY every registered model's rows of the subject, with the SQL the export runs."""
    from django.db import connection

    from requests_app.models import SubjectRequest
    from subject_data.registry import SubjectIdentity, registry

    identity = SubjectIdentity.of_request(SubjectRequest.objects.get(pk=request_id))
    rows = size = 0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for registration, queryset in registry.for_subject(identity):
            sql, params = (
                queryset.order_by("pk").values_list(*registration.columns).query.sql_with_params()
            )
            with raw.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
                for block in copy:
                    rows += bytes(block).count(b"\n")
                    size += len(block)
    return CopyResult(rows, size, time.perf_counter() - started)


def measure(chunk_size: int | None) -> int:
    from django.conf import settings
    from django.utils import timezone

    from exports.build import export_build, export_storage
    from exports.models import ExportPackage
    from policies.models import Organization, PolicyVersion, RequestType
    from pos.demo_data import large_subject_email
    from requests_app.intake import SubjectDetails, request_submit
    from requests_app.models import SubjectRequest
    from requests_app.workflow import request_mark_verified
    from subject_data.schema import schema_url

    if chunk_size:
        settings.EXPORT_CHUNK_SIZE = chunk_size
    organization = Organization.objects.get(slug=ORGANIZATION)
    email = large_subject_email(organization)
    request = SubjectRequest.objects.filter(organization=organization, email=email).first()
    if request is None:
        version = PolicyVersion.objects.get(policy__organization=organization)
        submitted = request_submit(
            organization=organization,
            version=version,
            rule=version.request_type_rules.get(request_type=RequestType.ACCESS),
            subject=SubjectDetails(email=email, name="Large Subject"),
            language="en",
        )
        request = request_mark_verified(request=submitted.request, at=timezone.now())

    warm = copy_rows(request.pk)
    # Load the URLconf (the package names its schema's URL) as a worker that has run a task has.
    schema_url()
    ExportPackage.objects.filter(request=request).delete()
    package = ExportPackage.objects.create(request=request, kind="access")
    gc.collect()
    with PeakRss() as memory:
        started = time.perf_counter()
        built = export_build(package_id=package.pk)
        export_seconds = time.perf_counter() - started
    assert built is not None
    copy = copy_rows(request.pk)
    assert copy.rows == warm.rows == built.total_rows, (copy.rows, warm.rows, built.total_rows)

    with export_storage().open(built.file_path, "rb") as stored:
        import json
        import zipfile

        manifest = json.loads(zipfile.ZipFile(stored).read("manifest.json"))
    written = sum(f["size"] for f in manifest["files"] if f["name"] != "summary.html")
    export_storage().delete(built.file_path)

    export_rows = built.total_rows / export_seconds
    copy_rows_s = copy.rows / copy.seconds
    ratio = export_rows / copy_rows_s
    print(f"rows: {built.total_rows:,} ({built.row_counts['models']['pos.sale']:,} sales)")
    print(f"chunk size: {settings.EXPORT_CHUNK_SIZE}")
    print(
        f"export: {export_seconds:6.2f} s  {export_rows:12,.0f} rows/s  "
        f"{written / MB / export_seconds:7.1f} MB/s of data.json + CSV ({written / MB:,.0f} MB, "
        f"ZIP {built.size / MB:,.0f} MB)"  # type: ignore[operator]
    )
    print(
        f"COPY:   {copy.seconds:6.2f} s  {copy_rows_s:12,.0f} rows/s  "
        f"{copy.bytes / MB / copy.seconds:7.1f} MB/s of COPY text ({copy.bytes / MB:,.0f} MB)"
    )
    print(f"ratio (export rows/s / COPY rows/s): {ratio:.2f}  (target >= 0.3)")
    print(
        f"peak RSS growth during the export: {memory.growth / MB:.1f} MB "
        f"(baseline {memory.baseline / MB:.0f} MB; target < 64 MB)"
    )
    return 0 if ratio >= 0.3 and memory.growth < 64 * MB else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=200_000, help="sales of the subject")
    parser.add_argument("--lines-per-sale", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=0, help="EXPORT_CHUNK_SIZE to use")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.generate_only:
        _setup()
        generate(options.sales, options.lines_per_sale)
        return 0
    # Generating in a child process keeps its memory out of the measured process.
    subprocess.run(
        [sys.executable, __file__, "--generate-only", "--sales", str(options.sales),
         "--lines-per-sale", str(options.lines_per_sale)],
        check=True,
    )  # fmt: skip
    _setup()
    return measure(options.chunk_size or None)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
