"""Realistic, reproducible demo data for the sample POS system.

``demo_data_generate`` fills the POS tables for the given organisations: per organisation a set of
merchant accounts with their users, staff activity, products, sales and sale lines, devices and
logins, invoices and payments and support messages; optionally one very large subject (one
account with many sales) for benchmarks.

- **Deterministic**: the same seed, organisation slug and ``now`` always give the same rows (each
  organisation has its own random stream, so adding an organisation changes no other's data).
- **The retention cases are always present**: the first five accounts of every organisation are,
  in order, current, deleted more than 30 days ago, licence overdue by more than 6 months,
  deleted within the last 30 days and licence overdue by less than 6 months; further accounts
  are drawn at random, mostly current.
- **Once per organisation**: an organisation that already has accounts is skipped, and the large
  subject is recognised by its owner's email, so running the command twice adds nothing.
  Each organisation's set and the large subject are written in one transaction each, so an
  interrupted run leaves nothing half-written that the skip rule would then keep.
- **Bounded memory**: rows are buffered per model and written with ``bulk_create`` at most
  ``batch_size`` at a time; sale times are spread by arithmetic, never by sorting a list.

Emails use reserved ``.example`` domains and addresses are invented, so no demo row reaches or
describes a real person. Faker supplies the names (uz_UZ and ru_RU for Uzbekistan, az_AZ for
Azerbaijan, en_PK for Pakistan).

The countries, catalogues and account standings it draws from are ``pos.demo_catalogues``; the
generator itself is one cohesive thing.
"""

# Azerbaijani place names spell with the dotless i (U+0131), which the rule takes for a lookalike.
from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.progress import Progress
from policies.models import Organization
from pos.demo_catalogues import (
    BUSINESS_TYPES_BY_ORGANIZATION,
    CATALOGUES,
    CENT,
    CLOSURE_TOPIC,
    COMPANY_WORDS,
    COUNTRIES,
    DEVICE_NAMES,
    FALLBACK_COUNTRY,
    SUPPORT_TOPICS,
    USER_AGENTS,
    Standing,
    ascii_slug,
    between,
    digits,
    int_seed,
    money,
    standing,
)
from pos.models import (
    Account,
    AccountUser,
    BusinessType,
    Device,
    DevicePlatform,
    Invoice,
    Login,
    Payment,
    PaymentMethod,
    Product,
    Sale,
    SaleLine,
    StaffAction,
    StaffActivity,
    SubscriptionPlan,
    SupportChannel,
    SupportMessage,
    UserRole,
)

if TYPE_CHECKING:
    from faker import Faker

DEFAULT_ACCOUNTS = 5
DEFAULT_SALES_PER_ACCOUNT = 50
DEFAULT_BATCH_SIZE = 5_000


class MissingFaker(Exception):
    """Faker, a development dependency, is not installed."""


# --- Progress ------------------------------------------------------------------------------------


# --- Writing in batches --------------------------------------------------------------------------

# Parents before children: writing a model first writes every model before it, so each row's
# foreign keys already point at saved rows.
WRITE_ORDER: tuple[type[models.Model], ...] = (
    Account,
    AccountUser,
    StaffActivity,
    Product,
    Device,
    Login,
    Sale,
    SaleLine,
    Invoice,
    Payment,
    SupportMessage,
)


@dataclass
class DemoDataReport:
    """What a run wrote: rows and ``bulk_create`` calls per model, and what it skipped."""

    rows: Counter[str] = field(default_factory=Counter)
    batches: Counter[str] = field(default_factory=Counter)
    largest_batch: int = 0
    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    large_subject: Account | None = None
    large_subject_created: bool = False


class BatchWriter:
    """Buffer new rows per model and insert them with ``bulk_create``, ``batch_size`` at a time."""

    def __init__(
        self,
        *,
        batch_size: int,
        report: DemoDataReport,
        on_written: Callable[[type[models.Model], int], None],
    ) -> None:
        self._batch_size = batch_size
        self._report = report
        self._on_written = on_written
        self._buffers: dict[type[models.Model], list[models.Model]] = {m: [] for m in WRITE_ORDER}

    def add(self, row: models.Model) -> None:
        buffer = self._buffers[type(row)]
        buffer.append(row)
        if len(buffer) >= self._batch_size:
            self.flush(up_to=type(row))

    def flush(self, up_to: type[models.Model] | None = None) -> None:
        """Write the buffered rows of every model up to ``up_to`` (all models by default)."""
        for model in WRITE_ORDER:
            rows = self._buffers[model]
            if rows:
                model._default_manager.bulk_create(rows, batch_size=self._batch_size)
                name = model.__name__
                self._report.rows[name] += len(rows)
                self._report.batches[name] += 1
                self._report.largest_batch = max(self._report.largest_batch, len(rows))
                self._buffers[model] = []
                self._on_written(model, len(rows))
            if model is up_to:
                return


# --- The generator -------------------------------------------------------------------------------


class _OrganizationData:
    """The random streams and name pools of one organisation's demo data."""

    def __init__(
        self, organization: Organization, *, seed: int, stream: str, now: datetime
    ) -> None:
        try:
            from faker import Faker
        except ImportError as error:  # pragma: no cover - Faker ships with the dev dependencies
            raise MissingFaker(
                _("Generating demo data needs Faker, a development dependency: run `uv sync`.")
            ) from error
        self.organization = organization
        self.now = now
        self.today = now.astimezone(organization.tz).date()
        # Reproducible on purpose: demo data, never secrets.
        self.rng = random.Random(int_seed(seed, organization.slug, stream))  # noqa: S311 - reproducible demo data, no secret  # nosec B311
        self.country = COUNTRIES.get(organization.country.upper(), COUNTRIES[FALLBACK_COUNTRY])
        self.fakers: list[Faker] = []
        for locale in self.country.locales:
            fake = Faker(locale)
            fake.seed_instance(self.rng.getrandbits(64))
            self.fakers.append(fake)
        self.business_types = next(
            (
                types
                for word, types in BUSINESS_TYPES_BY_ORGANIZATION.items()
                if word in organization.slug
            ),
            tuple(BusinessType.values),
        )
        self.used_emails: set[str] = set()
        # Customers who leave a name and phone on a sale (deliveries, loyalty cards) come from a
        # pool, so millions of sales need no more than a few hundred Faker calls.
        self.customers = [(self.person_name(), self.country.phone(self.rng)) for _ in range(200)]

    def fake(self) -> Faker:
        # One single-locale Faker per locale, picked with our own stream: Faker's multi-locale
        # proxy draws the locale from the global random module and would break determinism.
        return self.rng.choice(self.fakers)

    def person(self) -> tuple[str, str]:
        fake = self.fake()
        return fake.first_name(), fake.last_name()

    def person_name(self) -> str:
        first, last = self.person()
        return f"{first} {last}"

    def email(self, first: str, last: str, domain: str) -> str:
        local = ".".join(p for p in (ascii_slug(first), ascii_slug(last)) if p) or "user"
        candidate, number = f"{local}@{domain}", 1
        while candidate in self.used_emails:
            number += 1
            candidate = f"{local}{number}@{domain}"
        self.used_emails.add(candidate)
        return candidate

    def address(self) -> str:
        c = self.country
        return (
            f"{self.rng.choice(c.streets)} {self.rng.randint(1, 180)}, {self.rng.choice(c.cities)}"
        )

    def ip_address(self) -> str:
        prefix = self.rng.choice(self.country.ip_prefixes)
        return f"{prefix}{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"


@dataclass
class _AccountPlan:
    standing: Standing
    created_at: datetime
    last_active: datetime
    licence_paid_until: date
    deleted_at: datetime | None


def _plan_account(data: _OrganizationData, standing: Standing) -> _AccountPlan:
    rng, now, today = data.rng, data.now, data.today
    created_at = now - timedelta(days=rng.randint(420, 1100), seconds=rng.randint(0, 86_399))
    deleted_at: datetime | None = None
    if standing is Standing.CURRENT:
        paid_until = today + timedelta(days=rng.randint(1, 330))
        last_active = now
    elif standing in (Standing.LICENCE_OVERDUE_LONG, Standing.LICENCE_OVERDUE_RECENTLY):
        # Six months is at most 184 days; keep clear of the boundary on both sides.
        days = (
            rng.randint(200, 380)
            if standing is Standing.LICENCE_OVERDUE_LONG
            else rng.randint(10, 150)
        )
        paid_until = today - timedelta(days=days)
        last_active = now - timedelta(days=days - rng.randint(0, 5))
    else:
        days = rng.randint(35, 330) if standing is Standing.DELETED_LONG_AGO else rng.randint(1, 25)
        deleted_at = now - timedelta(days=days, seconds=rng.randint(0, 86_399))
        paid_until = deleted_at.date() + timedelta(days=rng.randint(0, 25))
        last_active = deleted_at
    return _AccountPlan(standing, created_at, last_active, paid_until, deleted_at)


class _Generator:
    def __init__(self, data: _OrganizationData, writer: BatchWriter) -> None:
        self.data = data
        self.writer = writer

    def account(
        self,
        standing: Standing,
        *,
        sales: int,
        owner_email: str | None = None,
        with_minor: bool = False,
    ) -> Account:
        """Queue one account and everything it holds; return the (not yet saved) account."""
        data, rng = self.data, self.data.rng
        plan = _plan_account(data, standing)
        business_type = rng.choice(data.business_types)
        owner_first, owner_last = data.person()
        surname = data.fake().last_name()
        company = f"{surname} {COMPANY_WORDS[business_type]} {data.country.company_suffix}"
        account = Account(
            organization=data.organization,
            company_name=company,
            tax_id=data.country.tax_id(rng),
            registered_address=data.address(),
            business_type=business_type,
            currency=data.country.currency,
            subscription_plan=rng.choice(SubscriptionPlan.values),
            subscription_active=standing is Standing.CURRENT,
            licence_paid_until=plan.licence_paid_until,
            marketing_opt_in=rng.random() < 0.4,
            created_at=plan.created_at,
            deleted_at=plan.deleted_at,
        )
        self.writer.add(account)
        domain = f"{ascii_slug(surname) or 'company'}.example"
        users = self._users(account, plan, owner_first, owner_last, domain, owner_email, with_minor)
        products = self._products(account)
        devices = self._devices(account)
        for user in users:
            self._activity_and_logins(user, devices, plan)
        cashiers = [u for u in users if u.role != UserRole.MANAGER]
        self._sales(account, plan, products, cashiers, sales)
        self._invoices(account, plan)
        self._support(account, users, plan)
        return account

    def _users(
        self,
        account: Account,
        plan: _AccountPlan,
        owner_first: str,
        owner_last: str,
        domain: str,
        owner_email: str | None,
        with_minor: bool,
    ) -> list[AccountUser]:
        data, rng = self.data, self.data.rng
        owner = AccountUser(
            account=account,
            first_name=owner_first,
            last_name=owner_last,
            email=owner_email or data.email(owner_first, owner_last, domain),
            phone=data.country.phone(rng),
            role=UserRole.OWNER,
            is_primary_contact=True,
            date_of_birth=self._adult_birthday() if rng.random() < 0.5 else None,
            created_at=plan.created_at,
        )
        users = [owner]
        cashiers = 4 if account.business_type == BusinessType.FUEL_STATION else 2
        roles = [UserRole.MANAGER] * rng.randint(0, 2) + [UserRole.CASHIER] * rng.randint(
            1, cashiers
        )
        for role in roles:
            first, last = data.person()
            # Staff mostly use personal mailboxes; managers get the company's.
            mail_domain = (
                domain
                if role == UserRole.MANAGER
                else rng.choice(("example.com", "example.net", "example.org"))
            )
            users.append(
                AccountUser(
                    account=account,
                    first_name=first,
                    last_name=last,
                    email=data.email(first, last, mail_domain),
                    phone=data.country.phone(rng) if rng.random() < 0.8 else "",
                    role=role,
                    date_of_birth=self._adult_birthday() if rng.random() < 0.3 else None,
                    created_at=between(rng, plan.created_at, plan.last_active),
                )
            )
        if with_minor:
            # A child's data collected by mistake: the case two policies make promises about.
            users[-1].date_of_birth = data.today - timedelta(days=12 * 365 + rng.randint(0, 300))
        for user in users:
            self.writer.add(user)
        return users

    def _adult_birthday(self) -> date:
        return self.data.today - timedelta(days=self.data.rng.randint(19 * 365, 65 * 365))

    def _products(self, account: Account) -> list[tuple[Product, bool]]:
        """Queue the account's products; return each with whether it is sold by the litre."""
        data, rng = self.data, self.data.rng
        catalogue = CATALOGUES[account.business_type]
        chosen = rng.sample(catalogue, k=max(3, len(catalogue) - rng.randint(0, 3)))
        products = []
        for number, (name, category, dollars, by_litre) in enumerate(chosen, start=1):
            price = Decimal(dollars) * data.country.per_dollar * Decimal(rng.uniform(0.85, 1.25))
            product = Product(
                account=account,
                name=name,
                sku=f"{category[:3].upper()}-{number:04d}",
                price=money(price, data.country.price_step),
                category=category,
            )
            products.append((product, by_litre))
            self.writer.add(product)
        return products

    def _devices(self, account: Account) -> list[Device]:
        rng = self.data.rng
        devices = []
        for number in range(1, rng.randint(1, 3) + 1):
            platform = rng.choice(DevicePlatform.values) if number > 1 else DevicePlatform.ANDROID
            device = Device(
                account=account,
                name=f"{DEVICE_NAMES[platform]} {number}",
                platform=platform,
                identifier=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            )
            devices.append(device)
            self.writer.add(device)
        return devices

    def _activity_and_logins(
        self, user: AccountUser, devices: list[Device], plan: _AccountPlan
    ) -> None:
        data, rng = self.data, self.data.rng
        for _n in range(rng.randint(3, 12)):
            self.writer.add(
                StaffActivity(
                    user=user,
                    action=rng.choice(StaffAction.values),
                    at=between(rng, user.created_at, plan.last_active),
                )
            )
        for _n in range(rng.randint(2, 8)):
            device = rng.choice(devices)
            self.writer.add(
                Login(
                    user=user,
                    device=device,
                    at=between(rng, user.created_at, plan.last_active),
                    ip_address=data.ip_address(),
                    user_agent=rng.choice(USER_AGENTS[device.platform]),
                )
            )

    def _sales(
        self,
        account: Account,
        plan: _AccountPlan,
        products: list[tuple[Product, bool]],
        cashiers: list[AccountUser],
        count: int,
    ) -> None:
        data, rng = self.data, self.data.rng
        span = (plan.last_active - plan.created_at) / max(count, 1)
        with_customer = 0.1 if account.business_type == BusinessType.FUEL_STATION else 0.25
        for index in range(count):
            # Evenly spread with jitter: times rise with the sale number and need no sorting.
            created_at = plan.created_at + span * (index + rng.random())
            lines = []
            total = Decimal(0)
            for product, by_litre in rng.sample(products, k=min(len(products), rng.randint(1, 4))):
                if by_litre:
                    quantity = Decimal(rng.randint(500, 6_000)) / 100
                else:
                    quantity = Decimal(rng.choice((1, 1, 1, 2, 2, 3)))
                total += quantity * product.price
                lines.append((product, quantity))
            customer_name, customer_phone = (
                rng.choice(data.customers) if rng.random() < with_customer else ("", "")
            )
            sale = Sale(
                account=account,
                cashier=rng.choice(cashiers),
                number=f"S-{index + 1:07d}",
                created_at=created_at,
                total=total.quantize(CENT, rounding=ROUND_HALF_UP),
                customer_name=customer_name,
                customer_phone=customer_phone,
            )
            self.writer.add(sale)
            for product, quantity in lines:
                self.writer.add(
                    SaleLine(
                        sale=sale, product=product, quantity=quantity, unit_price=product.price
                    )
                )

    def _invoices(self, account: Account, plan: _AccountPlan) -> None:
        data, rng = self.data, self.data.rng
        amount = data.country.plan_prices[account.subscription_plan]
        rate = data.country.vat_rate
        tax = (amount * rate / (1 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
        end = plan.deleted_at or data.now
        issued_at = plan.created_at
        month = 0
        # Monthly, while the merchant keeps paying, plus the one invoice left unpaid after that.
        while issued_at <= end:
            month += 1
            invoice = Invoice(
                account=account,
                number=f"INV-{issued_at:%Y%m}-{month:03d}",
                issued_at=issued_at,
                amount=amount,
                tax_amount=tax,
                currency=data.country.currency,
            )
            self.writer.add(invoice)
            paid = issued_at.date() <= account.licence_paid_until
            if paid:
                method = rng.choice(
                    (PaymentMethod.CARD, PaymentMethod.CARD, PaymentMethod.BANK_TRANSFER)
                )
                card = method == PaymentMethod.CARD
                self.writer.add(
                    Payment(
                        invoice=invoice,
                        paid_at=issued_at + timedelta(hours=rng.randint(1, 120)),
                        amount=amount,
                        method=method,
                        card_brand=rng.choice(("Visa", "Mastercard", "Uzcard", "Humo"))
                        if card
                        else "",
                        card_last4=digits(rng, 4) if card else "",
                    )
                )
            else:
                return
            issued_at += timedelta(days=30)

    def _support(self, account: Account, users: list[AccountUser], plan: _AccountPlan) -> None:
        rng = self.data.rng
        for _n in range(rng.randint(0, 3)):
            subject, body = rng.choice(SUPPORT_TOPICS)
            self.writer.add(
                SupportMessage(
                    account=account,
                    user=rng.choice(users),
                    sent_at=between(rng, plan.created_at, plan.last_active),
                    channel=rng.choice(SupportChannel.values),
                    subject=subject,
                    body=body,
                )
            )
        if plan.deleted_at is not None:
            subject, body = CLOSURE_TOPIC
            self.writer.add(
                SupportMessage(
                    account=account,
                    user=users[0],
                    sent_at=plan.deleted_at - timedelta(hours=rng.randint(1, 48)),
                    channel=SupportChannel.EMAIL,
                    subject=subject,
                    body=body,
                )
            )


def large_subject_email(organization: Organization) -> str:
    """Return the owner email that identifies an organisation's large benchmark subject."""
    return f"large-subject@{organization.slug}.example"


def demo_data_generate(
    *,
    organizations: Iterable[Organization],
    accounts: int = DEFAULT_ACCOUNTS,
    sales_per_account: int = DEFAULT_SALES_PER_ACCOUNT,
    seed: int = 0,
    large_subject_sales: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DemoDataReport:
    """Generate demo data for each organisation without accounts; return what was written.

    Dates are relative to ``now`` (the current time by default). With ``large_subject_sales``,
    also give the first organisation one account with that many sales, unless it already has
    one (see ``large_subject_email``). Each organisation, and the large subject, is written in
    its own transaction.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    moment = (now or timezone.now()).astimezone(UTC)
    report = DemoDataReport()
    chosen = list(organizations)

    def on_written(model: type[models.Model], count: int) -> None:
        if progress is not None and model is Sale:
            progress.advance(count)

    writer = BatchWriter(batch_size=batch_size, report=report, on_written=on_written)
    for organization in chosen:
        with transaction.atomic():
            # Two runs at once: the second waits here, then finds the accounts and skips.
            _lock(organization)
            if Account.objects.filter(organization=organization).exists():
                report.skipped.append(organization.slug)
                continue
            data = _OrganizationData(organization, seed=seed, stream="accounts", now=moment)
            generator = _Generator(data, writer)
            if progress is not None:
                progress.start(
                    _("%(organization)s: sales") % {"organization": organization.name},
                    accounts * sales_per_account,
                )
            for index in range(accounts):
                generator.account(
                    standing(index, data.rng), sales=sales_per_account, with_minor=index == 0
                )
            writer.flush()
        if progress is not None:
            progress.finish()
        report.generated.append(organization.slug)

    if large_subject_sales > 0 and chosen:
        _large_subject(chosen[0], large_subject_sales, seed, moment, writer, report, progress)
    return report


def _large_subject(
    organization: Organization,
    sales: int,
    seed: int,
    now: datetime,
    writer: BatchWriter,
    report: DemoDataReport,
    progress: Progress | None,
) -> None:
    email = large_subject_email(organization)
    with transaction.atomic():
        _lock(organization)
        existing = Account.objects.filter(organization=organization, users__email=email).first()
        if existing is not None:
            report.large_subject = existing
            return
        data = _OrganizationData(organization, seed=seed, stream="large-subject", now=now)
        if progress is not None:
            progress.start(_("large subject: sales"), sales)
        generator = _Generator(data, writer)
        account = generator.account(Standing.CURRENT, sales=sales, owner_email=email)
        writer.flush()
    if progress is not None:
        progress.finish()
    report.large_subject = account
    report.large_subject_created = True


def _lock(organization: Organization) -> None:
    """Hold the organisation's row until the transaction ends (PostgreSQL; SQLite locks all)."""
    list(Organization.objects.select_for_update().filter(pk=organization.pk).values_list("pk"))
