"""The sample point-of-sale system: the business data that subject requests act on.

It stands for the host's own models and is shaped by what the five seed policies say they hold:
account and business information (company name, tax id, address, subscription and licence),
contacts (name, email, phone), staff and their activity, products and menu items, sales with
line items, invoices and payments (never a full card number), devices and logins (IP address,
browser), and messages to support. ``Account.organization`` is the vendor (a ``policies``
organisation) whose customer the account is.

Deletion, chosen so that an account's data can later be removed in batches, children first:

- ``Account.organization`` is PROTECT: removing a vendor must never silently take all of its
  customers' data with it.
- Everything operational hangs off the account with CASCADE (users, their activity and logins,
  products, sales and their lines, devices, support messages), so an account's data forms one
  tree a purge can walk leaves first.
- ``SaleLine.product`` is RESTRICT: a product that has been sold cannot be deleted on its own
  (its sales would lose their meaning), yet deleting the whole account, which takes both the
  sales and the products, is allowed.
- References that are only context (``Sale.cashier``, ``Login.device``, ``SupportMessage.user``)
  are SET_NULL, so removing a contact keeps the business's sales history intact.
- ``Invoice.account`` is PROTECT. Invoices and their payments are accounting records that the
  seed policies keep beyond account deletion ("accounting, tax or other statutory obligations").
  The database therefore refuses to delete an account that still has invoices: erasure and
  retention (issue 7) must decide for its invoices explicitly (retain under the named legal
  basis, delete once the hold ends) and anonymise the account meanwhile. Relaxing this to
  CASCADE later is a one-line migration; a CASCADE that had already destroyed tax records could
  not be undone. ``Payment.invoice`` is CASCADE: a payment lives and dies with its invoice.

Django applies ``on_delete`` in Python; the database constraints themselves only refuse orphans,
so batched raw deletes must go children first as well.

One cohesive thing, and so one module: the sample host's schema.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.models import Organization

validate_card_last4 = RegexValidator(
    r"^[0-9]{4}\Z",
    _("Enter exactly the last four digits of the card, never the full number."),
    code="invalid_card_last4",
)


class BusinessType(models.TextChoices):
    RESTAURANT = "restaurant", _("Restaurant")
    CAFE = "cafe", _("Café")
    RETAIL = "retail", _("Retail shop")
    GROCERY = "grocery", _("Grocery")
    PHARMACY = "pharmacy", _("Pharmacy")
    FUEL_STATION = "fuel_station", _("Fuel station")


class SubscriptionPlan(models.TextChoices):
    START = "start", _("Start")
    BUSINESS = "business", _("Business")
    PREMIUM = "premium", _("Premium")


class UserRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Manager")
    CASHIER = "cashier", _("Cashier")


class StaffAction(models.TextChoices):
    SHIFT_OPENED = "shift_opened", _("Opened a shift")
    SHIFT_CLOSED = "shift_closed", _("Closed a shift")
    SALE_VOIDED = "sale_voided", _("Voided a sale")
    REFUND_ISSUED = "refund_issued", _("Issued a refund")
    DISCOUNT_APPLIED = "discount_applied", _("Applied a discount")
    PRICE_CHANGED = "price_changed", _("Changed a price")
    STOCK_ADJUSTED = "stock_adjusted", _("Adjusted stock")


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    CASH = "cash", _("Cash")


class DevicePlatform(models.TextChoices):
    ANDROID = "android", _("Android")
    IOS = "ios", _("iOS")
    WINDOWS = "windows", _("Windows")
    WEB = "web", _("Web browser")


class SupportChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    TELEGRAM = "telegram", _("Telegram")


class AccountQuerySet(models.QuerySet["Account"]):
    def deleted(self) -> AccountQuerySet:
        return self.filter(deleted_at__isnull=False)

    def not_deleted(self) -> AccountQuerySet:
        return self.filter(deleted_at__isnull=True)

    def licence_overdue(self, on: date) -> AccountQuerySet:
        """Accounts whose licence was paid only up to a day before ``on``."""
        return self.filter(licence_paid_until__lt=on)


class Account(models.Model):
    """A merchant's business account with the vendor (the organisation)."""

    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="pos_accounts",
        verbose_name=_("organisation"),
    )
    company_name = models.CharField(_("company name"), max_length=200)
    tax_id = models.CharField(_("tax id"), max_length=32, db_index=True)
    registered_address = models.TextField(_("registered address"), blank=True)
    business_type = models.CharField(_("business type"), max_length=20, choices=BusinessType)
    currency = models.CharField(
        _("currency"), max_length=3, help_text=_("ISO 4217 code of the prices the merchant uses.")
    )
    subscription_plan = models.CharField(
        _("subscription plan"), max_length=20, choices=SubscriptionPlan
    )
    subscription_active = models.BooleanField(_("subscription active"), default=True)
    licence_paid_until = models.DateField(_("licence paid until"))
    marketing_opt_in = models.BooleanField(
        _("marketing opt-in"),
        default=False,
        help_text=_("The merchant agreed to receive marketing messages."),
    )
    processing_restricted = models.BooleanField(
        _("processing restricted"),
        default=False,
        help_text=_("The owner asked to restrict processing: the data is kept, not used."),
    )
    # Not auto_now_add: imported and generated accounts carry their real creation time.
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    deleted_at = models.DateTimeField(
        _("deleted at"),
        null=True,
        blank=True,
        help_text=_("When the merchant deleted the account; its data is then due for removal."),
    )

    objects = AccountQuerySet.as_manager()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        indexes = [
            # The retention triggers: "deleted 30 days ago", "licence overdue for 6 months".
            models.Index(fields=["organization", "deleted_at"], name="pos_account_org_deleted"),
            models.Index(
                fields=["organization", "licence_paid_until"], name="pos_account_org_licence"
            ),
            models.Index(fields=["created_at"], name="pos_account_created"),
        ]

    def __str__(self) -> str:
        return self.company_name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class AccountUser(models.Model):
    """A person who works with the account: its owner, managers and cashiers (the contacts)."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="users", verbose_name=_("account")
    )
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    email = models.EmailField(_("email"), db_index=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True)
    role = models.CharField(_("role"), max_length=20, choices=UserRole)
    is_primary_contact = models.BooleanField(_("primary contact"), default=False)
    # Optional; kept because two policies make promises about minors (not for under-18s; a child
    # under 13 collected by mistake is deleted promptly).
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    processing_restricted = models.BooleanField(
        _("processing restricted"),
        default=False,
        help_text=_("The person asked to restrict processing: the data is kept, not used."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("account user")
        verbose_name_plural = _("account users")
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(is_primary_contact=True),
                name="pos_accountuser_one_primary_contact",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} <{self.email}>"


class StaffActivity(models.Model):
    """One action a user took in the POS (employee activity, as PumpPOS calls it)."""

    user = models.ForeignKey(
        AccountUser, on_delete=models.CASCADE, related_name="activities", verbose_name=_("user")
    )
    action = models.CharField(_("action"), max_length=30, choices=StaffAction)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("staff activity")
        verbose_name_plural = _("staff activities")
        indexes = [models.Index(fields=["user", "at"], name="pos_staffactivity_user_at")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.at:%Y-%m-%d %H:%M})"


class Product(models.Model):
    """A product, menu item or fuel grade the merchant sells."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="products", verbose_name=_("account")
    )
    name = models.CharField(_("name"), max_length=200)
    sku = models.CharField(_("SKU"), max_length=40)
    price = models.DecimalField(
        _("price"), max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal(0))]
    )
    category = models.CharField(_("category"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.UniqueConstraint(fields=["account", "sku"], name="pos_product_unique_sku"),
        ]

    def __str__(self) -> str:
        return self.name


class Sale(models.Model):
    """A sale (receipt, order) the merchant recorded: operational data the merchant inputs."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="sales", verbose_name=_("account")
    )
    cashier = models.ForeignKey(
        AccountUser,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sales",
        verbose_name=_("cashier"),
    )
    number = models.CharField(_("number"), max_length=32)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    customer_name = models.CharField(_("customer name"), max_length=200, blank=True)
    customer_phone = models.CharField(_("customer phone"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("sale")
        verbose_name_plural = _("sales")
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="pos_sale_unique_number"),
        ]
        indexes = [
            # The unique constraint's index already serves lookups by account alone.
            models.Index(fields=["account", "created_at"], name="pos_sale_account_created"),
            models.Index(fields=["created_at"], name="pos_sale_created"),
        ]

    def __str__(self) -> str:
        return self.number


class SaleLine(models.Model):
    sale = models.ForeignKey(
        Sale, on_delete=models.CASCADE, related_name="lines", verbose_name=_("sale")
    )
    product = models.ForeignKey(
        Product, on_delete=models.RESTRICT, related_name="sale_lines", verbose_name=_("product")
    )
    # Decimal, not integer: fuel is sold by the litre and groceries by weight.
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("sale line")
        verbose_name_plural = _("sale lines")

    def __str__(self) -> str:
        return f"{self.quantity} x {self.unit_price}"


class Invoice(models.Model):
    """An invoice the vendor issued to the account for its subscription: an accounting record."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("account")
    )
    number = models.CharField(_("number"), max_length=32)
    issued_at = models.DateTimeField(_("issued at"))
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, help_text=_("Total, tax included.")
    )
    tax_amount = models.DecimalField(_("tax amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="pos_invoice_unique_number"),
            models.CheckConstraint(
                condition=Q(tax_amount__gte=0, amount__gte=models.F("tax_amount")),
                name="pos_invoice_tax_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "issued_at"], name="pos_invoice_account_issued"),
            models.Index(fields=["issued_at"], name="pos_invoice_issued"),
        ]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    """A payment of an invoice. Only a card's brand and last four digits are ever stored."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="payments", verbose_name=_("invoice")
    )
    paid_at = models.DateTimeField(_("paid at"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    method = models.CharField(_("method"), max_length=20, choices=PaymentMethod)
    card_brand = models.CharField(_("card brand"), max_length=20, blank=True)
    card_last4 = models.CharField(
        _("card last four digits"),
        max_length=4,
        blank=True,
        validators=[validate_card_last4],
        help_text=_("Exactly four digits for card payments; empty otherwise."),
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            # Clopos promises it "never stores full payment card numbers": the database itself
            # refuses anything but four digits on a card payment, and any digits on the others.
            # \A and \Z, unlike ^ and $, mean the same to PostgreSQL and to Python (SQLite).
            models.CheckConstraint(
                condition=(
                    Q(method=PaymentMethod.CARD, card_last4__regex=r"\A[0-9]{4}\Z")
                    | (~Q(method=PaymentMethod.CARD) & Q(card_last4=""))
                ),
                name="pos_payment_card_last4_only",
                violation_error_message=_(
                    "A card payment stores exactly the last four digits; other payments none."
                ),
            ),
        ]
        indexes = [models.Index(fields=["paid_at"], name="pos_payment_paid")]

    def __str__(self) -> str:
        return f"{self.amount} ({self.get_method_display()})"


class Device(models.Model):
    """A terminal, phone or browser the account's users work on."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="devices", verbose_name=_("account")
    )
    name = models.CharField(_("name"), max_length=100)
    platform = models.CharField(_("platform"), max_length=20, choices=DevicePlatform)
    identifier = models.CharField(_("device identifier"), max_length=64)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "identifier"], name="pos_device_unique_identifier"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Login(models.Model):
    user = models.ForeignKey(
        AccountUser, on_delete=models.CASCADE, related_name="logins", verbose_name=_("user")
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="logins",
        verbose_name=_("device"),
    )
    at = models.DateTimeField(_("at"))
    ip_address = models.GenericIPAddressField(_("IP address"))
    user_agent = models.CharField(_("browser (user agent)"), max_length=400, blank=True)

    class Meta:
        verbose_name = _("login")
        verbose_name_plural = _("logins")
        indexes = [
            models.Index(fields=["user", "at"], name="pos_login_user_at"),
            models.Index(fields=["at"], name="pos_login_at"),
        ]

    def __str__(self) -> str:
        return f"{self.ip_address} ({self.at:%Y-%m-%d %H:%M})"


class SupportMessage(models.Model):
    """A message the merchant sent to the vendor's support, sales or marketing team."""

    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="support_messages",
        verbose_name=_("account"),
    )
    user = models.ForeignKey(
        AccountUser,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_messages",
        verbose_name=_("user"),
    )
    sent_at = models.DateTimeField(_("sent at"))
    channel = models.CharField(_("channel"), max_length=20, choices=SupportChannel)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))

    class Meta:
        verbose_name = _("support message")
        verbose_name_plural = _("support messages")
        indexes = [
            models.Index(fields=["account", "sent_at"], name="pos_support_account_sent"),
        ]

    def __str__(self) -> str:
        return self.subject
