"""Published policy versions and their rules are frozen: in Python and, on PostgreSQL, in the
database itself (migration 0002), whichever path a change takes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from policies.models import (
    DataCategory,
    PeriodUnit,
    PolicyVersion,
    PublishedVersionFrozen,
    RequestType,
    RequestTypeRule,
    RetentionExemption,
    RetentionRule,
)
from policies.services import policy_version_publish
from tests.factories import (
    OrganizationFactory,
    PolicyFactory,
    PolicyVersionFactory,
    RequestTypeRuleFactory,
    RetentionExemptionFactory,
    RetentionRuleFactory,
)

pytestmark = pytest.mark.django_db

TASHKENT = ZoneInfo("Asia/Tashkent")
BERLIN = ZoneInfo("Europe/Berlin")
PUBLISHED_AT = datetime(2026, 6, 22, 19, 0, tzinfo=UTC)  # 23 June 2026, 00:00 in Tashkent


@pytest.fixture
def published() -> PolicyVersion:
    """A version with a request type rule and a retention rule with an exemption, published."""
    version = PolicyVersionFactory.create(policy__notice_period_days=30, text="The original text.")
    RequestTypeRuleFactory.create(version=version, request_type=RequestType.ACCESS)
    rule = RetentionRuleFactory.create(version=version, slug="account-deleted")
    RetentionExemptionFactory.create(rule=rule, category=DataCategory.PAYMENT)
    return policy_version_publish(version=version, at=PUBLISHED_AT)


def _refused_by_the_database(sql: str, params: list[Any]) -> str:
    """Run ``sql`` and return the database's refusal message; fail if it was accepted."""
    with pytest.raises(IntegrityError) as refusal, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params)
    return str(refusal.value)


def _stored(version: PolicyVersion) -> dict[str, Any]:
    return dict(PolicyVersion.objects.filter(pk=version.pk).values().get())


# --- Python: the ORM's save() and delete() ------------------------------------------------------


def test_a_published_version_refuses_save_through_the_orm(published: PolicyVersion) -> None:
    before = _stored(published)
    published.text = "A quietly edited text."

    with pytest.raises(PublishedVersionFrozen):
        published.save()

    assert _stored(published) == before


def test_a_stale_copy_of_a_version_published_since_refuses_save() -> None:
    draft = PolicyVersionFactory.create()
    stale = PolicyVersion.objects.get(pk=draft.pk)
    policy_version_publish(version=draft, at=PUBLISHED_AT)
    stale.text = "Edited from a form opened before publication."

    with pytest.raises(PublishedVersionFrozen):
        stale.save()

    assert PolicyVersion.objects.get(pk=draft.pk).text == draft.text


def test_a_published_version_refuses_delete_through_the_orm(published: PolicyVersion) -> None:
    with pytest.raises(PublishedVersionFrozen):
        published.delete()

    assert PolicyVersion.objects.filter(pk=published.pk).exists()


def test_rules_of_a_published_version_refuse_save_and_delete_through_the_orm(
    published: PolicyVersion,
) -> None:
    request_rule = published.request_type_rules.get()
    retention_rule = published.retention_rules.get()
    exemption = retention_rule.exemptions.get()
    request_rule.response_period = 90
    retention_rule.period = 365
    exemption.period = 1

    for row in (request_rule, retention_rule, exemption):
        with pytest.raises(PublishedVersionFrozen):
            row.save()
        with pytest.raises(PublishedVersionFrozen):
            row.delete()
    with pytest.raises(PublishedVersionFrozen):
        RequestTypeRule.objects.create(version=published, request_type=RequestType.DELETION)

    assert published.request_type_rules.get().response_period == 30
    assert published.retention_rules.get().period == 30
    assert RetentionExemption.objects.get(rule__version=published).period == 5


# --- PostgreSQL: the triggers refuse what goes around Python ------------------------------------


def test_the_database_refuses_queryset_update_of_a_published_version(
    published: PolicyVersion,
) -> None:
    with (
        pytest.raises(IntegrityError, match="is published and cannot be changed"),
        transaction.atomic(),
    ):
        PolicyVersion.objects.filter(pk=published.pk).update(text="Rewritten in bulk.")

    assert PolicyVersion.objects.get(pk=published.pk).text == "The original text."


def test_the_database_refuses_raw_sql_update_and_delete_of_a_published_version(
    published: PolicyVersion,
) -> None:
    before = _stored(published)

    updated = _refused_by_the_database(
        "UPDATE policies_policyversion SET text = %s WHERE id = %s", ["Rewritten.", published.pk]
    )
    deleted = _refused_by_the_database(
        "DELETE FROM policies_policyversion WHERE id = %s", [published.pk]
    )

    assert f"policy version {published.pk} is published" in updated
    assert "DELETE refused" in deleted
    assert _stored(published) == before


def test_the_database_refuses_unpublishing_a_version(published: PolicyVersion) -> None:
    _refused_by_the_database(
        "UPDATE policies_policyversion SET published_at = NULL, effective_at = NULL WHERE id = %s",
        [published.pk],
    )
    _refused_by_the_database(
        "UPDATE policies_policyversion SET effective_at = effective_at + interval '1 day' "
        "WHERE id = %s",
        [published.pk],
    )

    stored = PolicyVersion.objects.get(pk=published.pk)
    assert stored.published_at == PUBLISHED_AT
    assert stored.effective_at == datetime(2026, 7, 22, 19, 0, tzinfo=UTC)


def test_the_database_refuses_changes_to_rules_of_a_published_version(
    published: PolicyVersion,
) -> None:
    request_rule = published.request_type_rules.get()
    retention_rule = published.retention_rules.get()
    exemption = retention_rule.exemptions.get()

    refusals = [
        _refused_by_the_database(
            "UPDATE policies_requesttyperule SET response_period = 90 WHERE id = %s",
            [request_rule.pk],
        ),
        _refused_by_the_database(
            "DELETE FROM policies_requesttyperule WHERE id = %s", [request_rule.pk]
        ),
        _refused_by_the_database(
            "UPDATE policies_retentionrule SET period = 365 WHERE id = %s", [retention_rule.pk]
        ),
        _refused_by_the_database(
            "DELETE FROM policies_retentionrule WHERE id = %s", [retention_rule.pk]
        ),
        _refused_by_the_database(
            "UPDATE policies_retentionexemption SET period = 1 WHERE id = %s", [exemption.pk]
        ),
        _refused_by_the_database(
            "DELETE FROM policies_retentionexemption WHERE id = %s", [exemption.pk]
        ),
    ]

    assert all("is published and cannot be changed" in refusal for refusal in refusals)
    assert published.request_type_rules.get().response_period == 30
    assert published.retention_rules.get().period == 30
    assert RetentionExemption.objects.get(pk=exemption.pk).period == 5


def test_the_database_refuses_adding_rules_to_a_published_version(
    published: PolicyVersion,
) -> None:
    retention_rule = published.retention_rules.get()

    # bulk_create skips save(), so only the trigger stands in the way.
    with pytest.raises(IntegrityError), transaction.atomic():
        RequestTypeRule.objects.bulk_create(
            [RequestTypeRule(version=published, request_type=RequestType.DELETION)]
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        RetentionRule.objects.bulk_create(
            [
                RetentionRule(
                    version=published,
                    slug="export-created",
                    trigger="export_created",
                    period=7,
                    period_unit=PeriodUnit.CALENDAR_DAYS,
                )
            ]
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        RetentionExemption.objects.bulk_create(
            [
                RetentionExemption(
                    rule=retention_rule,
                    category=DataCategory.CONTACT,
                    legal_basis="none",
                    period=1,
                    period_unit=PeriodUnit.MONTHS,
                )
            ]
        )

    assert published.request_type_rules.count() == 1
    assert published.retention_rules.count() == 1
    assert retention_rule.exemptions.count() == 1


def test_the_database_refuses_moving_a_draft_rule_into_a_published_version(
    published: PolicyVersion,
) -> None:
    draft_rule = RequestTypeRuleFactory.create(
        version=PolicyVersionFactory.create(policy=published.policy),
        request_type=RequestType.PORTABILITY,
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        RequestTypeRule.objects.filter(pk=draft_rule.pk).update(version=published)

    assert RequestTypeRule.objects.get(pk=draft_rule.pk).version_id == draft_rule.version_id


# --- Drafts ---------------------------------------------------------------------------------


def test_a_draft_and_its_rules_stay_editable() -> None:
    draft = PolicyVersionFactory.create(text="First draft.")
    request_rule = RequestTypeRuleFactory.create(version=draft)
    retention_rule = RetentionRuleFactory.create(version=draft)
    exemption = RetentionExemptionFactory.create(rule=retention_rule)

    draft.text = "Second draft."
    draft.save()
    PolicyVersion.objects.filter(pk=draft.pk).update(version_label="v-renamed")
    RequestTypeRule.objects.filter(pk=request_rule.pk).update(response_period=45)
    retention_rule.period = 60
    retention_rule.save()
    exemption.delete()
    request_rule.delete()

    stored = PolicyVersion.objects.get(pk=draft.pk)
    assert (stored.text, stored.version_label) == ("Second draft.", "v-renamed")
    assert stored.text_sha256 == hashlib.sha256(b"Second draft.").hexdigest()
    assert not RequestTypeRule.objects.filter(version=draft).exists()
    assert RetentionRule.objects.get(pk=retention_rule.pk).period == 60
    assert not RetentionExemption.objects.filter(pk=exemption.pk).exists()


def test_a_draft_can_be_deleted_with_its_rules() -> None:
    draft = PolicyVersionFactory.create()
    RetentionExemptionFactory.create(rule=RetentionRuleFactory.create(version=draft))
    RequestTypeRuleFactory.create(version=draft)

    draft.delete()

    assert not PolicyVersion.objects.filter(pk=draft.pk).exists()
    assert not RetentionRule.objects.exists()
    assert not RequestTypeRule.objects.exists()


# --- Publishing -----------------------------------------------------------------------------


def test_publishing_twice_is_refused_and_keeps_the_first_dates() -> None:
    version = policy_version_publish(version=PolicyVersionFactory.create(), at=PUBLISHED_AT)

    with pytest.raises(PublishedVersionFrozen):
        policy_version_publish(version=version, at=datetime(2026, 9, 1, tzinfo=UTC))

    stored = PolicyVersion.objects.get(pk=version.pk)
    assert stored.published_at == PUBLISHED_AT


@time_machine.travel(datetime(2026, 6, 23, 5, 30, tzinfo=UTC), tick=False)
def test_publishing_without_a_time_stamps_now() -> None:
    version = policy_version_publish(
        version=PolicyVersionFactory.create(policy__notice_period_days=0)
    )

    assert version.published_at == datetime(2026, 6, 23, 5, 30, tzinfo=UTC)
    assert version.effective_at == version.published_at
    assert version.is_in_force()


def test_effective_at_is_published_plus_the_notice_period_on_the_organisations_clock() -> None:
    zpos = PolicyFactory.create(
        organization=OrganizationFactory.create(time_zone="Asia/Tashkent"), notice_period_days=30
    )

    version = policy_version_publish(
        version=PolicyVersionFactory.create(policy=zpos), at=PUBLISHED_AT
    )

    assert version.effective_at is not None
    assert version.effective_at.astimezone(TASHKENT) == datetime(2026, 7, 23, 0, 0, tzinfo=TASHKENT)
    assert not version.is_in_force(datetime(2026, 7, 22, 23, 59, tzinfo=TASHKENT))
    assert version.is_in_force(datetime(2026, 7, 23, 0, 0, tzinfo=TASHKENT))


def test_the_notice_period_keeps_the_local_time_across_a_daylight_saving_change() -> None:
    berlin = PolicyFactory.create(
        organization=OrganizationFactory.create(time_zone="Europe/Berlin"), notice_period_days=30
    )
    # Noon in Berlin on 20 March 2026 is 11:00 UTC (CET); 30 days later, on 19 April, clocks
    # are on CEST, so noon local is 10:00 UTC: a plain 30 * 24 hours would give 13:00 local.
    published_at = datetime(2026, 3, 20, 12, 0, tzinfo=BERLIN)

    version = policy_version_publish(
        version=PolicyVersionFactory.create(policy=berlin), at=published_at
    )

    assert version.effective_at == datetime(2026, 4, 19, 10, 0, tzinfo=UTC)
    assert version.effective_at.astimezone(BERLIN).hour == 12
