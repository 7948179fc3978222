from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from policies.models import Organization, Policy, PolicyVersion, RequestType
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


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    # Production settings redirect HTTP to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False


def publish(
    policy: Policy,
    at: datetime,
    *,
    label: str | None = None,
    text: str = "Policy text.",
    language: str = "en",
    offered: Iterable[str] = (RequestType.ACCESS,),
    not_offered: Iterable[str] = (),
) -> PolicyVersion:
    """Create a version with its request type rules and publish it at ``at``."""
    kwargs = {"version_label": label} if label else {}
    version = PolicyVersionFactory.create(policy=policy, text=text, language=language, **kwargs)
    for request_type in offered:
        RequestTypeRuleFactory.create(version=version, request_type=request_type, offered=True)
    for request_type in not_offered:
        RequestTypeRuleFactory.create(version=version, request_type=request_type, offered=False)
    return policy_version_publish(version=version, at=at)


def org_url(organization: Organization) -> str:
    return reverse("policies:organization_detail", args=[organization.slug])


def version_url(version: PolicyVersion) -> str:
    return reverse("policies:version_detail", args=[version.policy.organization.slug, version.pk])


def policy_text_blocks(html: str) -> list[tuple[str, str, str]]:
    """Return (lang, dir, text) of every policy-text block on a page."""
    return re.findall(
        r'<div class="policy-text" lang="([^"]*)" dir="([^"]*)">(.*?)</div>', html, re.S
    )


def button_links(html: str) -> list[str]:
    return re.findall(r'<a class="button" href="([^"]*)">', html)


def test_the_index_lists_every_organisation_with_its_country_and_a_link(client: Client) -> None:
    zpos = OrganizationFactory.create(slug="zpos", name="ZPos System", country="UZ")
    clopos = OrganizationFactory.create(slug="clopos", name="Clopos MMC", country="AZ")

    response = client.get(reverse("policies:organization_list"))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Clopos MMC") < html.index("ZPos System")
    assert f'href="{org_url(zpos)}"' in html
    assert f'href="{org_url(clopos)}"' in html
    assert ">AZ</abbr>" in html
    assert ">UZ</abbr>" in html


def test_the_organisation_page_shows_the_version_in_force_and_announces_the_upcoming_one(
    client: Client, time_machine: object
) -> None:
    organization = OrganizationFactory.create(slug="zpos", time_zone="Asia/Tashkent")
    policy = PolicyFactory.create(organization=organization, notice_period_days=30)
    publish(policy, datetime(2026, 1, 1, 9, tzinfo=UTC), label="2026-01", text="Old text.")
    publish(policy, datetime(2026, 6, 23, 9, tzinfo=UTC), label="2026-06", text="New text.")

    time_machine.move_to(datetime(2026, 7, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    html = client.get(org_url(organization)).content.decode()

    assert [block[2] for block in policy_text_blocks(html)] == ["Old text."]
    assert "Upcoming version:" in html
    assert "version 2026-06 takes effect on July 23, 2026" in html

    time_machine.move_to(datetime(2026, 7, 23, 9, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    html = client.get(org_url(organization)).content.decode()

    assert [block[2] for block in policy_text_blocks(html)] == ["New text."]
    assert "Upcoming version:" not in html


def test_the_history_lists_every_published_version_with_dates_fingerprint_and_link(
    client: Client,
) -> None:
    organization = OrganizationFactory.create()
    policy = PolicyFactory.create(organization=organization)
    first = publish(policy, datetime(2025, 3, 1, 8, tzinfo=UTC), label="v1")
    second = publish(policy, datetime(2025, 9, 1, 8, tzinfo=UTC), label="v2")
    draft = PolicyVersionFactory.create(policy=policy, version_label="v3-draft")

    html = client.get(org_url(organization)).content.decode()

    for version in (first, second):
        assert f'href="{version_url(version)}">{version.version_label}</a>' in html
        assert version.text_sha256[:12] in html
    assert "March 1, 2025" in html
    assert "v3-draft" not in html
    assert version_url(draft) not in html


def test_dates_are_shown_on_the_organisations_clock_in_the_visitors_language(
    client: Client,
) -> None:
    organization = OrganizationFactory.create(time_zone="Asia/Tashkent")
    policy = PolicyFactory.create(organization=organization)
    # 20:00 UTC on 22 June is already 23 June in Tashkent (UTC+5).
    publish(policy, datetime(2025, 6, 22, 20, tzinfo=UTC))

    english = client.get(org_url(organization)).content.decode()
    russian = client.get(org_url(organization), HTTP_ACCEPT_LANGUAGE="ru").content.decode()

    assert "June 23, 2025" in english
    assert "June 22, 2025" not in english
    assert "23 июня 2025" in russian


def test_a_version_page_shows_its_text_dates_and_whether_it_is_in_force(client: Client) -> None:
    organization = OrganizationFactory.create()
    policy = PolicyFactory.create(organization=organization)
    old = publish(policy, datetime(2025, 1, 1, tzinfo=UTC), text="Old promises.")
    current = publish(policy, datetime(2025, 6, 1, tzinfo=UTC), text="Current promises.")

    old_html = client.get(version_url(old)).content.decode()
    current_html = client.get(version_url(current)).content.decode()

    assert [block[2] for block in policy_text_blocks(old_html)] == ["Old promises."]
    assert "Superseded by a later version" in old_html
    assert button_links(old_html) == []
    assert [block[2] for block in policy_text_blocks(current_html)] == ["Current promises."]
    assert "In force" in current_html
    assert old.text_sha256 in old_html


def test_a_draft_version_is_not_found(client: Client) -> None:
    draft = PolicyVersionFactory.create(text="Secret draft wording.")

    response = client.get(version_url(draft))
    organization_page = client.get(org_url(draft.policy.organization))

    assert response.status_code == 404
    assert "Secret draft wording." not in organization_page.content.decode()


def test_an_unknown_organisation_is_not_found(client: Client) -> None:
    response = client.get(reverse("policies:organization_detail", args=["no-such-org"]))

    assert response.status_code == 404


def test_a_version_is_not_found_under_another_organisation(client: Client) -> None:
    version = publish(PolicyFactory.create(), datetime(2025, 1, 1, tzinfo=UTC))
    other = OrganizationFactory.create()

    response = client.get(reverse("policies:version_detail", args=[other.slug, version.pk]))

    assert response.status_code == 404


def test_script_in_the_policy_text_is_escaped(client: Client) -> None:
    version = publish(
        PolicyFactory.create(),
        datetime(2025, 1, 1, tzinfo=UTC),
        text='Hello <script>alert("x")</script> & bye',
    )

    for url in (org_url(version.policy.organization), version_url(version)):
        html = client.get(url).content.decode()
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; bye" in html


def test_an_urdu_version_is_rendered_right_to_left(client: Client) -> None:
    organization = OrganizationFactory.create(
        slug="pumppos", country="PK", time_zone="Asia/Karachi"
    )
    urdu = publish(
        PolicyFactory.create(organization=organization, slug="urdu", title="رازداری کی پالیسی"),
        datetime(2025, 1, 1, tzinfo=UTC),
        language="ur",
        text="ہم آپ کی معلومات محفوظ رکھتے ہیں",
    )
    publish(
        PolicyFactory.create(organization=organization, slug="english", title="Privacy Policy"),
        datetime(2025, 1, 1, tzinfo=UTC),
        language="en",
        text="We keep your data safe.",
    )

    html = client.get(org_url(organization)).content.decode()
    version_html = client.get(version_url(urdu)).content.decode()

    assert sorted(block[:2] for block in policy_text_blocks(html)) == [
        ("en", "ltr"),
        ("ur", "rtl"),
    ]
    assert [block[:2] for block in policy_text_blocks(version_html)] == [("ur", "rtl")]


def test_an_azerbaijani_version_stays_left_to_right(client: Client) -> None:
    version = publish(PolicyFactory.create(), datetime(2025, 1, 1, tzinfo=UTC), language="az")

    html = client.get(version_url(version)).content.decode()

    assert [block[:2] for block in policy_text_blocks(html)] == [("az", "ltr")]


def test_one_button_per_offered_right_links_to_the_request_form(client: Client) -> None:
    organization = OrganizationFactory.create(slug="clopos")
    publish(
        PolicyFactory.create(organization=organization),
        datetime(2025, 1, 1, tzinfo=UTC),
        offered=[RequestType.MARKETING_OPT_OUT, RequestType.ACCESS, RequestType.DELETION],
        not_offered=[RequestType.PORTABILITY],
    )

    html = client.get(org_url(organization)).content.decode()

    assert button_links(html) == [
        "/privacy/clopos/request/?type=access",
        "/privacy/clopos/request/?type=deletion",
        "/privacy/clopos/request/?type=marketing_opt_out",
    ]
    assert str(RequestType.MARKETING_OPT_OUT.label) in html
    assert str(RequestType.PORTABILITY.label) not in html


def test_the_buttons_follow_the_version_in_force_not_the_upcoming_one(
    client: Client, time_machine: object
) -> None:
    organization = OrganizationFactory.create(slug="zpos")
    policy = PolicyFactory.create(organization=organization, notice_period_days=30)
    publish(policy, datetime(2026, 1, 1, tzinfo=UTC), offered=[RequestType.ACCESS])
    publish(
        policy,
        datetime(2026, 6, 1, tzinfo=UTC),
        offered=[RequestType.ACCESS, RequestType.PORTABILITY],
    )

    time_machine.move_to(datetime(2026, 6, 15, tzinfo=UTC))  # type: ignore[attr-defined]
    html = client.get(org_url(organization)).content.decode()

    assert button_links(html) == ["/privacy/zpos/request/?type=access"]


def test_retention_promises_are_stated_in_plain_words(client: Client) -> None:
    organization = OrganizationFactory.create()
    version = PolicyVersionFactory.create(policy=PolicyFactory.create(organization=organization))
    RetentionRuleFactory.create(
        version=version, slug="closed-account", period=30, notice_days_before=[7]
    )
    overdue = RetentionRuleFactory.create(
        version=version,
        slug="overdue-licence",
        trigger="licence_overdue",
        period=6,
        period_unit="months",
    )
    RetentionExemptionFactory.create(rule=overdue, legal_basis="Tax Code", period=60)
    policy_version_publish(version=version, at=datetime(2025, 1, 1, tzinfo=UTC))

    html = client.get(org_url(organization)).content.decode()

    assert "Your data is deleted 30 calendar days after the account is deleted." in html
    assert "this many days before: 7." in html
    assert "Your data is deleted 6 months after the licence payment is overdue." in html
    assert "Kept longer: Payments and invoices, for 60 months, under Tax Code." in html


def test_the_organisation_page_runs_the_same_queries_however_much_it_shows(
    client: Client, django_assert_num_queries: object
) -> None:
    small = OrganizationFactory.create()
    version = publish(PolicyFactory.create(organization=small), datetime(2024, 1, 1, tzinfo=UTC))
    # Rules of a published version are frozen, so the small one's retention rule comes with a
    # later version.
    next_version = PolicyVersionFactory.create(policy=version.policy)
    RetentionExemptionFactory.create(rule=RetentionRuleFactory.create(version=next_version))
    policy_version_publish(
        version=next_version, at=datetime(2025, 1, 1, tzinfo=UTC), reason="A test version."
    )
    large = OrganizationFactory.create()
    for slug in ("privacy", "cookies", "staff"):
        policy = PolicyFactory.create(organization=large, slug=slug, title=slug)
        for month in (1, 3, 5):
            version = PolicyVersionFactory.create(policy=policy)
            RequestTypeRuleFactory.create(version=version, request_type=RequestType.ACCESS)
            RequestTypeRuleFactory.create(version=version, request_type=RequestType.DELETION)
            rule = RetentionRuleFactory.create(version=version)
            RetentionExemptionFactory.create(rule=rule)
            # Each version has rules of its own: the previous one's are dropped on purpose.
            policy_version_publish(
                version=version, at=datetime(2025, month, 1, tzinfo=UTC), reason="A test version."
            )

    # The organisation's default language (no cookie or browser language chose one), the
    # organisation, its policies, their history, the versions in force and three prefetches.
    for organization in (small, large):
        url = org_url(organization)
        with django_assert_num_queries(8):  # type: ignore[operator]
            response = client.get(url)
        assert response.status_code == 200


def test_the_version_page_runs_a_fixed_number_of_queries(
    client: Client, django_assert_num_queries: object
) -> None:
    version = PolicyVersionFactory.create()
    for request_type in (RequestType.ACCESS, RequestType.CORRECTION, RequestType.DELETION):
        RequestTypeRuleFactory.create(version=version, request_type=request_type)
    for _ in range(3):
        RetentionExemptionFactory.create(rule=RetentionRuleFactory.create(version=version))
    policy_version_publish(version=version, at=datetime(2025, 1, 1, tzinfo=UTC))
    url = version_url(version)

    # The organisation's default language, the organisation, the version, its three prefetches
    # and the version in force.
    with django_assert_num_queries(7):  # type: ignore[operator]
        response = client.get(url)

    assert response.status_code == 200
