"""Policy versions keep their promises: a new draft starts as a copy of the version it follows,
publishing shows the comparison and refuses to drop a right or a retention rule without a
recorded reason, and ``load_seeds`` keeps (and records) the rules it loads."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from policies.models import (
    PeriodUnit,
    Policy,
    PolicyPublication,
    PolicyVersion,
    RequestType,
    RetentionTrigger,
)
from policies.seed_files import seeds_read
from policies.seeding import seeds_load
from policies.services import PromisesDropped, policy_version_draft, policy_version_publish
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

SEEDS = Path(settings.BASE_DIR) / "seeds"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def zpos(db: None) -> Policy:
    seeds_load(seeds=seeds_read(directory=SEEDS))
    return Policy.objects.get(organization__slug="zpos")


@pytest.fixture
def officer(db: None) -> User:
    user: User = StaffUserFactory.create(is_superuser=True)
    return user


def test_a_new_zpos_version_keeps_the_30_day_rule(zpos: Policy) -> None:
    draft = policy_version_draft(policy=zpos, version_label="2026-12-01")
    published = policy_version_publish(version=draft, published_by="officer")
    assert published.effective_at == NOW + timedelta(days=30)
    with time_machine.travel(NOW + timedelta(days=31), tick=False):
        in_force = PolicyVersion.objects.in_force().filter(policy=zpos).first()
    assert in_force == published
    rule = in_force.retention_rules.get()
    assert (rule.slug, rule.trigger, rule.period, rule.period_unit) == (
        "account-deleted",
        RetentionTrigger.ACCOUNT_DELETED,
        30,
        PeriodUnit.CALENDAR_DAYS,
    )
    assert rule.exemptions.get().period == 60
    assert set(in_force.request_type_rules.values_list("request_type", flat=True)) == {
        RequestType.ACCESS,
        RequestType.CORRECTION,
        RequestType.DELETION,
        RequestType.PORTABILITY,
    }
    assert PolicyPublication.objects.get(version=published).dropped == []


def test_a_new_draft_copies_text_language_rights_and_extensions(zpos: Policy) -> None:
    source = PolicyVersion.objects.published().get(policy=zpos)
    draft = policy_version_draft(policy=zpos, version_label="next")
    assert (draft.text, draft.language, draft.published_at) == (source.text, source.language, None)
    copied = {r.request_type: r for r in draft.request_type_rules.all()}
    for rule in source.request_type_rules.all():
        twin = copied[rule.request_type]
        assert (
            twin.response_period,
            twin.max_extension,
            twin.extension_note,
            twin.source_quote,
        ) == (
            rule.response_period,
            rule.max_extension,
            rule.extension_note,
            rule.source_quote,
        )
    # The published version is untouched: the copy has rows of its own.
    assert source.request_type_rules.count() == len(copied)


def test_a_label_already_used_is_refused_and_nothing_is_created(zpos: Policy) -> None:
    before = PolicyVersion.objects.count()
    with pytest.raises(Exception, match="already has a version"):
        policy_version_draft(policy=zpos, version_label="2026-06-23")
    assert PolicyVersion.objects.count() == before


def test_publishing_a_version_that_drops_a_right_or_a_retention_rule_needs_a_reason(
    zpos: Policy,
) -> None:
    draft = policy_version_draft(policy=zpos, version_label="fewer")
    draft.retention_rules.get(slug="account-deleted").delete()
    draft.request_type_rules.get(request_type=RequestType.PORTABILITY).delete()
    with pytest.raises(PromisesDropped) as refused:
        policy_version_publish(version=draft, published_by="officer")
    assert {d.key for d in refused.value.dropped} == {"account-deleted", "portability"}
    draft.refresh_from_db()
    assert not draft.is_published
    assert not PolicyPublication.objects.filter(version=draft).exists()

    policy_version_publish(version=draft, published_by="officer", reason="Sold the POS line.")
    record = PolicyPublication.objects.get(version=draft)
    assert record.reason == "Sold the POS line."
    assert record.published_by == "officer"
    assert {entry["key"] for entry in record.dropped} == {"account-deleted", "portability"}


def test_the_publish_page_shows_the_comparison_and_refuses_without_a_reason(
    zpos: Policy, officer: User, client: Client
) -> None:
    client.force_login(officer)
    draft = policy_version_draft(policy=zpos, version_label="fewer")
    draft.retention_rules.get(slug="account-deleted").delete()
    url = reverse("admin:policies_policyversion_publish", args=[draft.pk])
    page = client.get(url)
    text = page.content.decode()
    assert "drops promises of the version it follows" in text
    assert "account-deleted" in text
    assert "Compared with version 2026-06-23" in text

    refused = client.post(url, {"post": "yes", "reason": " "})
    assert refused.status_code == 200
    assert "Give the reason" in refused.content.decode()
    draft.refresh_from_db()
    assert not draft.is_published

    client.post(url, {"post": "yes", "reason": "The 30-day rule moves to the terms of sale."})
    draft.refresh_from_db()
    assert draft.is_published
    assert PolicyPublication.objects.get(version=draft).published_by == officer.username


def test_the_add_page_starts_a_copy_of_the_published_version(
    zpos: Policy, officer: User, client: Client
) -> None:
    client.force_login(officer)
    response = client.post(
        reverse("admin:policies_policyversion_add"),
        {"policy": zpos.pk, "version_label": "2026-12-01"},
    )
    draft = PolicyVersion.objects.get(policy=zpos, version_label="2026-12-01")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:policies_policyversion_change", args=[draft.pk])
    assert draft.retention_rules.filter(slug="account-deleted", period=30).exists()

    taken = client.post(
        reverse("admin:policies_policyversion_add"),
        {"policy": zpos.pk, "version_label": "2026-12-01"},
    )
    assert taken.status_code == 200
    assert "already has a version" in taken.content.decode()


def test_load_seeds_keeps_the_rules_it_loads_and_records_what_a_file_drops(
    zpos: Policy, tmp_path: Path
) -> None:
    loaded = PolicyVersion.objects.published().get(policy=zpos)
    assert PolicyPublication.objects.get(version=loaded).published_by == "load_seeds"
    assert loaded.retention_rules.filter(slug="account-deleted", period=30).exists()

    copy = tmp_path / "seeds"
    shutil.copytree(SEEDS, copy)
    text = (copy / "zpos.toml").read_text(encoding="utf-8")
    (copy / "zpos.toml").write_text(text[: text.index("[[retention_rules]]")], encoding="utf-8")
    seeds_load(seeds=seeds_read(directory=copy))
    newest = PolicyVersion.objects.published().filter(policy=zpos).order_by("-pk").first()
    assert newest is not None
    assert newest != loaded
    record = PolicyPublication.objects.get(version=newest)
    assert [entry["key"] for entry in record.dropped] == ["account-deleted"]
    assert "zpos.toml" in record.reason


def test_the_publish_page_says_a_significant_version_is_announced(
    zpos: Policy, officer: User, client: Client
) -> None:
    client.force_login(officer)
    draft = policy_version_draft(policy=zpos, version_label="announced")
    PolicyVersion.objects.filter(pk=draft.pk).update(significant=True)
    page = client.get(reverse("admin:policies_policyversion_publish", args=[draft.pk]))
    assert 'id="significant-note"' in page.content.decode()
    assert 'id="dropped-promises"' not in page.content.decode()


def test_the_bulk_publish_action_leaves_a_version_that_drops_promises_unpublished(
    zpos: Policy, officer: User, client: Client
) -> None:
    client.force_login(officer)
    keeps = policy_version_draft(policy=zpos, version_label="keeps")
    drops = policy_version_draft(policy=zpos, version_label="drops")
    drops.request_type_rules.get(request_type=RequestType.ACCESS).delete()
    response = client.post(
        reverse("admin:policies_policyversion_changelist"),
        {"action": "publish_selected", "_selected_action": [keeps.pk, drops.pk], "post": "yes"},
        follow=True,
    )
    assert "was not published: it drops" in response.content.decode()
    keeps.refresh_from_db()
    drops.refresh_from_db()
    assert keeps.is_published
    assert not drops.is_published
