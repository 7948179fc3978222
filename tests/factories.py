"""factory-boy factories shared by the tests. Each app's section grows here, in app order."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from policies import models as policies
from pos import models as pos_models

# --- policies --------------------------------------------------------------------------------


class OrganizationFactory(factory.django.DjangoModelFactory[policies.Organization]):
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


class PolicyFactory(factory.django.DjangoModelFactory[policies.Policy]):
    class Meta:
        model = policies.Policy

    organization = factory.SubFactory(OrganizationFactory)
    slug = "privacy"
    title = "Privacy Policy"
    notice_period_days = 0


class PolicyVersionFactory(factory.django.DjangoModelFactory[policies.PolicyVersion]):
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


class RequestTypeRuleFactory(factory.django.DjangoModelFactory[policies.RequestTypeRule]):
    class Meta:
        model = policies.RequestTypeRule

    version = factory.SubFactory(PolicyVersionFactory)
    request_type = policies.RequestType.ACCESS
    response_period = 30
    response_unit = policies.PeriodUnit.CALENDAR_DAYS


class RetentionRuleFactory(factory.django.DjangoModelFactory[policies.RetentionRule]):
    class Meta:
        model = policies.RetentionRule

    version = factory.SubFactory(PolicyVersionFactory)
    slug = factory.Sequence(lambda n: f"rule-{n}")
    trigger = policies.RetentionTrigger.ACCOUNT_DELETED
    period = 30
    period_unit = policies.PeriodUnit.CALENDAR_DAYS


class RetentionExemptionFactory(factory.django.DjangoModelFactory[policies.RetentionExemption]):
    class Meta:
        model = policies.RetentionExemption

    rule = factory.SubFactory(RetentionRuleFactory)
    category = policies.DataCategory.PAYMENT
    legal_basis = "Tax Code, art. 90"
    period = 5
    period_unit = policies.PeriodUnit.MONTHS


# --- pos -------------------------------------------------------------------------------------
# Models are named as "app.Model" so this section needs no import at the top of the file.


class AccountFactory(factory.django.DjangoModelFactory[pos_models.Account]):
    """A current account: licence paid for the next 30 days, not deleted."""

    class Meta:
        model = "pos.Account"

    organization = factory.SubFactory(OrganizationFactory)
    company_name = factory.Sequence(lambda n: f"Merchant {n} LLC")
    tax_id = factory.Sequence(lambda n: f"{300_000_000 + n}")
    registered_address = "Amir Temur 1, Toshkent"
    business_type = "retail"
    currency = "UZS"
    subscription_plan = "business"
    licence_paid_until = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=30))


class AccountUserFactory(factory.django.DjangoModelFactory[pos_models.AccountUser]):
    class Meta:
        model = "pos.AccountUser"

    account = factory.SubFactory(AccountFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"pos-user-{n}@example.com")
    phone = factory.Sequence(lambda n: f"+998 90 {n:07d}")
    role = "cashier"


class ProductFactory(factory.django.DjangoModelFactory[pos_models.Product]):
    class Meta:
        model = "pos.Product"

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    price = "12000.00"
    category = "Groceries"


class SaleFactory(factory.django.DjangoModelFactory[pos_models.Sale]):
    class Meta:
        model = "pos.Sale"

    account = factory.SubFactory(AccountFactory)
    number = factory.Sequence(lambda n: f"S-{n:07d}")
    total = "12000.00"


class SaleLineFactory(factory.django.DjangoModelFactory[pos_models.SaleLine]):
    class Meta:
        model = "pos.SaleLine"

    sale = factory.SubFactory(SaleFactory)
    product = factory.SubFactory(ProductFactory, account=factory.SelfAttribute("..sale.account"))
    quantity = "1.000"
    unit_price = "12000.00"


class InvoiceFactory(factory.django.DjangoModelFactory[pos_models.Invoice]):
    class Meta:
        model = "pos.Invoice"

    account = factory.SubFactory(AccountFactory)
    number = factory.Sequence(lambda n: f"INV-{n:06d}")
    issued_at = factory.LazyFunction(timezone.now)
    amount = "399000.00"
    tax_amount = "42750.00"
    currency = "UZS"


class PaymentFactory(factory.django.DjangoModelFactory[pos_models.Payment]):
    """A card payment: only the brand and the last four digits are stored."""

    class Meta:
        model = "pos.Payment"

    invoice = factory.SubFactory(InvoiceFactory)
    paid_at = factory.LazyFunction(timezone.now)
    amount = factory.SelfAttribute("invoice.amount")
    method = "card"
    card_brand = "Visa"
    card_last4 = "4242"


class DeviceFactory(factory.django.DjangoModelFactory[pos_models.Device]):
    class Meta:
        model = "pos.Device"

    account = factory.SubFactory(AccountFactory)
    name = "POS terminal 1"
    platform = "android"
    identifier = factory.Sequence(lambda n: f"device-{n:08d}")


class LoginFactory(factory.django.DjangoModelFactory[pos_models.Login]):
    class Meta:
        model = "pos.Login"

    user = factory.SubFactory(AccountUserFactory)
    at = factory.LazyFunction(timezone.now)
    ip_address = "192.0.2.10"
    user_agent = "Mozilla/5.0 (Linux; Android 13) Chrome/124.0 Safari/537.36"


class StaffActivityFactory(factory.django.DjangoModelFactory[pos_models.StaffActivity]):
    class Meta:
        model = "pos.StaffActivity"

    user = factory.SubFactory(AccountUserFactory)
    action = "shift_opened"
    at = factory.LazyFunction(timezone.now)


class SupportMessageFactory(factory.django.DjangoModelFactory[pos_models.SupportMessage]):
    class Meta:
        model = "pos.SupportMessage"

    account = factory.SubFactory(AccountFactory)
    sent_at = factory.LazyFunction(timezone.now)
    channel = "email"
    subject = "Receipt printer not printing"
    body = "Since this morning the receipt printer stays silent."
