"""The seed loader and ``manage.py load_seeds``, run against the real ``seeds/`` directory.

The seed promises are checked on what the loader stored, so a rule lost from a rules file fails
here: the rights each text grants, the ZPos notice period and 30-day removal, the Clopos
licence-overdue rule and its tax exemption, the Smartpos 30-day answer to a written claim.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from policies.deadlines import Period, add_period, rule_deadline
from policies.models import (
    ClockStart,
    DataCategory,
    Organization,
    PeriodUnit,
    Policy,
    PolicyVersion,
    RequestTypeRule,
    RetentionAction,
    RetentionExemption,
    RetentionRule,
    RetentionTrigger,
    RuleSource,
)
from policies.seed_files import SeedError, seeds_read
from policies.seeding import seeds_load

pytestmark = pytest.mark.django_db

SEEDS = Path(settings.BASE_DIR) / "seeds"
TASHKENT = ZoneInfo("Asia/Tashkent")
BAKU = ZoneInfo("Asia/Baku")
# After every seed's publication date: the loader refuses versions published in the future.
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    """A copy of the real seeds/ that a test may change."""
    copy = tmp_path / "seeds"
    shutil.copytree(SEEDS, copy)
    return copy


def load_seeds(directory: Path = SEEDS) -> list[str]:
    """Run the command and return the lines it printed."""
    out = StringIO()
    call_command("load_seeds", "--dir", str(directory), stdout=out)
    return out.getvalue().splitlines()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row the loader writes, in a stable order."""
    return {
        model.__name__: [dict(row) for row in model.objects.order_by("pk").values()]
        for model in (
            Organization,
            Policy,
            PolicyVersion,
            RequestTypeRule,
            RetentionRule,
            RetentionExemption,
        )
    }


def version_of(slug: str) -> PolicyVersion:
    return PolicyVersion.objects.get(policy__organization__slug=slug)


# --- Loading ----------------------------------------------------------------------------------


def test_loading_the_seeds_creates_the_five_organisations_each_with_a_published_policy() -> None:
    lines = load_seeds()

    assert set(Organization.objects.values_list("slug", flat=True)) == {
        "zpos",
        "pumppos",
        "clopos",
        "beshqozon",
        "smartpos",
    }
    for organization in Organization.objects.all():
        version = PolicyVersion.objects.get(policy__organization=organization)
        assert version.is_published
        assert version.text == (SEEDS / f"{organization.slug}.txt").read_text(encoding="utf-8")
    assert len(lines) == 5
    assert lines[-1] == (
        "zpos: created organisation ZPos System; created policy privacy; "
        "published version 2026-06-23 on 2026-06-23, in force from 2026-07-23"
    )


@pytest.mark.parametrize(
    ("slug", "rights"),
    [
        ("zpos", {"access", "correction", "deletion", "portability"}),
        ("pumppos", {"access", "correction", "deletion"}),
        (
            "clopos",
            {"access", "correction", "deletion", "objection", "restriction", "marketing_opt_out"},
        ),
        ("beshqozon", {"marketing_opt_out", "correction", "deletion"}),
        ("smartpos", {"correction", "complaint"}),
    ],
)
def test_each_organisation_offers_exactly_the_rights_its_text_grants(
    slug: str, rights: set[str]
) -> None:
    load_seeds()

    offered = RequestTypeRule.objects.filter(version=version_of(slug), offered=True).values_list(
        "request_type", flat=True
    )

    assert set(offered) == rights
    assert RequestTypeRule.objects.filter(version=version_of(slug)).count() == len(rights)


def test_every_rule_quotes_its_own_policy_text_and_every_default_says_so() -> None:
    load_seeds()

    rules = [*RequestTypeRule.objects.select_related("version"), *RetentionRule.objects.all()]
    for rule in rules:
        flat_text = " ".join(rule.version.text.split())
        assert rule.source in {RuleSource.POLICY, RuleSource.DEFAULT}
        if rule.source == RuleSource.POLICY:
            assert rule.source_quote, rule
        assert rule.source_quote in flat_text, rule
    # Where the texts are silent, the rules are marked as defaults, not as the policy's word.
    zpos_access = RequestTypeRule.objects.get(version=version_of("zpos"), request_type="access")
    assert zpos_access.source == RuleSource.DEFAULT
    assert (zpos_access.response_period, zpos_access.response_unit) == (30, "calendar_days")


def test_a_second_run_changes_nothing() -> None:
    load_seeds()
    before = snapshot()

    lines = load_seeds()

    assert snapshot() == before
    assert lines == [
        f"{slug}: unchanged" for slug in ("beshqozon", "clopos", "pumppos", "smartpos", "zpos")
    ]


def test_the_command_is_quiet_at_verbosity_zero() -> None:
    out = StringIO()

    call_command("load_seeds", "--dir", str(SEEDS), verbosity=0, stdout=out)

    assert out.getvalue() == ""
    assert Organization.objects.count() == 5


def test_a_changed_text_publishes_a_new_version_and_leaves_the_old_one_untouched(
    seeds_dir: Path,
) -> None:
    load_seeds(seeds_dir)
    old = version_of("zpos")
    old_rows = snapshot()
    with (seeds_dir / "zpos.txt").open("a", encoding="utf-8") as text:
        text.write("\n10. A new section added after publication.\n")

    with time_machine.travel(datetime(2026, 11, 25, 6, 0, tzinfo=UTC), tick=False):
        lines = load_seeds(seeds_dir)

    versions = list(PolicyVersion.objects.filter(policy=old.policy).order_by("pk"))
    assert [v.version_label for v in versions] == ["2026-06-23", "2026-11-25"]
    new = versions[1]
    assert new.text.endswith("A new section added after publication.\n")
    assert new.published_at == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert new.effective_at == datetime(2026, 12, 25, 6, 0, tzinfo=UTC)
    assert new.text_sha256 != old.text_sha256
    assert new.request_type_rules.count() == 4
    # The old version and its rules are exactly as they were.
    assert PolicyVersion.objects.filter(pk=old.pk).values().get() == next(
        row for row in old_rows["PolicyVersion"] if row["id"] == old.pk
    )
    assert list(RequestTypeRule.objects.filter(version=old).order_by("pk").values()) == [
        row for row in old_rows["RequestTypeRule"] if row["version_id"] == old.pk
    ]
    assert "zpos: published version 2026-11-25" in lines[-1]
    assert "replaces 2026-06-23 (changed: text)" in lines[-1]
    assert lines[:-1] == [
        f"{slug}: unchanged" for slug in ("beshqozon", "clopos", "pumppos", "smartpos")
    ]
    # Until the new version's notice period runs out, the old one stays in force.
    in_force = PolicyVersion.objects.filter(policy=old.policy).in_force
    assert in_force(datetime(2026, 12, 24, tzinfo=UTC)).first() == old
    assert in_force(datetime(2026, 12, 26, tzinfo=UTC)).first() == new


def test_changed_rules_with_the_same_text_publish_a_new_version(seeds_dir: Path) -> None:
    load_seeds(seeds_dir)
    old = version_of("clopos")
    edit(seeds_dir / "clopos.toml", "notice_days_before = [30, 7]", "notice_days_before = [14]")

    lines = load_seeds(seeds_dir)

    new = PolicyVersion.objects.filter(policy=old.policy).exclude(pk=old.pk).get()
    assert new.text_sha256 == old.text_sha256
    assert new.retention_rules.get(slug="licence-overdue").notice_days_before == [14]
    assert old.retention_rules.get(slug="licence-overdue").notice_days_before == [30, 7]
    assert "changed: retention rules" in lines[1]


def test_a_new_label_and_date_in_the_file_publish_the_new_text_on_that_date(
    seeds_dir: Path,
) -> None:
    load_seeds(seeds_dir)
    edit(seeds_dir / "zpos.txt", "Last updated: June 23, 2026", "Last updated: October 1, 2026")
    edit(seeds_dir / "zpos.toml", 'label = "2026-06-23"', 'label = "2026-10-01"')
    edit(seeds_dir / "zpos.toml", "date = 2026-06-23", "date = 2026-10-01")
    edit(
        seeds_dir / "zpos.toml",
        'quote = "Last updated: June 23, 2026"',
        'quote = "Last updated: October 1, 2026"',
    )

    load_seeds(seeds_dir)

    new = PolicyVersion.objects.get(policy__organization__slug="zpos", version_label="2026-10-01")
    assert new.published_at == datetime(2026, 10, 1, tzinfo=TASHKENT)
    assert new.effective_at == datetime(2026, 10, 31, tzinfo=TASHKENT)


def test_a_back_dated_new_version_is_refused_and_nothing_changes(seeds_dir: Path) -> None:
    load_seeds(seeds_dir)
    before = snapshot()
    edit(seeds_dir / "zpos.txt", "Last updated: June 23, 2026", "Last updated: May 1, 2026")
    edit(seeds_dir / "zpos.toml", 'label = "2026-06-23"', 'label = "2026-05-01"')
    edit(seeds_dir / "zpos.toml", "date = 2026-06-23", "date = 2026-05-01")
    edit(
        seeds_dir / "zpos.toml",
        'quote = "Last updated: June 23, 2026"',
        'quote = "Last updated: May 1, 2026"',
    )
    # A change in another file shows that the whole run is rolled back, not just ZPos.
    edit(seeds_dir / "clopos.toml", 'name = "Clopos"', 'name = "Clopos POS"')

    with pytest.raises(CommandError, match=r"zpos.toml: field 'version.published.date': "):
        load_seeds(seeds_dir)

    assert snapshot() == before


# --- Broken files -----------------------------------------------------------------------------


def test_a_broken_file_is_rejected_with_one_line_and_nothing_is_loaded(seeds_dir: Path) -> None:
    # clopos.toml's third request type (index 2) is deletion.
    edit(
        seeds_dir / "clopos.toml",
        'type = "deletion"\nperiod = 30\nperiod_unit = "calendar_days"',
        'type = "deletion"\nperiod = 30\nperiod_unit = "weeks"',
    )

    with pytest.raises(CommandError) as refusal:
        load_seeds(seeds_dir)

    message = str(refusal.value)
    assert message == (
        f"{seeds_dir / 'clopos.toml'}: field 'request_types[2].period_unit': "
        "'weeks' is not one of calendar_days, business_days, months"
    )
    assert "\n" not in message
    # beshqozon.toml sorts before clopos.toml and is valid, yet nothing was written.
    assert not Organization.objects.exists()
    assert not PolicyVersion.objects.exists()


def test_a_broken_file_leaves_loaded_seeds_as_they_were(seeds_dir: Path) -> None:
    load_seeds(seeds_dir)
    before = snapshot()
    edit(seeds_dir / "beshqozon.toml", 'name = "BESHQOZON"', 'name = "Beshqozon LLC"')
    edit(seeds_dir / "zpos.toml", 'time_zone = "Asia/Tashkent"', 'time_zone = "Asia/Samarkant"')

    with pytest.raises(CommandError, match=r"zpos.toml: field 'organization.time_zone': "):
        load_seeds(seeds_dir)

    assert snapshot() == before


def test_the_error_names_the_file_relative_to_the_working_directory(
    seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(seeds_dir / "pumppos.toml", "period = 30", "period = 0")
    monkeypatch.chdir(seeds_dir.parent)

    with pytest.raises(SeedError) as refusal:
        seeds_read(directory=Path("seeds"))

    assert str(refusal.value) == (
        "seeds/pumppos.toml: field 'request_types[0].period': 0 is out of range (1 to 32767)"
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "field", "problem"),
    [
        (
            "zpos.toml",
            'period_unit = "calendar_days"',
            'perod_unit = "calendar_days"',
            "request_types[0].period_unit",
            "is required (is 'perod_unit' a misspelling?)",
        ),
        (
            "zpos.toml",
            'clock_starts = "verification"',
            'clock_start = "verification"',
            "request_types[0].clock_start",
            "unknown field (known fields: ",
        ),
        ("zpos.toml", "period = 30", "period = true", "request_types[0].period", "whole number"),
        (
            "zpos.toml",
            'quote = "Changes take effect 30 days after publication."',
            'quote = "Changes take effect 10 days after publication."',
            "policy.notice_period.quote",
            "does not appear in the policy text",
        ),
        (
            "pumppos.toml",
            'source = "default"\nnote = "The text says nothing about changes',
            'source = "default"\nxnote = "The text says nothing about changes',
            "policy.notice_period.note",
            "is required for a business default",
        ),
        (
            "clopos.toml",
            'type = "objection"',
            'type = "access"',
            "request_types[3].type",
            "'access' appears twice",
        ),
        (
            "clopos.toml",
            'category = "payment"',
            'category = "invoices"',
            "retention_rules[0].exemptions[0].category",
            "'invoices' is not one of",
        ),
        (
            "smartpos.toml",
            'languages = ["uz"]',
            'languages = ["uz-arab"]',
            "organization.languages[0]",
            "'uz-arab' is not one of en, ",
        ),
        (
            "smartpos.toml",
            'contact_email = "info@cdti.uz"',
            'contact_email = "info at cdti.uz"',
            "organization.contact_email",
            "valid email",
        ),
        (
            "zpos.toml",
            "date = 2026-06-23",
            "date = 2026-12-01",
            "version.published.date",
            "2026-12-01 is in the future",
        ),
    ],
)
def test_each_field_is_checked_and_named(
    seeds_dir: Path, file: str, old: str, new: str, field: str, problem: str
) -> None:
    edit(seeds_dir / file, old, new)

    with pytest.raises(SeedError) as refusal:
        seeds_read(directory=seeds_dir)

    message = str(refusal.value)
    assert message.startswith(f"{seeds_dir / file}: field '{field}': "), message
    assert problem in message


def test_a_default_without_a_note_is_refused(seeds_dir: Path) -> None:
    edit(
        seeds_dir / "pumppos.toml",
        "note = \"The text states no retention period; deleting a closed account's data 30 "
        'calendar days after the account is deleted is a business default to be confirmed."',
        "",
    )

    with pytest.raises(SeedError, match=r"field 'retention_rules\[0\].note': is required"):
        seeds_read(directory=seeds_dir)


def test_a_rules_file_without_its_text_is_refused(seeds_dir: Path) -> None:
    (seeds_dir / "smartpos.txt").unlink()

    with pytest.raises(
        SeedError, match=r"smartpos.toml: the policy text .*smartpos.txt is missing"
    ):
        seeds_read(directory=seeds_dir)


def test_a_file_that_is_not_toml_is_refused(seeds_dir: Path) -> None:
    (seeds_dir / "pumppos.toml").write_text("[organization\nslug = 1\n", encoding="utf-8")

    with pytest.raises(SeedError, match=r"pumppos.toml: not valid TOML: "):
        seeds_read(directory=seeds_dir)


def test_two_files_for_one_organisation_are_refused(seeds_dir: Path) -> None:
    shutil.copy(seeds_dir / "zpos.toml", seeds_dir / "zpos2.toml")
    shutil.copy(seeds_dir / "zpos.txt", seeds_dir / "zpos2.txt")

    with pytest.raises(
        SeedError, match=r"zpos2.toml: field 'organization.slug': 'zpos' is already"
    ):
        seeds_read(directory=seeds_dir)


def test_crlf_line_endings_are_the_same_text(seeds_dir: Path) -> None:
    seeds_load(seeds=seeds_read(directory=seeds_dir))
    text = (seeds_dir / "zpos.txt").read_bytes()
    (seeds_dir / "zpos.txt").write_bytes(text.replace(b"\n", b"\r\n"))

    outcomes = seeds_load(seeds=seeds_read(directory=seeds_dir))

    assert not any(outcome.changed for outcome in outcomes)


# --- The seed promises ----------------------------------------------------------------------


def test_the_zpos_version_published_on_23_june_2026_is_in_force_from_23_july_2026() -> None:
    load_seeds()

    version = version_of("zpos")

    assert version.policy.notice_period_days == 30
    assert version.published_at == datetime(2026, 6, 23, tzinfo=TASHKENT)
    assert version.effective_at == datetime(2026, 7, 23, tzinfo=TASHKENT)
    versions = PolicyVersion.objects.filter(policy=version.policy)
    assert not versions.in_force(datetime(2026, 7, 22, 23, 59, tzinfo=TASHKENT)).exists()
    assert versions.in_force(datetime(2026, 7, 23, 0, 0, tzinfo=TASHKENT)).get() == version


def test_zpos_removes_data_30_calendar_days_after_account_deletion() -> None:
    load_seeds()

    rule = RetentionRule.objects.get(
        version=version_of("zpos"), trigger=RetentionTrigger.ACCOUNT_DELETED
    )

    assert (rule.period, rule.period_unit, rule.action) == (
        30,
        PeriodUnit.CALENDAR_DAYS,
        RetentionAction.DELETE,
    )
    assert rule.source == RuleSource.POLICY
    assert "removed within 30 days" in rule.source_quote
    assert add_period(date(2026, 8, 1), Period(rule.period, PeriodUnit(rule.period_unit))) == (
        date(2026, 8, 31)
    )


def test_a_clopos_licence_overdue_since_31_august_2026_is_deleted_on_28_february_2027() -> None:
    load_seeds()

    rule = RetentionRule.objects.get(
        version=version_of("clopos"), trigger=RetentionTrigger.LICENCE_OVERDUE
    )
    exemption = rule.exemptions.get()

    assert (rule.period, rule.period_unit, rule.action) == (
        6,
        PeriodUnit.MONTHS,
        RetentionAction.DELETE,
    )
    assert rule.source == RuleSource.POLICY
    assert exemption.category == DataCategory.PAYMENT
    assert "tax" in exemption.legal_basis
    due = add_period(
        date(2026, 8, 31), Period(rule.period, PeriodUnit(rule.period_unit)), country="AZ"
    )
    assert due == date(2027, 2, 28)


def test_a_smartpos_claim_received_on_31_january_2027_is_due_on_2_march_2027() -> None:
    load_seeds()
    organization = Organization.objects.get(slug="smartpos")

    rule = RequestTypeRule.objects.get(version=version_of("smartpos"), request_type="complaint")
    due = rule_deadline(
        rule, datetime(2027, 1, 31, 15, 0, tzinfo=TASHKENT), organization=organization
    )

    assert (rule.response_period, rule.response_unit) == (30, PeriodUnit.CALENDAR_DAYS)
    assert rule.clock_starts == ClockStart.RECEIPT
    assert not rule.pauses_while_on_hold
    # The text is silent on extensions: the documented default, to be confirmed.
    assert (rule.max_extension, rule.extension_unit) == (2, PeriodUnit.MONTHS)
    assert rule.extension_to_be_confirmed
    assert rule.source == RuleSource.POLICY
    assert "30 календар кун" in rule.source_quote
    assert due.astimezone(TASHKENT).date() == date(2027, 3, 2)


def test_smartpos_changes_take_effect_on_publication_and_its_text_is_uzbek_cyrillic() -> None:
    load_seeds()

    version = version_of("smartpos")

    assert version.language == "uz-cyrl"
    assert version.policy.notice_period_days == 0
    assert version.effective_at == version.published_at


def test_the_organisations_are_described_as_their_texts_say() -> None:
    load_seeds()

    described = {
        org.slug: (org.country, org.time_zone, org.contact_email, org.legal_name)
        for org in Organization.objects.all()
    }

    assert described["zpos"] == ("UZ", "Asia/Tashkent", "info@zpos.uz", "ZPos System")
    assert described["clopos"] == ("AZ", "Asia/Baku", "support@clopos.com", "Clopos MMC")
    assert described["pumppos"][:3] == ("PK", "Asia/Karachi", "support@pumppos.com.pk")
    assert described["beshqozon"][:3] == ("UZ", "Asia/Tashkent", "webmaster@beshqozon.uz")
    assert described["smartpos"][3].startswith('"CENTER FOR DIGITAL TECHNOLOGY AND INNOVATION"')
    assert Organization.objects.get(slug="pumppos").languages == ["en", "ur"]
