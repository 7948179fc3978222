"""Where the POS keeps personal data: the registrations of every POS model.

Who the subject is: a person with a user (``AccountUser``) whose email matches the one the
subject proved on their request, in the organisation the request was made to.

- **Their own, person-level data** (their user row, their staff activity and logins, the support
  messages they wrote) is found through that user, whatever their role.
- **The account's data** (the business details, products, sales, invoices and payments, devices,
  support messages) belongs to the merchant: it is found through the accounts the person *owns*
  (owner role or primary contact). A cashier's request does not hand them the shop's sales, and an
  owner's does not hand them the employees' logins (their IP addresses) or activity.

Erasure: operational data is deleted; the account row is anonymised instead, because invoices
refer to it and invoices and payments are accounting records retained under a legal basis (the
policy version's retention exemption may name a longer or shorter period; the default here is
what the seeds use). Every model follows the account's retention clock (account deleted, licence
overdue).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from policies.deadlines import Period
from policies.models import DataCategory, PeriodUnit, RetentionTrigger
from pos.models import (
    Account,
    AccountUser,
    Device,
    Invoice,
    Login,
    Payment,
    Product,
    Sale,
    SaleLine,
    StaffActivity,
    SupportMessage,
    UserRole,
)
from subject_data.registry import ByEmail, Erasure, SubjectIdentity, Via, registry

ACCOUNT_TRIGGERS = (RetentionTrigger.ACCOUNT_DELETED, RetentionTrigger.LICENCE_OVERDUE)
ACCOUNTING_RECORDS = Erasure.retain(
    legal_basis="Accounting and tax record-keeping obligations",
    period=Period(60, PeriodUnit.MONTHS),
)


def owned_accounts(identity: SubjectIdentity) -> QuerySet[Account]:
    """The accounts the subject owns or is the primary contact of."""
    owners = (
        registry.get(AccountUser)
        .rows(identity)
        .filter(Q(role=UserRole.OWNER) | Q(is_primary_contact=True))
    )
    return Account.objects.filter(pk__in=owners.values("account_id"))


def support_messages(identity: SubjectIdentity) -> QuerySet[SupportMessage]:
    """Messages sent from the subject's accounts, and those the subject wrote from any account."""
    accounts = registry.get(Account).rows(identity).values("pk")
    users = registry.get(AccountUser).rows(identity).values("pk")
    return SupportMessage.objects.filter(Q(account__in=accounts) | Q(user__in=users))


registry.register(
    AccountUser,
    category=DataCategory.CONTACT,
    subject=ByEmail("email"),
    fields=(
        "account",
        "first_name",
        "last_name",
        "email",
        "phone",
        "role",
        "is_primary_contact",
        "date_of_birth",
        "created_at",
    ),
    correctable=("first_name", "last_name", "email", "phone", "date_of_birth"),
    organization="account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="account",
    portable=True,
)
registry.register(
    Account,
    category=DataCategory.BUSINESS,
    subject=owned_accounts,
    fields=(
        "company_name",
        "tax_id",
        "registered_address",
        "business_type",
        "currency",
        "subscription_plan",
        "subscription_active",
        "licence_paid_until",
        "marketing_opt_in",
        "created_at",
        "deleted_at",
    ),
    correctable=("company_name", "tax_id", "registered_address"),
    organization="organization",
    erasure=Erasure.anonymise("company_name", "tax_id", "registered_address"),
    retention_triggers=ACCOUNT_TRIGGERS,
    portable=True,
)
registry.register(
    StaffActivity,
    category=DataCategory.TECHNICAL,
    subject=Via("user", AccountUser),
    fields=("user", "action", "at"),
    organization="user__account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="user__account",
    portable=True,
)
registry.register(
    Login,
    category=DataCategory.TECHNICAL,
    subject=Via("user", AccountUser),
    fields=("user", "device", "at", "ip_address", "user_agent"),
    organization="user__account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="user__account",
    portable=True,
)
registry.register(
    Device,
    category=DataCategory.TECHNICAL,
    subject=Via("account", Account),
    fields=("name", "platform", "identifier"),
    organization="account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="account",
    portable=True,
)
registry.register(
    Product,
    category=DataCategory.TRANSACTION,
    subject=Via("account", Account),
    fields=("name", "sku", "price", "category"),
    correctable=("name", "sku", "price", "category"),
    organization="account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="account",
    portable=True,
)
registry.register(
    Sale,
    category=DataCategory.TRANSACTION,
    subject=Via("account", Account),
    fields=("number", "created_at", "total", "cashier", "customer_name", "customer_phone"),
    organization="account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="account",
    portable=True,
)
registry.register(
    SaleLine,
    category=DataCategory.TRANSACTION,
    subject=Via("sale", Sale),
    fields=("sale", "product", "quantity", "unit_price"),
    organization="sale__account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="sale__account",
    portable=True,
)
# Invoices are documents the vendor issues, not data the merchant provided: access, not
# portability. Payments are the merchant's own transactions with the vendor.
registry.register(
    Invoice,
    category=DataCategory.PAYMENT,
    subject=Via("account", Account),
    fields=("number", "issued_at", "amount", "tax_amount", "currency"),
    organization="account__organization",
    erasure=ACCOUNTING_RECORDS,
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="account",
    portable=False,
)
registry.register(
    Payment,
    category=DataCategory.PAYMENT,
    subject=Via("invoice", Invoice),
    fields=("invoice", "paid_at", "amount", "method", "card_brand", "card_last4"),
    organization="invoice__account__organization",
    erasure=ACCOUNTING_RECORDS,
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="invoice__account",
    portable=True,
)
registry.register(
    SupportMessage,
    category=DataCategory.COMMUNICATIONS,
    subject=support_messages,
    fields=("account", "user", "sent_at", "channel", "subject", "body"),
    organization="account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="account",
    portable=True,
)
