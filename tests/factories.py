"""factory-boy factories shared by the tests. Each app's section grows here, in app order."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from policies import models as policies

# --- policies --------------------------------------------------------------------------------


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = policies.Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organisation {n}")
    legal_name = factory.LazyAttribute(lambda o: f"{o.name} LLC")
    country = "UZ"
    time_zone = "Asia/Tashkent"
    languages = factory.LazyFunction(lambda: ["en", "ru", "uz"])
    default_language = "en"
    contact_email = factory.LazyAttribute(lambda o: f"privacy@{o.slug}.example")
    website = factory.LazyAttribute(lambda o: f"https://{o.slug}.example")


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = policies.Policy

    organization = factory.SubFactory(OrganizationFactory)
    slug = "privacy"
    title = "Privacy Policy"
    notice_period_days = 0


class PolicyVersionFactory(factory.django.DjangoModelFactory):
    """A draft version; use ``published=True`` for one published a year ago and in force."""

    class Meta:
        model = policies.PolicyVersion

    class Params:
        published = factory.Trait(
            published_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=365)),
            effective_at=factory.LazyAttribute(
                lambda o: o.published_at + timedelta(days=o.policy.notice_period_days)
            ),
        )

    policy = factory.SubFactory(PolicyFactory)
    version_label = factory.Sequence(lambda n: f"v{n}")
    language = "en"
    text = factory.Faker("paragraph", nb_sentences=8)


class RequestTypeRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = policies.RequestTypeRule

    version = factory.SubFactory(PolicyVersionFactory)
    request_type = policies.RequestType.ACCESS
    response_period = 30
    response_unit = policies.PeriodUnit.CALENDAR_DAYS


class RetentionRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = policies.RetentionRule

    version = factory.SubFactory(PolicyVersionFactory)
    slug = factory.Sequence(lambda n: f"rule-{n}")
    trigger = policies.RetentionTrigger.ACCOUNT_DELETED
    period = 30
    period_unit = policies.PeriodUnit.CALENDAR_DAYS
