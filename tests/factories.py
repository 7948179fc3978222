"""factory-boy factories shared by the tests. Each app's section grows here, in app order."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import factory
from django.utils import timezone

from policies import models as policies
from pos import models as pos_models

if TYPE_CHECKING:
    from opendsr.models import OpenDSRRequest
    from requests_app.models import SubjectRequest

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


# --- requests_app: staff processing ----------------------------------------------------------


class StaffUserFactory(factory.django.DjangoModelFactory):
    """An active staff user; ``roles=["Privacy officers"]`` puts them in those role groups."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@staff.example")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        from django.contrib.auth.models import Group

        if create and extracted:
            # `get`, not `filter`: a role group missing from the database should fail loudly.
            self.groups.add(*(Group.objects.get(name=name) for name in extracted))  # type: ignore[attr-defined]


class SubjectRequestFactory(factory.django.DjangoModelFactory):
    """A request in progress made directly, without intake or audit trail: for volume tests.

    Pass ``rule=`` an existing rule to ``build`` many for ``bulk_create``.
    """

    class Meta:
        model = "requests_app.SubjectRequest"

    reference = factory.Sequence(lambda n: f"DSR-2099-{n:06d}")
    rule = factory.SubFactory(RequestTypeRuleFactory)
    policy_version = factory.SelfAttribute("rule.version")
    organization = factory.SelfAttribute("rule.version.policy.organization")
    request_type = factory.SelfAttribute("rule.request_type")
    status = "in_progress"
    language = "en"
    email = factory.Sequence(lambda n: f"subject-{n}@example.com")
    name = factory.Faker("name")
    received_at = factory.LazyFunction(timezone.now)
    verified_at = factory.SelfAttribute("received_at")
    clock_started_at = factory.SelfAttribute("received_at")
    due_at = factory.LazyAttribute(lambda o: o.received_at + timedelta(days=30))


# --- requests_app: subject data and export packages ------------------------------------------

EXPORT_POLICY_TEXT = """Privacy Policy

1. Information We Collect

Contact information: name, phone number, email address.

2. How We Use Your Information

To provide and manage the point-of-sale service and to fulfil legal obligations.

3. Sharing Your Information

Service providers: cloud storage and payment processors, strictly for service delivery.

4. Data Retention

Upon account deletion, data is removed within 30 days, except where legal retention applies.
"""


def export_policy_version(organization: policies.Organization) -> policies.PolicyVersion:
    """The organisation's version "exports" (published a year ago): access and portability, and
    a 30-day account-deleted retention rule keeping payment records 60 months."""
    from policies.services import policy_version_publish

    existing = policies.PolicyVersion.objects.filter(
        policy__organization=organization, version_label="exports"
    ).first()
    if existing is not None:
        return existing
    policy = policies.Policy.objects.filter(organization=organization).first() or (
        PolicyFactory.create(organization=organization)
    )
    version = PolicyVersionFactory.create(
        policy=policy, version_label="exports", text=EXPORT_POLICY_TEXT
    )
    for request_type in ("access", "portability", "deletion"):
        RequestTypeRuleFactory.create(version=version, request_type=request_type)
    rule = RetentionRuleFactory.create(version=version, slug="account-deleted")
    RetentionExemptionFactory.create(rule=rule, period=60)
    # A test version offers its own rights: whatever an earlier one offered is dropped on purpose.
    return policy_version_publish(
        version=version, at=timezone.now() - timedelta(days=365), reason="A test version."
    )


class ConfirmedRequestFactory(factory.django.DjangoModelFactory):
    """A request filed through intake and confirmed by its subject, with its audit trail, under
    ``export_policy_version`` of its organisation."""

    class Meta:
        model = "requests_app.SubjectRequest"

    organization = factory.SubFactory(OrganizationFactory)
    request_type = "access"
    email = factory.Sequence(lambda n: f"subject-{n}@example.com")
    name = "Dilnoza Karimova"
    language = "en"

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> object:
        from requests_app.intake import SubjectDetails, request_submit
        from requests_app.workflow import request_mark_verified

        organization = kwargs["organization"]
        assert isinstance(organization, policies.Organization)
        version = export_policy_version(organization)
        result = request_submit(
            organization=organization,
            version=version,
            rule=version.request_type_rules.get(request_type=kwargs["request_type"]),
            subject=SubjectDetails(email=str(kwargs["email"]), name=str(kwargs["name"])),
            language=str(kwargs["language"]),
        )
        return request_mark_verified(request=result.request)


def account_with_every_record(
    *, organization: policies.Organization, owner_email: str, cashier_email: str | None = None
) -> dict[str, set[int]]:
    """Create an account owned by ``owner_email`` with rows in every POS model, and a cashier
    with their own activity and login; return, by model label, the ids an export for the owner
    must hold (not the cashier's person-level rows)."""
    account = AccountFactory.create(organization=organization)
    owner = AccountUserFactory.create(
        account=account, email=owner_email, role="owner", is_primary_contact=True
    )
    cashier = AccountUserFactory.create(
        account=account, **({"email": cashier_email} if cashier_email else {})
    )
    device = DeviceFactory.create(account=account)
    product = ProductFactory.create(account=account)
    sale = SaleFactory.create(
        account=account,
        cashier=cashier,
        customer_name="Aziz Rahimov",
        customer_phone="+998901112233",
    )
    line = SaleLineFactory.create(sale=sale, product=product)
    invoice = InvoiceFactory.create(account=account)
    payment = PaymentFactory.create(invoice=invoice)
    activity = StaffActivityFactory.create(user=owner)
    StaffActivityFactory.create(user=cashier)
    login = LoginFactory.create(user=owner, device=device)
    LoginFactory.create(user=cashier, device=device)
    message = SupportMessageFactory.create(account=account, user=owner)
    return {
        "pos.account": {account.pk},
        "pos.accountuser": {owner.pk},
        "pos.device": {device.pk},
        "pos.product": {product.pk},
        "pos.sale": {sale.pk},
        "pos.saleline": {line.pk},
        "pos.invoice": {invoice.pk},
        "pos.payment": {payment.pk},
        "pos.staffactivity": {activity.pk},
        "pos.login": {login.pk},
        "pos.supportmessage": {message.pk},
    }


# --- requests_app: OpenDSR ----------------------------------------------------------------------


class ControllerFactory(factory.django.DjangoModelFactory):
    """An active OpenDSR controller; the API key issued for it is ``controller.api_key``."""

    class Meta:
        model = "opendsr.Controller"
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Merchant {n}")
    identifier = factory.Sequence(lambda n: f"merchant-{n}")
    callback_hosts = "dsr.merchant.example"

    @factory.post_generation
    def api_key(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            from opendsr.services import controller_key_issue

            self.api_key = controller_key_issue(controller=self)  # type: ignore[arg-type]


def forwarded_by_controller(request: SubjectRequest) -> OpenDSRRequest:
    """Link ``request`` to an OpenDSR request, as if a controller had forwarded it to us."""
    from opendsr.models import OpenDSRRequest

    now = timezone.now()
    found: OpenDSRRequest = OpenDSRRequest.objects.create(
        controller=ControllerFactory.create(organization=request.organization),
        request=request,
        subject_request_id=uuid.uuid4(),
        regulation="gdpr",
        request_type="erasure",
        identities=[{"identity_type": "email", "identity_value": request.email}],
        submitted_time=now,
        received_time=now,
        encoded_request="",
    )
    return found


# --- systems: systems outside the tracker and their tasks -------------------------------------


class SystemFactory(factory.django.DjangoModelFactory):
    """A system of an organisation; by default one searched by a person (manual)."""

    class Meta:
        model = "systems.System"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Support mailbox {n}")
    slug = factory.Sequence(lambda n: f"mailbox-{n}")
    kind = "manual"
    owner_email = factory.Sequence(lambda n: f"owner-{n}@partner.example")
