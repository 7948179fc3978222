"""The rows a legal hold on a subject or an account keeps, per registered model.

A hold on a subject keeps every row the registry finds for their email. A hold on an account
keeps the account rows the host's finder resolves (``registry.account_register``) and every row
whose retention anchor leads to one of them (an account's users, sales, invoices...).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from requests_app.holds import active_holds
from requests_app.models import LegalHold
from subject_data.registry import Registration, SubjectIdentity, registry


def hold_rows(registration: Registration, hold: LegalHold) -> QuerySet[Any] | None:
    """The rows of ``registration`` that ``hold`` keeps; ``None`` when it keeps none of them."""
    found: Q | None = None
    manager = registration.model._base_manager
    if hold.subject_email:
        rows = registration.rows(
            SubjectIdentity(organization_id=hold.organization_id, email=hold.subject_email)
        )
        found = Q(pk__in=rows.values("pk"))
    if hold.account_identifier:
        for account_model, accounts in registry.accounts(
            hold.organization_id, hold.account_identifier
        ).items():
            condition = _through_account(registration, account_model, accounts)
            if condition is not None:
                found = condition if found is None else found | condition
    if found is None:
        return None
    return manager.filter(found, registration.in_organization(hold.organization_id))


def _through_account(
    registration: Registration, account_model: type[Any], accounts: QuerySet[Any]
) -> Q | None:
    if registration.model is account_model:
        return Q(pk__in=accounts.values("pk"))
    anchor = registration.retention_anchor
    if not anchor:
        return None
    current: Any = registration.model
    for part in anchor.split("__"):
        current = current._meta.get_field(part).related_model
    if current is not account_model:
        return None
    return Q(**{f"{anchor}__in": accounts.values("pk")})


def held_rows(
    registration: Registration, organization_id: int
) -> list[tuple[LegalHold, QuerySet[Any]]]:
    """Each active hold of the organisation with the rows of ``registration`` it keeps."""
    held = []
    for hold in active_holds(organization_id).order_by("pk"):
        rows = hold_rows(registration, hold)
        if rows is not None:
            held.append((hold, rows))
    return held


def held_filter(registration: Registration, organization_id: int) -> Q | None:
    """A filter matching every row of ``registration`` an active hold keeps (``None``: none)."""
    found: Q | None = None
    for _hold, rows in held_rows(registration, organization_id):
        condition = Q(pk__in=rows.values("pk"))
        found = condition if found is None else found | condition
    return found
