from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from policies.models import PolicyVersion
from requests_app.audit import chain_breaks
from requests_app.models import RequestEvent, RequestEventImmutable
from requests_app.workflow import request_mark_verified
from tests.tracker import file_request

pytestmark = pytest.mark.django_db

TABLE = RequestEvent._meta.db_table


def test_the_database_refuses_to_update_an_event(version: PolicyVersion) -> None:
    request = file_request(version)
    event = request.events.get()

    with (
        pytest.raises(IntegrityError, match="audit trail"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {TABLE} SET note = 'edited' WHERE id = %s", [event.pk])  # noqa: S608

    assert RequestEvent.objects.get(pk=event.pk).note == ""


def test_the_database_refuses_to_delete_an_event(version: PolicyVersion) -> None:
    request = file_request(version)

    with (
        pytest.raises(IntegrityError, match="audit trail"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {TABLE} WHERE request_id = %s", [request.pk])  # noqa: S608

    assert RequestEvent.objects.filter(request=request).count() == 1


def test_queryset_updates_are_refused_by_the_database_too(version: PolicyVersion) -> None:
    request = file_request(version)

    with pytest.raises(IntegrityError), transaction.atomic():
        RequestEvent.objects.filter(request=request).update(note="edited")


def test_python_refuses_to_save_or_delete_an_existing_event(version: PolicyVersion) -> None:
    event = file_request(version).events.get()
    event.note = "edited"

    with pytest.raises(RequestEventImmutable):
        event.save()
    with pytest.raises(RequestEventImmutable):
        event.delete()


def test_events_chain_to_the_one_before(version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version))
    first, second = request.events.order_by("sequence")

    assert second.previous_hash == first.hash
    assert request.audit_head == second.hash
    assert request.audit_length == 2
    assert list(chain_breaks()) == []


def test_verify_audit_chain_passes_an_intact_trail(version: PolicyVersion, capsys) -> None:
    request_mark_verified(request=file_request(version))

    call_command("verify_audit_chain")

    assert "intact for 1 request" in capsys.readouterr().out


def _tamper(sql: str, params: list[int]) -> None:
    # What a database superuser could do: switch the trigger off, edit, switch it back on.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def test_verify_audit_chain_finds_an_edited_event_and_fails_with_one_line(
    version: PolicyVersion,
) -> None:
    tampered = request_mark_verified(request=file_request(version, email="a@example.com"))
    request_mark_verified(request=file_request(version, email="b@example.com"))
    first = tampered.events.get(sequence=1)
    _tamper(f"UPDATE {TABLE} SET note = 'nothing happened' WHERE id = %s", [first.pk])  # noqa: S608

    with pytest.raises(CommandError) as failed:
        call_command("verify_audit_chain")

    message = str(failed.value)
    assert "\n" not in message
    assert f"{tampered.reference} event 1" in message
    assert "1 request(s)" in message


def test_verify_audit_chain_finds_a_removed_last_event(version: PolicyVersion) -> None:
    request = request_mark_verified(request=file_request(version))
    _tamper(f"DELETE FROM {TABLE} WHERE request_id = %s AND sequence = 2", [request.pk])  # noqa: S608

    with pytest.raises(CommandError, match=f"{request.reference} event 2: missing"):
        call_command("verify_audit_chain")


def test_verify_audit_chain_exits_non_zero(version: PolicyVersion) -> None:
    request = file_request(version)
    _tamper(f"UPDATE {TABLE} SET kind = 'verified' WHERE request_id = %s", [request.pk])  # noqa: S608

    with pytest.raises(CommandError) as failed:
        call_command("verify_audit_chain", request.reference)

    assert failed.value.returncode == 1
