"""Audit checkpoints: signed marks of every chain, outside the database, that catch what is gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import CommandError, call_command

from config.celery import app as celery_app
from policies.models import PolicyVersion
from requests_app.audit import Actor, audit_sign, event_append, event_seal
from requests_app.checkpoints import (
    Checkpoint,
    CheckpointInvalid,
    audit_verify,
    checkpoint_latest,
    checkpoint_read,
    checkpoint_take,
)
from requests_app.models import EventKind, SubjectRequest
from requests_app.roles import AUDITORS
from requests_app.tasks import take_audit_checkpoint
from requests_app.workflow import request_mark_verified
from tests.factories import StaffUserFactory
from tests.requests_app import attacks
from tests.requests_app.attacks import WAYS_PAST_THE_TRIGGER
from tests.tracker import file_request

pytestmark = pytest.mark.django_db


def checkpoint() -> Checkpoint:
    taken, report = checkpoint_take()
    assert report.problems == []
    return taken


def verify_lines(*arguments: str) -> list[str]:
    """Run verify_audit_chain; return its problem lines (none when the trail is intact)."""
    try:
        call_command("verify_audit_chain", *arguments)
    except CommandError as failed:
        return str(failed).splitlines()[1:]
    return []


@pytest.fixture
def verified(version: PolicyVersion) -> SubjectRequest:
    """A request with two events: submitted, verified."""
    return request_mark_verified(request=file_request(version, email="a@example.com"))


def test_a_checkpoint_signs_the_length_and_head_of_every_chain_and_the_count(
    verified: SubjectRequest, version: PolicyVersion
) -> None:
    other = file_request(version, email="b@example.com")

    taken = checkpoint()

    path = Path(django_settings.AUDIT_CHECKPOINT_DIR) / taken.name
    assert path.stat().st_mode & 0o777 == 0o640
    body = json.loads(path.read_text())
    signature = body.pop("signature")
    assert signature == audit_sign(
        body["key_id"], json.dumps(body, sort_keys=True, separators=(",", ":"))
    )
    assert body["requests"] == 2
    assert body["chains"] == [
        {
            "id": verified.pk,
            "reference": verified.reference,
            "length": 2,
            "head": verified.audit_head,
        },
        {"id": other.pk, "reference": other.reference, "length": 1, "head": other.audit_head},
    ]
    assert body["problems"] == []
    assert checkpoint_read(path) == taken


def test_the_trail_verifies_against_the_latest_checkpoint_and_grows_past_it(
    version: PolicyVersion, capsys: Any
) -> None:
    request = file_request(version)
    checkpoint()
    latest = checkpoint()
    request_mark_verified(request=request)
    file_request(version, email="later@example.com")

    call_command("verify_audit_chain")

    out = capsys.readouterr().out
    assert (
        f"intact for 2 request(s); checked against checkpoint {latest.name} (1 request(s))" in out
    )


def test_without_a_checkpoint_the_command_says_so(verified: SubjectRequest, capsys: Any) -> None:
    call_command("verify_audit_chain")

    assert "no checkpoint in" in capsys.readouterr().out


@pytest.mark.parametrize("way", WAYS_PAST_THE_TRIGGER)
def test_a_chain_cut_below_the_checkpoint_is_found(verified: SubjectRequest, way: str) -> None:
    taken = checkpoint()
    with attacks.trigger_off(way) as cursor:
        attacks.truncate(cursor, verified, keep=1)

    assert verify_lines() == [
        f"{verified.reference} event 2: truncated: the trail ends at event 1, "
        f"checkpoint {taken.name} recorded 2"
    ]


def test_a_head_rolled_back_below_the_checkpoint_is_found(verified: SubjectRequest) -> None:
    taken = checkpoint()
    first = verified.events.get(sequence=1)
    with attacks.trigger_off("owner") as cursor:
        attacks.roll_back_head(cursor, verified, 1, first.hash)

    assert verify_lines() == [
        f"{verified.reference} event 2: head rolled back: the request stops at event 1, "
        f"checkpoint {taken.name} recorded 2"
    ]


def test_a_request_deleted_with_its_events_is_found(
    verified: SubjectRequest, version: PolicyVersion
) -> None:
    kept = file_request(version, email="b@example.com")
    taken = checkpoint()
    with attacks.trigger_off("replica") as cursor:
        attacks.delete_request(cursor, verified)

    assert verify_lines() == [
        f"{verified.reference}: deleted (checkpoint {taken.name} recorded its trail at event 2)"
    ]
    assert verify_lines(kept.reference) == []
    assert verify_lines(verified.reference) == [
        f"{verified.reference}: deleted (checkpoint {taken.name} recorded its trail at event 2)"
    ]


def test_a_request_deleted_but_its_events_left_is_one_problem(verified: SubjectRequest) -> None:
    taken = checkpoint()
    with attacks.trigger_off("replica") as cursor:
        attacks.delete_request(cursor, verified, with_events=False)

    assert verify_lines() == [
        f"{verified.reference}: deleted (checkpoint {taken.name} recorded its trail at event 2)"
    ]


def test_a_leaked_old_key_cannot_rewrite_what_a_later_checkpoint_signed(
    version: PolicyVersion, settings: Any
) -> None:
    settings.AUDIT_KEYS = {"old": "o" * 32}
    request = request_mark_verified(request=file_request(version))
    settings.AUDIT_KEYS = {"new": "n" * 32, "old": "o" * 32}  # rotated: "old" leaked
    taken = checkpoint()
    with attacks.trigger_off("replica") as cursor:
        attacks.rewrite(cursor, request, 1, note="edited")
        for event in request.events.all():
            cursor.execute(
                f"UPDATE {attacks.EVENTS} SET seal = %s WHERE id = %s",  # noqa: S608
                [event_seal("old", event.hash), event.pk],
            )

    assert verify_lines() == [
        f"{request.reference} event 2: rewritten: the trail up to this event is not the one "
        f"checkpoint {taken.name} recorded"
    ]


def test_events_appended_after_the_latest_checkpoint_can_be_dropped_unnoticed(
    verified: SubjectRequest,
) -> None:
    # The documented limit: the next checkpoint would have recorded them.
    checkpoint()
    event_append(
        request=verified, kind=EventKind.NOTE, actor=Actor.system("test"), at=verified.received_at
    )
    with attacks.trigger_off("replica") as cursor:
        attacks.truncate(cursor, verified, keep=2)

    assert verify_lines() == []


def test_a_changed_checkpoint_is_reported_and_the_one_before_is_used(
    verified: SubjectRequest,
) -> None:
    first = checkpoint()
    second = checkpoint()
    path = Path(django_settings.AUDIT_CHECKPOINT_DIR) / second.name
    body = json.loads(path.read_text())
    body["chains"][0]["length"] = 1  # to hide a cut chain
    path.write_text(json.dumps(body))
    with attacks.trigger_off("replica") as cursor:
        attacks.truncate(cursor, verified, keep=1)

    assert verify_lines() == [
        f"checkpoint {second.name}: its signature does not match: changed or forged",
        f"{verified.reference} event 2: truncated: the trail ends at event 1, "
        f"checkpoint {first.name} recorded 2",
    ]


def test_a_checkpoint_signed_with_a_key_no_longer_listed_is_refused(
    verified: SubjectRequest, settings: Any
) -> None:
    taken = checkpoint()
    settings.AUDIT_KEYS = {"other": "x" * 32}

    with pytest.raises(CheckpointInvalid, match="AUDIT_KEYS does not list"):
        checkpoint_read(Path(settings.AUDIT_CHECKPOINT_DIR) / taken.name)


def test_verify_checks_against_the_checkpoint_file_it_is_given(
    verified: SubjectRequest, tmp_path: Path, settings: Any
) -> None:
    taken = checkpoint()
    mailed = tmp_path / taken.name
    mailed.write_bytes((Path(settings.AUDIT_CHECKPOINT_DIR) / taken.name).read_bytes())
    (Path(settings.AUDIT_CHECKPOINT_DIR) / taken.name).unlink()  # the store was wiped
    with attacks.trigger_off("replica") as cursor:
        attacks.truncate(cursor, verified, keep=1)

    assert verify_lines() == []
    assert verify_lines("--checkpoint", str(mailed)) == [
        f"{verified.reference} event 2: truncated: the trail ends at event 1, "
        f"checkpoint {taken.name} recorded 2"
    ]


def test_a_chain_with_a_problem_keeps_its_mark_until_accepted(
    verified: SubjectRequest, version: PolicyVersion, capsys: Any
) -> None:
    first = checkpoint()
    other = file_request(version, email="b@example.com")
    with attacks.trigger_off("replica") as cursor:
        attacks.truncate(cursor, verified, keep=1)

    with pytest.raises(CommandError, match=r"1 problem\(s\)\); those chains keep"):
        call_command("audit_checkpoint")

    second, _previous = checkpoint_latest()
    assert second is not None
    assert second.name != first.name
    marks = {mark.id: mark.length for mark in second.chains}
    assert marks == {verified.pk: 2, other.pk: 1}  # the cut chain keeps its old mark
    assert len(second.problems) == 1
    assert len(verify_lines()) == 1

    call_command("audit_checkpoint", "--accept")

    assert "accepted: " in capsys.readouterr().out
    assert verify_lines() == []


def test_a_deleted_request_stays_reported_in_later_checkpoints(verified: SubjectRequest) -> None:
    taken = checkpoint()
    with attacks.trigger_off("replica") as cursor:
        attacks.delete_request(cursor, verified)

    later, report = checkpoint_take()

    assert report.problems == [
        f"{verified.reference}: deleted (checkpoint {taken.name} recorded its trail at event 2)"
    ]
    assert [mark.reference for mark in later.chains] == [verified.reference]
    assert audit_verify().problems == [
        f"{verified.reference}: deleted (checkpoint {later.name} recorded its trail at event 2)"
    ]


def test_the_daily_job_takes_a_checkpoint(verified: SubjectRequest) -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["every-day-at-0230-take-audit-checkpoint"]
    assert entry["task"] == take_audit_checkpoint.name
    assert entry["task"] in celery_app.tasks

    name = take_audit_checkpoint()

    latest, problems = checkpoint_latest()
    assert latest is not None
    assert (latest.name, problems) == (name, [])


def test_the_checkpoint_is_mailed_to_the_auditors_when_asked(
    verified: SubjectRequest, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AUDIT_CHECKPOINT_EMAIL = True
    StaffUserFactory.create(username="auditor", roles=[AUDITORS])
    StaffUserFactory.create(username="gone", roles=[AUDITORS], is_active=False)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        taken = checkpoint()

    [message] = mail.outbox
    assert message.to == ["auditor@staff.example"]
    assert taken.name in message.subject
    assert "verify_audit_chain --checkpoint" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == (taken.name, "application/json")
    stored = (Path(settings.AUDIT_CHECKPOINT_DIR) / taken.name).read_bytes()
    assert (content if isinstance(content, bytes) else content.encode()) == stored


def test_no_mail_is_sent_unless_asked(
    verified: SubjectRequest, django_capture_on_commit_callbacks: Any
) -> None:
    StaffUserFactory.create(username="auditor", roles=[AUDITORS])
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        checkpoint()

    assert mail.outbox == []
