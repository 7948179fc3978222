from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from policies import selectors
from policies.models import PolicyVersion, RequestType
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

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
MAY = datetime(2026, 5, 1, tzinfo=UTC)


def published(policy: Any, at: datetime, **kwargs: Any) -> PolicyVersion:
    return policy_version_publish(
        version=PolicyVersionFactory.create(policy=policy, **kwargs), at=at
    )


@pytest.mark.parametrize(
    ("language", "direction"),
    [
        ("ur", "rtl"),
        ("ar", "rtl"),
        ("fa", "rtl"),
        ("ur-PK", "rtl"),
        ("az-Arab", "rtl"),
        ("en", "ltr"),
        ("az", "ltr"),
        ("uz-Cyrl", "ltr"),
        ("ur-Latn", "ltr"),
        ("ru", "ltr"),
        ("xx", "ltr"),
    ],
)
def test_text_direction_follows_the_script_of_the_language(language: str, direction: str) -> None:
    assert selectors.text_direction(language) == direction


def test_the_version_in_force_is_the_latest_already_effective(time_machine: Any) -> None:
    organization = OrganizationFactory.create()
    policy = PolicyFactory.create(organization=organization, notice_period_days=30)
    first = published(policy, JAN)
    second = published(policy, MAR)
    third = published(policy, MAY)
    PolicyVersionFactory.create(policy=policy)  # a draft, never shown

    [page] = selectors.organization_policy_pages(
        organization=organization, at=datetime(2026, 5, 15, tzinfo=UTC)
    )

    assert page.in_force == second
    assert page.upcoming == [third]
    assert page.history == [third, second, first]


def test_a_policy_whose_only_version_is_upcoming_has_none_in_force() -> None:
    organization = OrganizationFactory.create()
    policy = PolicyFactory.create(organization=organization, notice_period_days=30)
    upcoming = published(policy, JAN)

    [page] = selectors.organization_policy_pages(
        organization=organization, at=datetime(2026, 1, 15, tzinfo=UTC)
    )

    assert page.in_force is None
    assert page.upcoming == [upcoming]
    assert page.offered_rights == []


def test_offered_rights_are_only_the_offered_rules_in_request_type_order() -> None:
    organization = OrganizationFactory.create()
    version = PolicyVersionFactory.create(policy=PolicyFactory.create(organization=organization))
    for request_type in (RequestType.COMPLAINT, RequestType.ACCESS, RequestType.CORRECTION):
        RequestTypeRuleFactory.create(version=version, request_type=request_type)
    RequestTypeRuleFactory.create(
        version=version, request_type=RequestType.PORTABILITY, offered=False
    )
    policy_version_publish(version=version, at=JAN)

    [page] = selectors.organization_policy_pages(organization=organization, at=MAR)

    assert [rule.request_type for rule in page.offered_rights] == [
        RequestType.ACCESS,
        RequestType.CORRECTION,
        RequestType.COMPLAINT,
    ]


def test_organisation_pages_take_six_queries_whatever_their_size(
    django_assert_num_queries: Any,
) -> None:
    organization = OrganizationFactory.create()
    for slug in ("a", "b", "c", "d"):
        policy = PolicyFactory.create(organization=organization, slug=slug, title=slug)
        for at in (JAN, MAR):
            version = PolicyVersionFactory.create(policy=policy)
            RequestTypeRuleFactory.create(version=version)
            RetentionExemptionFactory.create(rule=RetentionRuleFactory.create(version=version))
            # Each version has rules of its own: the previous one's are dropped on purpose.
            policy_version_publish(version=version, at=at, reason="A test version.")

    with django_assert_num_queries(6):
        pages = selectors.organization_policy_pages(organization=organization, at=MAY)
        for page in pages:
            assert page.in_force is not None
            assert page.in_force.text
            for rule in page.retention_rules:
                assert list(rule.exemptions.all())
            assert [rule.request_type for rule in page.offered_rights] == [RequestType.ACCESS]


def test_a_version_page_tells_in_force_superseded_and_upcoming_apart() -> None:
    organization = OrganizationFactory.create()
    policy = PolicyFactory.create(organization=organization, notice_period_days=30)
    old, current, upcoming = published(policy, JAN), published(policy, MAR), published(policy, MAY)
    at = datetime(2026, 5, 15, tzinfo=UTC)

    def status(version: PolicyVersion) -> str:
        return selectors.published_version_page(
            organization=organization, pk=version.pk, at=at
        ).status

    assert [status(old), status(current), status(upcoming)] == [
        "superseded",
        "in_force",
        "upcoming",
    ]


def test_a_draft_has_no_version_page() -> None:
    draft = PolicyVersionFactory.create()

    with pytest.raises(PolicyVersion.DoesNotExist):
        selectors.published_version_page(organization=draft.policy.organization, pk=draft.pk)


def test_text_diff_pairs_changed_lines_and_marks_what_only_one_side_has() -> None:
    rows = selectors.text_diff_rows("a\nb\nc\nd", "a\nB\nc\nd\ne")

    assert [(row.kind, row.left_number, row.right_number) for row in rows] == [
        ("same", 1, 1),
        ("changed", 2, 2),
        ("same", 3, 3),
        ("same", 4, 4),
        ("added", None, 5),
    ]
    assert [row.kind for row in selectors.text_diff_rows("a\nb", "a")] == ["same", "removed"]


def test_the_comparison_lines_up_rules_by_type_and_slug() -> None:
    left = PolicyVersionFactory.create()
    right = PolicyVersionFactory.create(policy=left.policy)
    RequestTypeRuleFactory.create(version=left, request_type=RequestType.ACCESS, response_period=30)
    RequestTypeRuleFactory.create(
        version=right, request_type=RequestType.ACCESS, response_period=15
    )
    RequestTypeRuleFactory.create(version=left, request_type=RequestType.DELETION)
    RetentionRuleFactory.create(version=right, slug="overdue-licence")

    comparison = selectors.version_comparison(left_pk=left.pk, right_pk=right.pk)

    assert [(row.name, row.kind) for row in comparison.request_type_rows] == [
        (str(RequestType.ACCESS.label), "changed"),
        (str(RequestType.DELETION.label), "removed"),
    ]
    assert [(row.name, row.kind) for row in comparison.retention_rows] == [
        ("overdue-licence", "added")
    ]
