"""The purge engine: batches, key ranges, phases, resumption, failures and stalled workers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Model
from django.utils import timezone

from policies.models import Organization
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
from retention import purge
from retention.models import PurgeRun, PurgeStep
from retention.purge import (
    batch_run,
    pending_steps,
    run_advance,
    run_execute,
    runs_resume_stalled,
    step_work,
)
from retention.rules import retention_run_start
from retention.scopes import deletion_order
from tests.pos_data import (
    ZPOS_RULE,
    merchant,
    retention_version,
    rule_of,
    surviving,
)

pytestmark = pytest.mark.django_db
TASHKENT = ZoneInfo("Asia/Tashkent")
DUE = datetime(2027, 1, 1, 12, tzinfo=TASHKENT)
AS_OF = date(2027, 3, 1)


def _dataset(organization: Organization) -> None:
    for sales in (5, 3, 0):
        merchant(organization, deleted_at=DUE, sales=sales)
    merchant(organization, deleted_at=DUE, invoices=0)
    merchant(organization, sales=4)
    merchant(organization, deleted_at=datetime(2027, 2, 20, tzinfo=TASHKENT))


def _start(organization: Organization, **kwargs: Any) -> PurgeRun:
    rule = rule_of(retention_version(organization, rules=[ZPOS_RULE]), "account-deleted")
    return retention_run_start(rule=rule, as_of=AS_OF, **kwargs)


def _anonymised() -> set[int]:
    return set(
        Account.objects.filter(company_name__startswith="erased-").values_list("pk", flat=True)
    )


@pytest.fixture
def expected(zpos: Organization) -> tuple[dict[str, set[int]], dict[str, Any], set[int]]:
    """The rows, totals and anonymised accounts an uninterrupted run leaves: computed by running
    one, then undone by the test's transaction savepoint."""
    from django.db import transaction

    _dataset(zpos)
    outcome: dict[str, Any] = {}
    with transaction.atomic():
        run = run_execute(_start(zpos))
        outcome["rows"], outcome["totals"], outcome["anonymised"] = (
            surviving(),
            run.totals,
            _anonymised(),
        )
        transaction.set_rollback(True)
    return outcome["rows"], outcome["totals"], outcome["anonymised"]


def test_children_are_emptied_before_the_models_they_refer_to() -> None:
    order = deletion_order(
        [
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
        ]
    )

    def before(child: type[Model], parent: type[Model]) -> bool:
        return order.index(child) < order.index(parent)

    assert before(SaleLine, Sale)
    assert before(SaleLine, Product)
    assert before(Sale, AccountUser)
    assert before(Sale, Account)
    assert before(Payment, Invoice)
    assert before(Invoice, Account)
    assert before(Login, Device)
    assert before(Login, AccountUser)
    assert before(SupportMessage, AccountUser)
    assert before(AccountUser, Account)
    assert order[-1] is Account


def test_a_run_stopped_after_any_batch_ends_like_an_uninterrupted_one(
    zpos: Organization, expected: tuple[dict[str, set[int]], dict[str, Any], set[int]]
) -> None:
    rows, totals, anonymised = expected
    run = _start(zpos, batch_size=1)
    # A worker does a few batches of the first step and dies (nothing more of it happens).
    first = pending_steps(run)[0]
    for _ in range(2):
        batch_run(first)

    run_execute(run)

    run.refresh_from_db()
    assert surviving() == rows
    assert run.totals == totals
    assert _anonymised() == anonymised
    assert PurgeStep.objects.get(pk=first).rows == totals["pos.saleline"]["deleted"]


def test_a_finished_run_executed_again_changes_nothing(zpos: Organization) -> None:
    _dataset(zpos)
    run = run_execute(_start(zpos))
    rows, totals = surviving(), run.totals

    for step in PurgeStep.objects.filter(run=run):
        assert batch_run(step.pk) == (0, True)
    run_execute(run)

    run.refresh_from_db()
    assert surviving() == rows
    assert run.totals == totals


def test_large_models_split_into_key_ranges_that_finish_in_any_order(
    zpos: Organization,
    settings: Any,
    expected: tuple[dict[str, set[int]], dict[str, Any], set[int]],
) -> None:
    rows, totals, _anonymised_accounts = expected
    settings.PURGE_SLICE_ROWS = 2
    run = _start(zpos, batch_size=1)
    sales = PurgeStep.objects.filter(run=run, model_label="pos.sale").order_by("pk_from")
    assert sales.count() >= 4
    assert all(a.pk_to < b.pk_from for a, b in itertools.pairwise(sales))

    # Every phase's steps run last range first, as independent workers might take them.
    while not PurgeRun.objects.get(pk=run.pk).is_finished:
        for step_id in reversed(pending_steps(PurgeRun.objects.get(pk=run.pk))):
            step_work(step_id)
        run_advance(run.pk)

    assert surviving() == rows
    assert PurgeRun.objects.get(pk=run.pk).totals == totals


def test_a_phase_does_not_start_while_a_step_of_the_one_before_is_unfinished(
    zpos: Organization,
) -> None:
    _dataset(zpos)
    run = _start(zpos)
    first, *_ = pending_steps(run)
    position = run.position

    assert run_advance(run.pk) == []
    step_work(first)
    following = run_advance(run.pk)

    run.refresh_from_db()
    assert run.position > position
    assert following == pending_steps(run)


def test_a_failed_batch_changes_nothing_and_records_its_error(
    zpos: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dataset(zpos)
    run = _start(zpos)
    step_id = pending_steps(run)[0]
    before = surviving()
    real_run = purge.StepStatements.run

    def apply_then_crash(statements: Any, lower: int, upper: int) -> int:
        real_run(statements, lower, upper)
        raise RuntimeError("the worker lost its database connection")

    monkeypatch.setattr(purge.StepStatements, "run", apply_then_crash)
    with pytest.raises(RuntimeError):
        step_work(step_id)

    step = PurgeStep.objects.get(pk=step_id)
    assert surviving() == before
    assert (step.cursor, step.rows, step.finished_at) == (None, 0, None)
    assert "lost its database connection" in step.last_error
    monkeypatch.setattr(purge.StepStatements, "run", real_run)
    run_execute(run)
    assert PurgeStep.objects.get(pk=step_id).last_error == ""


def test_a_row_still_referred_to_by_records_that_stay_is_kept(zpos: Organization) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    held = merchant(zpos, deleted_at=DUE)

    run = run_execute(retention_run_start(rule=rule, as_of=AS_OF))

    (account_id,) = held["pos.account"]
    assert Account.objects.filter(pk=account_id).exists()
    assert run.totals["pos.account"] == {"deleted": 0, "anonymised": 1, "kept": 1}


def test_stalled_steps_are_taken_over_and_the_run_finished(
    zpos: Organization,
    django_capture_on_commit_callbacks: Callable[..., Any],
    expected: tuple[dict[str, set[int]], dict[str, Any], set[int]],
) -> None:
    rows, totals, _anonymised_accounts = expected
    run = _start(zpos, batch_size=2)
    step_id = pending_steps(run)[0]
    batch_run(step_id)
    # The worker died a while ago: its step stopped moving.
    long_ago = timezone.now() - purge.stall_after() - timedelta(minutes=1)
    PurgeRun.objects.filter(pk=run.pk).update(started_at=long_ago)
    PurgeStep.objects.filter(pk=step_id).update(heartbeat_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queued = runs_resume_stalled()

    assert queued >= 1
    assert callbacks
    run.refresh_from_db()
    assert run.is_finished
    assert surviving() == rows
    assert run.totals == totals


def test_a_run_whose_phase_finished_but_was_not_advanced_is_moved_on(
    zpos: Organization, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    _dataset(zpos)
    run = _start(zpos)
    for step_id in pending_steps(run):
        step_work(step_id)  # ... and the worker died before advancing the run
    PurgeRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - purge.stall_after() - timedelta(minutes=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        runs_resume_stalled()

    assert PurgeRun.objects.get(pk=run.pk).is_finished


def test_sparse_due_rows_are_batched_by_count_not_by_empty_key_ranges(zpos: Organization) -> None:
    rule = rule_of(retention_version(zpos, rules=[ZPOS_RULE]), "account-deleted")
    due = merchant(zpos, deleted_at=DUE, sales=0)
    stays = merchant(zpos, sales=0)
    (due_account,) = due["pos.account"]
    (staying_account,) = stays["pos.account"]
    # One due sale in every five keys.
    Sale.objects.bulk_create(
        Sale(
            account_id=due_account if n % 5 == 0 else staying_account,
            number=f"N-{n}",
            total="1.00",
        )
        for n in range(200)
    )

    run = run_execute(retention_run_start(rule=rule, as_of=AS_OF, batch_size=4))

    step = PurgeStep.objects.get(run=run, model_label="pos.sale")
    assert step.rows == 40
    assert step.batches <= 40 // 4 + 2
    assert not Sale.objects.filter(account_id=due_account).exists()
    assert Sale.objects.filter(account_id=staying_account).count() == 160


def test_a_run_with_nothing_due_is_finished_when_dispatched(zpos: Organization) -> None:
    run = _start(zpos)  # no merchant at all

    assert purge.run_dispatch(run) == []

    run.refresh_from_db()
    assert run.is_finished
    assert run.total("deleted") == 0
