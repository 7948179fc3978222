from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from policies.models import (
    PolicyPublication,
    PolicyVersion,
    RequestType,
    RequestTypeRule,
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


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    # Production settings redirect HTTP to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False


PUBLISHED_AT = datetime(2026, 6, 23, 7, tzinfo=UTC)


def admin_url(obj_or_model: Model | type[Model], view: str, *args: object) -> str:
    opts = obj_or_model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def published_version(**kwargs: Any) -> PolicyVersion:
    version = PolicyVersionFactory.create(**kwargs)
    RequestTypeRuleFactory.create(version=version, request_type=RequestType.ACCESS)
    RetentionExemptionFactory.create(rule=RetentionRuleFactory.create(version=version))
    return policy_version_publish(version=version, at=PUBLISHED_AT)


def message_texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def change_form_data(response: Any) -> dict[str, Any]:
    """The POST body the change form in ``response`` would send unchanged, inlines included."""
    data: dict[str, Any] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update(
            {management.add_prefix(name): management[name].value() for name in management.fields}
        )
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if value is None or value is False:
                continue
            if field.widget.__class__.__name__ == "CheckboxInput":
                value = "on"
            data[form.add_prefix(name)] = value
    return data


def test_every_policies_admin_page_renders(admin_client: Client) -> None:
    draft = PolicyVersionFactory.create()
    RequestTypeRuleFactory.create(version=draft)
    rule = RetentionRuleFactory.create(version=draft)
    RetentionExemptionFactory.create(rule=rule)
    published = published_version(policy=draft.policy)
    objects: dict[type[Model], Model] = {
        type(draft.policy.organization): draft.policy.organization,
        type(draft.policy): draft.policy,
        PolicyVersion: draft,
        RetentionRule: rule,
        PolicyPublication: published.publication,
    }
    registered = {model for model in admin.site._registry if model._meta.app_label == "policies"}
    assert registered == set(objects)

    urls = [admin_url(model, "changelist") for model in registered]
    # A publication is recorded by publishing, never added by hand.
    urls += [admin_url(model, "add") for model in registered if model is not PolicyPublication]
    urls += [admin_url(obj, "change", obj.pk) for obj in objects.values()]
    urls += [
        admin_url(published, "change", published.pk),
        admin_url(published.retention_rules.get(), "change", published.retention_rules.get().pk),
        admin_url(draft, "publish", draft.pk),
        admin_url(draft, "compare", draft.pk),
        admin_url(draft, "compare", draft.pk) + f"?other={published.pk}",
        admin_url(draft, "delete", draft.pk),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_the_version_changelist_shows_organisation_dates_and_whether_in_force(
    admin_client: Client, time_machine: Any
) -> None:
    time_machine.move_to(datetime(2026, 7, 1, tzinfo=UTC))
    organization = OrganizationFactory.create(name="ZPos System")
    published_version(
        policy=PolicyFactory.create(organization=organization), version_label="2026-06"
    )

    response = admin_client.get(admin_url(PolicyVersion, "changelist"))

    html = response.content.decode()
    assert "ZPos System" in html
    assert "2026-06" in html
    assert 'alt="True"' in html  # published on 23 June with no notice period: in force


def test_publishing_through_the_action_asks_first_then_freezes_and_dates_the_versions(
    admin_client: Client, time_machine: Any
) -> None:
    time_machine.move_to(PUBLISHED_AT, tick=False)
    version = PolicyVersionFactory.create(policy=PolicyFactory.create(notice_period_days=30))
    action = {"action": "publish_selected", "_selected_action": [version.pk]}

    confirmation = admin_client.post(admin_url(PolicyVersion, "changelist"), action)

    assert confirmation.status_code == 200
    assert "Yes, publish" in confirmation.content.decode()
    version.refresh_from_db()
    assert version.published_at is None

    response = admin_client.post(admin_url(PolicyVersion, "changelist"), {**action, "post": "yes"})

    assert response.status_code == 302
    version.refresh_from_db()
    assert version.published_at == PUBLISHED_AT
    assert version.effective_at == datetime(2026, 7, 23, 7, tzinfo=UTC)
    assert any("is published and in force from" in text for text in message_texts(response))


def test_publishing_an_already_published_version_is_refused_with_a_message(
    admin_client: Client,
) -> None:
    version = published_version()
    action = {"action": "publish_selected", "_selected_action": [version.pk], "post": "yes"}

    response = admin_client.post(admin_url(PolicyVersion, "changelist"), action)
    button = admin_client.get(admin_url(version, "publish", version.pk))

    version.refresh_from_db()
    assert version.published_at == PUBLISHED_AT
    assert any("already published" in text for text in message_texts(response))
    assert button.status_code == 302
    assert any("already published" in text for text in message_texts(button))


def test_the_publish_button_confirms_then_publishes(admin_client: Client) -> None:
    version = PolicyVersionFactory.create()
    change_page = admin_client.get(admin_url(version, "change", version.pk)).content.decode()
    publish_url = admin_url(version, "publish", version.pk)
    assert f'href="{publish_url}"' in change_page

    confirmation = admin_client.get(publish_url)
    version.refresh_from_db()
    assert confirmation.status_code == 200
    assert version.published_at is None

    response = admin_client.post(publish_url, {"post": "yes"})

    version.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == admin_url(version, "change", version.pk)
    assert version.published_at is not None


def test_a_draft_and_its_rules_are_edited_in_the_admin(admin_client: Client) -> None:
    version = PolicyVersionFactory.create(version_label="draft-1")
    url = admin_url(version, "change", version.pk)
    data = change_form_data(admin_client.get(url))
    data.update(
        {
            "version_label": "draft-2",
            "request_type_rules-TOTAL_FORMS": 1,
            "request_type_rules-0-request_type": RequestType.DELETION,
            "request_type_rules-0-offered": "on",
            "request_type_rules-0-response_period": 30,
            "request_type_rules-0-response_unit": "calendar_days",
            "request_type_rules-0-clock_starts": "receipt",
            "request_type_rules-0-max_extension": 0,
            "request_type_rules-0-extension_unit": "calendar_days",
            "request_type_rules-0-source": "policy",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    version.refresh_from_db()
    assert version.version_label == "draft-2"
    assert list(version.request_type_rules.values_list("request_type", flat=True)) == [
        RequestType.DELETION
    ]


def test_a_published_version_is_shown_read_only(admin_client: Client) -> None:
    version = published_version()

    response = admin_client.get(admin_url(version, "change", version.pk))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="text"' not in html
    assert 'name="_save"' not in html
    assert 'name="request_type_rules-0-response_period"' not in html
    assert 'name="retention_rules-0-slug"' not in html
    assert admin_url(version, "delete", version.pk) not in html
    assert admin_url(version, "publish", version.pk) not in html
    assert "This version is published" in html


def test_a_forced_post_to_a_published_version_changes_nothing(admin_client: Client) -> None:
    version = published_version(text="Published wording.", version_label="v1")
    rule = version.request_type_rules.get()
    url = admin_url(version, "change", version.pk)
    draft_like = {
        "policy": version.policy_id,
        "version_label": "v1-edited",
        "language": "en",
        "text": "Sneaky new wording.",
        "request_type_rules-TOTAL_FORMS": 1,
        "request_type_rules-INITIAL_FORMS": 1,
        "request_type_rules-0-id": rule.pk,
        "request_type_rules-0-version": version.pk,
        "request_type_rules-0-request_type": RequestType.ACCESS,
        "request_type_rules-0-response_period": 1,
        "request_type_rules-0-DELETE": "on",
        "retention_rules-TOTAL_FORMS": 0,
        "retention_rules-INITIAL_FORMS": 0,
    }

    response = admin_client.post(url, draft_like)
    delete = admin_client.post(admin_url(version, "delete", version.pk), {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == url
    assert any("can no longer be changed" in text for text in message_texts(response))
    assert delete.status_code == 302
    assert any("can no longer be changed" in text for text in message_texts(delete))
    version.refresh_from_db()
    assert (version.version_label, version.text) == ("v1", "Published wording.")
    assert version.published_at == PUBLISHED_AT
    assert RequestTypeRule.objects.get(pk=rule.pk).response_period == rule.response_period


def test_a_forced_post_to_a_published_retention_rule_changes_nothing(
    admin_client: Client,
) -> None:
    version = published_version()
    rule = version.retention_rules.get()
    url = admin_url(rule, "change", rule.pk)

    response = admin_client.post(
        url,
        {
            "version": version.pk,
            "slug": rule.slug,
            "trigger": rule.trigger,
            "period": 1,
            "period_unit": rule.period_unit,
            "action": rule.action,
            "notice_days_before": "[]",
            "source": rule.source,
            "exemptions-TOTAL_FORMS": 0,
            "exemptions-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 302
    assert any("can no longer be changed" in text for text in message_texts(response))
    rule.refresh_from_db()
    assert rule.period == 30


def test_the_comparison_shows_added_and_removed_lines_side_by_side(admin_client: Client) -> None:
    policy = PolicyFactory.create()
    old = published_version(
        policy=policy, text="Intro.\nWe keep data for 30 days.\nContact us.\n<b>bold</b>"
    )
    new = PolicyVersionFactory.create(
        policy=policy, text="Intro.\nContact us.\n<b>bold</b>\nYou may object at any time."
    )
    RequestTypeRuleFactory.create(version=new, request_type=RequestType.OBJECTION)

    response = admin_client.get(admin_url(new, "compare", new.pk) + f"?other={old.pk}")

    html = response.content.decode()
    assert response.status_code == 200
    rows = response.context["comparison"].text_rows
    assert [(row.kind, row.left, row.right) for row in rows if row.kind != "same"] == [
        ("removed", "We keep data for 30 days.", ""),
        ("added", "", "You may object at any time."),
    ]
    assert "\N{MINUS SIGN} removed" in html
    assert "+ added" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html
    type_rows = {row.name: row.kind for row in response.context["comparison"].request_type_rows}
    assert type_rows == {
        str(RequestType.ACCESS.label): "removed",
        str(RequestType.OBJECTION.label): "added",
    }


def test_the_comparison_defaults_to_the_previous_version(admin_client: Client) -> None:
    policy = PolicyFactory.create()
    old = published_version(policy=policy, text="One.")
    new = PolicyVersionFactory.create(policy=policy, text="Two.")

    response = admin_client.get(admin_url(new, "compare", new.pk))

    comparison = response.context["comparison"]
    assert (comparison.left.pk, comparison.right.pk) == (old.pk, new.pk)
