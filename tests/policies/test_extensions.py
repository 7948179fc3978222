"""Extensions where the seed texts are silent: a documented default (two further months, with
notice), marked "to be confirmed" in the seed file, loaded into every rule and shown on the
public page; one test per seed of what it allows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from policies.deadlines import Period, add_period, max_extension
from policies.models import Organization, PeriodUnit, RequestTypeRule, RuleSource
from policies.seed_files import SeedError, seed_read, seeds_read
from policies.seeding import seeds_load
from requests_app.audit import Actor
from requests_app.intake import SubjectDetails, request_submit
from requests_app.workflow import ExtensionRefused, request_extend, request_mark_verified
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

SEEDS = Path(settings.BASE_DIR) / "seeds"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SEED_NAMES = ("zpos", "pumppos", "clopos", "beshqozon", "smartpos")


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def loaded(db: None) -> None:
    seeds_load(seeds=seeds_read(directory=SEEDS))


def _rules_in_force(slug: str) -> list[RequestTypeRule]:
    organization = Organization.objects.get(slug=slug)
    return list(
        RequestTypeRule.objects.filter(
            version__policy__organization=organization, version__published_at__isnull=False
        ).order_by("request_type")
    )


@pytest.mark.parametrize("slug", SEED_NAMES)
def test_each_seed_allows_two_further_months_with_notice_marked_to_be_confirmed(
    loaded: None, slug: str
) -> None:
    rules = _rules_in_force(slug)
    assert rules
    for rule in rules:
        assert max_extension(rule) == Period(2, PeriodUnit.MONTHS), rule
        assert rule.extension_notice_required
        assert rule.extension_source == RuleSource.DEFAULT
        assert rule.extension_to_be_confirmed
        assert "to be confirmed" in rule.extension_note


@pytest.mark.parametrize("slug", SEED_NAMES)
def test_each_seed_extends_a_request_by_two_months_and_refuses_three(
    loaded: None, slug: str
) -> None:
    officer: User = StaffUserFactory.create(is_superuser=True)
    rule = _rules_in_force(slug)[0]
    submitted = request_submit(
        organization=rule.version.policy.organization,
        version=rule.version,
        rule=rule,
        subject=SubjectDetails(email="subject@example.com", name="Dilnoza Karimova"),
        language="en",
    ).request
    verified = request_mark_verified(request=submitted)
    with pytest.raises(ExtensionRefused):
        request_extend(
            request=verified, actor=Actor.staff(officer), amount=3, reason="Complex request."
        )
    extended = request_extend(
        request=verified, actor=Actor.staff(officer), amount=2, reason="Complex request."
    )
    assert extended.due_at is not None
    assert extended.extended_due_at is not None
    organization = rule.version.policy.organization
    assert extended.extended_due_at.astimezone(organization.tz).date() == add_period(
        extended.due_at.astimezone(organization.tz).date(),
        Period(2, PeriodUnit.MONTHS),
        country=organization.country,
    )


def test_the_public_page_shows_the_default_extension_as_to_be_confirmed(
    loaded: None, client: Client
) -> None:
    page = client.get(reverse("policies:organization_detail", args=["zpos"]))
    text = page.content.decode()
    assert "May be extended by up to:" in text
    assert "a business default, to be confirmed" in text


def test_a_default_extension_without_its_note_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "zpos.toml"
    (tmp_path / "zpos.txt").write_text((SEEDS / "zpos.txt").read_text(encoding="utf-8"))
    text = (SEEDS / "zpos.toml").read_text(encoding="utf-8")
    start = text.index("extension_note = ")
    path.write_text(text[:start] + text[text.index("\n", start) + 1 :], encoding="utf-8")
    with pytest.raises(SeedError, match="extension_note"):
        seed_read(path=path)


def test_an_unknown_extension_source_is_refused_with_one_readable_line(tmp_path: Path) -> None:
    path = tmp_path / "zpos.toml"
    (tmp_path / "zpos.txt").write_text((SEEDS / "zpos.txt").read_text(encoding="utf-8"))
    text = (SEEDS / "zpos.toml").read_text(encoding="utf-8")
    path.write_text(
        text.replace('extension_source = "default"', 'extension_source = "law"', 1),
        encoding="utf-8",
    )
    with pytest.raises(SeedError) as refused:
        seed_read(path=path)
    assert str(refused.value).endswith(
        "field 'request_types[0].extension_source': 'law' is not one of policy, default"
    )
