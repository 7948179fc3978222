from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from pos.demo_data import large_subject_email
from pos.models import Account, Sale
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_without_organisations_the_command_fails_with_one_line_naming_load_seeds():
    with pytest.raises(CommandError) as raised:
        call_command("generate_demo_data", stdout=StringIO(), stderr=StringIO())

    message = str(raised.value)
    assert "load_seeds" in message
    assert "\n" not in message
    assert not Account.objects.exists()


def test_an_unknown_organisation_is_refused():
    OrganizationFactory.create(slug="zpos")

    with pytest.raises(CommandError, match="nope"):
        call_command("generate_demo_data", "--organization", "nope", stdout=StringIO())


def test_large_subject_sales_creates_one_account_with_that_many_sales():
    organization = OrganizationFactory.create()
    stderr = StringIO()
    options = ["--accounts", "2", "--per-account-sales", "3", "--large-subject-sales", "120"]

    call_command(
        "generate_demo_data", *options, "--batch-size", "25", stdout=StringIO(), stderr=stderr
    )

    large = Account.objects.get(
        organization=organization, users__email=large_subject_email(organization)
    )
    sales_per_account = dict(Account.objects.annotate(n=Count("sales")).values_list("pk", "n"))
    assert sales_per_account.pop(large.pk) == 120
    assert sorted(sales_per_account.values()) == [3, 3]
    assert "sales 120/120 (100%)" in stderr.getvalue()


def test_running_the_command_twice_adds_nothing():
    OrganizationFactory.create()
    options = ["--per-account-sales", "2", "--large-subject-sales", "10"]
    call_command("generate_demo_data", *options, stdout=StringIO(), stderr=StringIO())
    counts = (Account.objects.count(), Sale.objects.count())
    stdout = StringIO()

    call_command("generate_demo_data", *options, stdout=stdout, stderr=StringIO())

    assert (Account.objects.count(), Sale.objects.count()) == counts
    assert "skipped" in stdout.getvalue()


def test_only_the_organisations_named_are_filled():
    chosen = OrganizationFactory.create()
    other = OrganizationFactory.create()

    call_command(
        "generate_demo_data",
        "--organization",
        chosen.slug,
        "--per-account-sales",
        "1",
        verbosity=0,
        stdout=StringIO(),
    )

    assert Account.objects.filter(organization=chosen).count() == 5
    assert not Account.objects.filter(organization=other).exists()
