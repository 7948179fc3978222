"""Admin pages for the sample POS data: for looking, not editing.

The POS stands for the host's own system; the tracker changes its rows only through the
subject-data registry (corrections, erasure, retention), never by hand in these pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

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
)


class ReadOnlyAdmin(admin.ModelAdmin):
    # Counting millions of sales on every page load is what makes admin lists slow.
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AccountUserInline(ReadOnlyInline):
    model = AccountUser
    fields = ["first_name", "last_name", "email", "phone", "role", "is_primary_contact"]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = [
        "company_name",
        "organization",
        "business_type",
        "subscription_plan",
        "subscription_active",
        "licence_paid_until",
        "deleted_at",
    ]
    list_filter = ["organization", "business_type", "subscription_active", "subscription_plan"]
    search_fields = ["company_name", "tax_id", "users__email"]
    date_hierarchy = "created_at"
    list_select_related = ["organization"]
    inlines = [AccountUserInline]


@admin.register(AccountUser)
class AccountUserAdmin(ReadOnlyAdmin):
    list_display = ["email", "first_name", "last_name", "role", "is_primary_contact", "account"]
    list_filter = ["role", "account__organization"]
    search_fields = ["email", "first_name", "last_name", "phone"]
    list_select_related = ["account"]


@admin.register(StaffActivity)
class StaffActivityAdmin(ReadOnlyAdmin):
    list_display = ["at", "action", "user"]
    list_filter = ["action"]
    search_fields = ["user__email"]
    list_select_related = ["user"]


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ["name", "sku", "price", "category", "account"]
    search_fields = ["name", "sku", "account__company_name"]
    list_select_related = ["account"]


class SaleLineInline(ReadOnlyInline):
    model = SaleLine
    fields = ["product", "quantity", "unit_price"]


@admin.register(Sale)
class SaleAdmin(ReadOnlyAdmin):
    list_display = ["number", "created_at", "total", "account", "cashier", "customer_name"]
    search_fields = ["number", "account__company_name", "customer_phone"]
    list_select_related = ["account", "cashier"]
    inlines = [SaleLineInline]


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["paid_at", "amount", "method", "card_brand", "card_last4"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number", "issued_at", "amount", "tax_amount", "currency", "account"]
    search_fields = ["number", "account__company_name", "account__tax_id"]
    list_select_related = ["account"]
    inlines = [PaymentInline]


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ["name", "platform", "identifier", "account"]
    list_filter = ["platform"]
    search_fields = ["identifier", "account__company_name"]
    list_select_related = ["account"]


@admin.register(Login)
class LoginAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "ip_address", "device"]
    search_fields = ["user__email", "ip_address"]
    list_select_related = ["user", "device"]


@admin.register(SupportMessage)
class SupportMessageAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "subject", "channel", "account", "user"]
    list_filter = ["channel"]
    search_fields = ["subject", "account__company_name", "user__email"]
    list_select_related = ["account", "user"]
