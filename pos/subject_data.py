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
what the seeds use). An account its invoices are kept for keeps the buyer's name and tax number
(``keeping``). An account other people still work in (not deleted, another user) is *shared*:
erasing one of its users removes that person's own rows and leaves the business's to the others.
A user's date of birth is the registry's birth-date field (the rule for minors reads it), and a
legal hold on an account names it by number or tax id (``accounts_named``). Every model follows
the account's retention clock (account deleted, licence overdue).

Consent and restriction: the account's ``marketing_opt_in`` is its consent to marketing (an
unsubscribe or an objection sets it to false); accounts and users carry a
``processing_restricted`` marker. The account contacts (``account_contacts``) are the owners and
primary contacts of live, unrestricted accounts, told of significant policy changes.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Q, QuerySet

from policies.deadlines import Period
from policies.models import DataCategory, Organization, PeriodUnit, RetentionTrigger
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


def account_contacts(organization_id: int) -> Iterator[tuple[str, str]]:
    """The addresses the POS lists as account contacts (owners and primary contacts of accounts
    not deleted), in the organisation's language; a restricted person or account is left out."""
    language = (
        Organization.objects.filter(pk=organization_id)
        .values_list("default_language", flat=True)
        .first()
    )
    if language is None:
        return
    contacts = (
        AccountUser.objects.filter(
            account__organization_id=organization_id,
            account__deleted_at__isnull=True,
            account__processing_restricted=False,
            processing_restricted=False,
        )
        .filter(Q(role=UserRole.OWNER) | Q(is_primary_contact=True))
        .order_by("pk")
        .values_list("email", flat=True)
    )
    for email in contacts.iterator(chunk_size=1000):
        yield email, language


def shared_accounts(identity: SubjectIdentity) -> QuerySet[Account]:
    """The subject's accounts that other people still use: not deleted, with a user whose email
    is not the subject's. Erasing the subject leaves those accounts' business data (sales,
    products, invoices...) to them; only the subject's own rows go."""
    others = AccountUser.objects.exclude(email__iexact=identity.email)
    return owned_accounts(identity).filter(
        deleted_at__isnull=True, pk__in=others.values("account_id")
    )


def shared_support_messages(identity: SubjectIdentity) -> QuerySet[SupportMessage]:
    """Messages of the shared accounts that someone other than the subject wrote."""
    own = registry.get(AccountUser).rows(identity).values("pk")
    return SupportMessage.objects.filter(
        account__in=shared_accounts(identity).values("pk")
    ).exclude(user__in=own)


def accounts_named(organization_id: int, identifier: str) -> QuerySet[Account]:
    """The accounts a legal hold names: by number (the account's key) or by tax id."""
    found = Q(tax_id=identifier.strip())
    if identifier.strip().isdigit():
        found |= Q(pk=int(identifier.strip()))
    return Account.objects.filter(found, organization_id=organization_id)


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
        "processing_restricted",
        "created_at",
    ),
    correctable=("first_name", "last_name", "email", "phone", "date_of_birth"),
    birth_date="date_of_birth",
    restriction="processing_restricted",
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
        "processing_restricted",
        "created_at",
        "deleted_at",
    ),
    correctable=("company_name", "tax_id", "registered_address"),
    # ZPos: "marketing only with your consent"; BESHQOZON and Clopos: unsubscribe at any time.
    consent={"marketing": "marketing_opt_in"},
    restriction="processing_restricted",
    organization="organization",
    shared=shared_accounts,
    # Invoices are kept for tax law with the buyer's identity: an account they refer to keeps its
    # name and tax number and loses its address.
    erasure=Erasure.anonymise("company_name", "tax_id", "registered_address").keeping(
        "company_name", "tax_id", legal_basis=ACCOUNTING_RECORDS.legal_basis
    ),
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
    shared=shared_support_messages,
    fields=("account", "user", "sent_at", "channel", "subject", "body"),
    organization="account__organization",
    erasure=Erasure.delete(),
    retention_triggers=ACCOUNT_TRIGGERS,
    retention_anchor="account",
    portable=True,
)
registry.contacts_register(account_contacts)
registry.account_register(Account, accounts_named)
