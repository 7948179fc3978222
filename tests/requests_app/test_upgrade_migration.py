"""Upgrading an install from before the split (requests_app 0009 and the new apps' 0001).

The export, retention, erasure and OpenDSR models left ``requests_app`` for apps of their own. The
tables did not move; Django's state and the content types did. These tests run the real migrations
on a database filled as an older version filled it, and check that nothing was lost on the way:
rows and ids, the content types (and so every permission, role grant and admin log entry), the
append-only and frozen-policy triggers, and the audit chain. Going back is checked too.

They migrate the shared test database, so each ends at the latest migrations whatever happens.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from erasure.models import ErasureCertificate, ErasureSchedule
from exports.models import ExportDownload, ExportLink, ExportPackage
from opendsr.models import Controller, OpenDSRCallback, OpenDSRRequest
from policies.models import PolicyVersion, RequestTypeRule
from requests_app import roles
from requests_app.audit import GENESIS_HASH, chain_breaks, event_hash
from requests_app.models import RequestEvent, SubjectRequest
from retention.models import (
    ClosedRequestAnonymisation,
    PurgeRun,
    PurgeStep,
    PurgeTarget,
    RetentionNotice,
)

# The last migrations before the split.
PRE_SPLIT = [
    ("requests_app", "0008_status_links_expire"),
    ("policies", "0002_published_versions_are_immutable"),
    ("pos", "0001_initial"),
]
NEW_APPS = ("exports", "retention", "erasure", "opendsr")
# Migrating requests_app back to 0008 unapplies 0009 only: the new apps' 0001 are its
# dependencies, not its dependents, so they are taken back to zero by name.
BEFORE_THE_SPLIT = [*PRE_SPLIT, *((app, None) for app in NEW_APPS)]
# Before the roles existed: going forward from here, 0003 and 0007 create the role groups and
# their grants as they did on a real install (a flushed test database has no groups).
BEFORE_THE_ROLES = [
    ("requests_app", "0002_request_events_are_append_only"),
    # Back to before their later migrations too, so that going to PRE_SPLIT only goes forward
    # (Django refuses a plan that goes both ways).
    ("policies", "0002_published_versions_are_immutable"),
    ("pos", "0001_initial"),
    *((app, None) for app in NEW_APPS),
]

# Apps added after the split: their grants come and go with their own migrations.
LATER_APPS = ("systems", "staff_auth", "otp_totp", "effects", "announcements")
# Permissions of requests_app granted by its own later migrations (0011), likewise.
LATER_PERMISSIONS = ("verify_relationship", "place_legal_hold")


def _split_roles() -> dict[str, set[str]]:
    """The roles' permissions, without those of the later apps."""
    return {
        role: {
            name
            for name in names
            if name.split(".")[0] not in LATER_APPS and name.split(".")[1] not in LATER_PERMISSIONS
        }
        for role, names in roles.ROLES.items()
    }


# Where each model went (the model names are the content types' ``model``).
MOVED_TO = {
    "exportpackage": "exports",
    "exportlink": "exports",
    "exportdownload": "exports",
    "purgerun": "retention",
    "purgestep": "retention",
    "purgetarget": "retention",
    "retentionnotice": "retention",
    "closedrequestanonymisation": "retention",
    "erasureschedule": "erasure",
    "erasurecertificate": "erasure",
    "controller": "opendsr",
    "opendsrrequest": "opendsr",
    "opendsrcallback": "opendsr",
}
BEFORE: dict[str, str] = dict.fromkeys(MOVED_TO, "requests_app")
# The rows every test checks, moved or not, by model name.
KEPT = ["subjectrequest", "requestevent", *MOVED_TO]

AT = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
REFERENCE = "DSR-2026-000042"


def _migrate(targets: Iterable[tuple[str, str | None]]) -> None:
    # A new executor each time: it reads which migrations are applied when it is made.
    MigrationExecutor(connection).migrate(list(targets))
    ContentType.objects.clear_cache()


def _latest() -> list[tuple[str, str]]:
    return MigrationLoader(connection).graph.leaf_nodes()


def _applied_state() -> Apps:
    """The historical models as the applied migrations describe them now."""
    loader = MigrationLoader(connection)
    nodes = [key for key in loader.applied_migrations if key in loader.graph.nodes]
    return loader.project_state(nodes).apps


def _model(apps: Apps, where: dict[str, str], name: str) -> Any:
    """The model ``name`` ("ExportPackage") from the app ``where`` puts it in."""
    return apps.get_model(where.get(name.lower(), "requests_app"), name)


def _populate(apps: Apps, where: dict[str, str]) -> dict[str, int]:
    """Fill the database through ``apps``' historical models, the moved ones found as ``where``
    says; return the id of each row by model name (lower case)."""
    get = apps.get_model

    def model(name: str) -> Any:
        return _model(apps, where, name)

    officer = get("auth", "User").objects.create(
        username="officer", email="officer@staff.example", is_staff=True
    )
    officer.groups.add(get("auth", "Group").objects.get(name=roles.OFFICERS))
    # A permission given to the user directly, on a moved model, must follow it too.
    officer.user_permissions.add(
        get("auth", "Permission").objects.get(
            content_type__app_label=where["purgerun"], codename="view_purgerun"
        )
    )

    organization = get("policies", "Organization").objects.create(
        slug="zpos",
        name="ZPos",
        legal_name="ZPos LLC",
        country="UZ",
        time_zone="Asia/Tashkent",
        languages=["en", "ru", "uz"],
        contact_email="privacy@zpos.example",
    )
    policy = get("policies", "Policy").objects.create(
        organization=organization, slug="privacy", title="Privacy Policy"
    )
    text = "Privacy Policy\n\nWe answer access requests within 30 days."
    version = get("policies", "PolicyVersion").objects.create(
        policy=policy,
        version_label="v1",
        language="en",
        text=text,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    rule = get("policies", "RequestTypeRule").objects.create(
        version=version, request_type="access", response_period=30
    )
    retention_rule = get("policies", "RetentionRule").objects.create(
        version=version,
        slug="account-deleted",
        trigger="account_deleted",
        period=30,
        period_unit="calendar_days",
        notice_days_before=[7],
    )
    # Publishing is the one UPDATE the trigger lets through (the version was a draft).
    published = AT - timedelta(days=365)
    get("policies", "PolicyVersion").objects.filter(pk=version.pk).update(
        published_at=published, effective_at=published
    )

    request = get("requests_app", "SubjectRequest").objects.create(
        reference=REFERENCE,
        request_type="access",
        status="in_progress",
        language="en",
        email="dilnoza@example.com",
        name="Dilnoza Karimova",
        received_at=AT,
        verified_at=AT + timedelta(minutes=5),
        clock_started_at=AT,
        due_at=AT + timedelta(days=30),
        organization=organization,
        policy_version=version,
        rule=rule,
        assignee=officer,
    )
    events = _append_events(
        apps,
        request,
        [
            {"kind": "submitted", "actor_kind": "subject", "to_status": "awaiting_verification"},
            {
                "kind": "verified",
                "actor_kind": "subject",
                "from_status": "awaiting_verification",
                "to_status": "verified",
                "data": {"ip": "192.0.2.1", "note": "подтверждено"},
            },
            {
                "kind": "started",
                "actor_kind": "staff",
                "actor_user": officer,
                "actor_label": "officer",
                "from_status": "verified",
                "to_status": "in_progress",
            },
        ],
    )

    package = model("ExportPackage").objects.create(
        request=request,
        kind="access",
        status="delivered",
        created_at=AT + timedelta(hours=1),
        created_by=officer,
        attempts=1,
        built_at=AT + timedelta(hours=1, minutes=2),
        file_path="exports/DSR-2026-000042-access.zip",
        size=12345,
        sha256="ab" * 32,
        row_counts={"categories": {"contact": 1}, "models": {"pos.accountuser": 1}},
        total_rows=1,
        delivered_at=AT + timedelta(hours=2),
        delivered_by=officer,
        link_expires_at=AT + timedelta(days=9),
    )
    link = model("ExportLink").objects.create(package=package, token_hash="cd" * 32)
    download = model("ExportDownload").objects.create(
        package=package,
        route="email_link",
        started_at=AT + timedelta(hours=3),
        finished_at=AT + timedelta(hours=3, seconds=4),
        bytes_sent=12345,
        completed=True,
    )

    run = model("PurgeRun").objects.create(
        kind="erasure",
        as_of=date(2026, 12, 1),
        triggered_by="officer",
        batch_size=500,
        organization=organization,
        finished_at=AT + timedelta(days=11),
        totals={"pos.account": {"deleted": 1}},
    )
    step = model("PurgeStep").objects.create(
        run=run,
        position=0,
        model_label="pos.account",
        action="delete",
        pk_from=7,
        pk_to=7,
        cursor=7,
        planned=1,
        rows=1,
        batches=1,
        finished_at=AT + timedelta(days=11),
    )
    target = model("PurgeTarget").objects.create(
        run=run, model_label="pos.account", object_pk=7, action="delete"
    )
    notice = model("RetentionNotice").objects.create(
        rule=retention_rule,
        anchor_label="pos.account",
        anchor_pk=7,
        purge_on=date(2026, 12, 8),
        days_before=7,
        created_at=AT,
    )
    anonymisation = model("ClosedRequestAnonymisation").objects.create(
        request=request, anonymised_at=AT + timedelta(days=400)
    )

    schedule = model("ErasureSchedule").objects.create(
        request=request,
        status="done",
        approved_at=AT + timedelta(days=1),
        approved_by=officer,
        execute_after=AT + timedelta(days=8),
        run=run,
        started_at=AT + timedelta(days=10),
        finished_at=AT + timedelta(days=11),
    )
    content = {"request": REFERENCE, "rows": {"pos.account": {"deleted": 1}}}
    certificate = model("ErasureCertificate").objects.create(
        schedule=schedule,
        request=request,
        issued_at=AT + timedelta(days=11),
        content=content,
        sha256=hashlib.sha256(
            json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest(),
    )

    controller = model("Controller").objects.create(
        organization=organization,
        name="Kafe Oqtepa",
        identifier="oqtepa",
        callback_hosts="dsr.oqtepa.example",
    )
    forwarded = model("OpenDSRRequest").objects.create(
        controller=controller,
        request=request,
        subject_request_id=uuid.UUID("6d2ac6ad-3f4c-4f2b-9a53-0d6ad5b43c11"),
        regulation="gdpr",
        request_type="access",
        identities=[{"identity_type": "email", "identity_value": "dilnoza@example.com"}],
        submitted_time=AT - timedelta(minutes=1),
        received_time=AT,
        encoded_request="e30=",
    )
    callback = model("OpenDSRCallback").objects.create(
        opendsr_request=forwarded,
        url="https://dsr.oqtepa.example/callbacks",
        request_status="in_progress",
        created_at=AT + timedelta(minutes=10),
    )

    entry = get("admin", "LogEntry").objects.create(
        user=officer,
        content_type=get("contenttypes", "ContentType").objects.get(
            app_label=where["exportpackage"], model="exportpackage"
        ),
        object_id=str(package.pk),
        object_repr=f"{REFERENCE} access",
        action_flag=CHANGE,
        change_message="Delivered to the subject.",
    )

    made = {
        "officer": officer,
        "organization": organization,
        "policyversion": version,
        "subjectrequest": request,
        "exportpackage": package,
        "exportlink": link,
        "exportdownload": download,
        "purgerun": run,
        "purgestep": step,
        "purgetarget": target,
        "retentionnotice": notice,
        "closedrequestanonymisation": anonymisation,
        "erasureschedule": schedule,
        "erasurecertificate": certificate,
        "controller": controller,
        "opendsrrequest": forwarded,
        "opendsrcallback": callback,
        "logentry": entry,
    }
    ids = {name: row.pk for name, row in made.items()}
    ids["requestevent"] = events[-1].pk
    return ids


def _append_events(apps: Apps, request: Any, specs: list[dict[str, Any]]) -> list[Any]:
    """Append events as ``audit.event_append`` does, with the same hash, through ``apps``."""
    Event = apps.get_model("requests_app", "RequestEvent")
    events, previous = [], GENESIS_HASH
    for sequence, spec in enumerate(specs, start=1):
        event = Event(
            request=request,
            sequence=sequence,
            created_at=AT + timedelta(minutes=5 * (sequence - 1)),
            previous_hash=previous,
            **spec,
        )
        event.hash = previous = event_hash(previous, event)
        event.save()
        events.append(event)
    apps.get_model("requests_app", "SubjectRequest").objects.filter(pk=request.pk).update(
        audit_length=len(events), audit_head=previous
    )
    return events


def _snapshot(apps: Apps, where: dict[str, str]) -> dict[str, Any]:
    """What must survive a migration either way, whatever app a model is in: the rows' ids, each
    moved model's content type id, and what every permission grant and log entry points at."""
    Permission_ = apps.get_model("auth", "Permission")
    ContentType_ = apps.get_model("contenttypes", "ContentType")
    return {
        "rows": {
            name: sorted(_model(apps, where, name).objects.values_list("pk", flat=True))
            for name in KEPT
        },
        "content types": {
            name: ContentType_.objects.get(app_label=where[name], model=name).pk
            for name in MOVED_TO
        },
        "group grants": sorted(
            Permission_.objects.filter(group__isnull=False)
            .exclude(content_type__app_label__in=LATER_APPS)
            .exclude(codename__in=LATER_PERMISSIONS)
            .values_list("group__name", "pk", "content_type_id", "content_type__model", "codename")
        ),
        "user grants": sorted(
            Permission_.objects.filter(user__isnull=False).values_list(
                "user__username", "pk", "content_type_id", "codename"
            )
        ),
        "log entries": sorted(
            apps.get_model("admin", "LogEntry").objects.values_list(
                "pk", "content_type_id", "object_id"
            )
        ),
        "audit": sorted(
            apps.get_model("requests_app", "SubjectRequest").objects.values_list(
                "pk", "audit_length", "audit_head"
            )
        ),
    }


def _labels(apps: Apps) -> dict[str, set[str]]:
    """Every app label a moved model's content type (or a permission on one) has, by model."""
    found: dict[str, set[str]] = {name: set() for name in MOVED_TO}
    for label, model in (
        apps.get_model("contenttypes", "ContentType")
        .objects.filter(model__in=list(MOVED_TO))
        .values_list("app_label", "model")
    ):
        found[model].add(label)
    for label, model in (
        apps.get_model("auth", "Permission")
        .objects.filter(content_type__model__in=list(MOVED_TO))
        .values_list("content_type__app_label", "content_type__model")
    ):
        found[model].add(label)
    return found


def _grants(apps: Apps) -> dict[str, set[str]]:
    """The role groups' permissions as "app_label.codename", by group."""
    grants: dict[str, set[str]] = {}
    for group, label, codename in (
        apps.get_model("auth", "Group")
        .objects.filter(name__in=list(roles.ROLES))
        .values_list("name", "permissions__content_type__app_label", "permissions__codename")
    ):
        grants.setdefault(group, set())
        if codename is not None and label not in LATER_APPS and codename not in LATER_PERMISSIONS:
            grants[group].add(f"{label}.{codename}")
    return grants


def _before_the_split(permission: str) -> str:
    """ "exports.view_exportpackage" as it was named before the split."""
    app_label, codename = permission.split(".")
    return f"requests_app.{codename}" if app_label in NEW_APPS else permission


def _assert_is_before_the_split(apps: Apps) -> None:
    for name in MOVED_TO:
        assert apps.get_model("requests_app", name)._meta.db_table == f"requests_app_{name}"
    for app in NEW_APPS:
        with pytest.raises(LookupError):
            apps.get_app_config(app)
    assert _labels(apps) == {name: {"requests_app"} for name in MOVED_TO}


def _assert_triggers_refuse_changes(ids: dict[str, int]) -> None:
    event = RequestEvent.objects.filter(pk=ids["requestevent"])
    with pytest.raises(IntegrityError, match="audit trail"), transaction.atomic():
        event.update(note="edited afterwards")
    with pytest.raises(IntegrityError, match="audit trail"), transaction.atomic():
        event.delete()
    # QuerySet.update and bulk_create go around the models' own guards: only triggers are left.
    version = PolicyVersion.objects.filter(pk=ids["policyversion"])
    with pytest.raises(IntegrityError, match="published"), transaction.atomic():
        version.update(text="Rewritten after publication.")
    with pytest.raises(IntegrityError, match="published"), transaction.atomic():
        RequestTypeRule.objects.bulk_create(
            [RequestTypeRule(version_id=ids["policyversion"], request_type="deletion")]
        )
    with pytest.raises(IntegrityError, match="published"), transaction.atomic():
        RequestTypeRule.objects.filter(version_id=ids["policyversion"]).update(response_period=90)


def _assert_audit_chain_intact() -> None:
    request = SubjectRequest.objects.get(reference=REFERENCE)
    assert request.audit_length == 3
    assert list(chain_breaks(SubjectRequest.objects.filter(pk=request.pk))) == []
    out = StringIO()
    call_command("verify_audit_chain", REFERENCE, stdout=out)
    assert "audit chain intact for 1 request(s)" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_install_from_before_the_split_keeps_its_rows_permissions_triggers_and_audit_chain() -> (
    None
):
    latest = _latest()
    try:
        _migrate(BEFORE_THE_ROLES)
        _migrate(PRE_SPLIT)
        old = _applied_state()
        _assert_is_before_the_split(old)
        # The roles as migrations 0003 and 0007 made them, granting requests_app permissions.
        assert _grants(old) == {
            role: {_before_the_split(name) for name in names}
            for role, names in _split_roles().items()
        }
        ids = _populate(old, BEFORE)
        before = _snapshot(old, BEFORE)

        _migrate(latest)
    finally:
        _migrate(latest)

    # Every row is still there, with the same ids, read through the models of the new apps.
    assert _snapshot(global_apps, MOVED_TO) == before
    request = SubjectRequest.objects.get(pk=ids["subjectrequest"])
    package = ExportPackage.objects.get(pk=ids["exportpackage"])
    assert list(request.export_packages.all()) == [package]
    assert package.status == "delivered"
    assert package.delivered_by_id == ids["officer"]
    assert ExportLink.objects.get(pk=ids["exportlink"]).package == package
    assert list(package.downloads.all()) == [ExportDownload.objects.get(pk=ids["exportdownload"])]
    run = PurgeRun.objects.get(pk=ids["purgerun"])
    assert list(run.steps.all()) == [PurgeStep.objects.get(pk=ids["purgestep"])]
    assert list(run.targets.all()) == [PurgeTarget.objects.get(pk=ids["purgetarget"])]
    assert RetentionNotice.objects.get(pk=ids["retentionnotice"]).anchor_pk == 7
    anonymisation = ClosedRequestAnonymisation.objects.get(request=request)
    assert anonymisation.pk == ids["closedrequestanonymisation"]
    assert request.erasure == ErasureSchedule.objects.get(pk=ids["erasureschedule"])
    assert request.erasure.run == run
    certificate = ErasureCertificate.objects.get(pk=ids["erasurecertificate"])
    assert certificate.schedule == request.erasure
    assert certificate.is_intact()
    assert request.opendsr == OpenDSRRequest.objects.get(pk=ids["opendsrrequest"])
    assert request.opendsr.controller == Controller.objects.get(pk=ids["controller"])
    assert list(request.opendsr.callbacks.all()) == [
        OpenDSRCallback.objects.get(pk=ids["opendsrcallback"])
    ]

    # The content types are relabelled in place (same ids): none is left under requests_app.
    assert _labels(global_apps) == {name: {app} for name, app in MOVED_TO.items()}
    for model in (ExportPackage, PurgeRun, ErasureSchedule, Controller):
        content_type = ContentType.objects.get_for_model(model)
        assert content_type.pk == before["content types"][model._meta.model_name]
    assert (
        not ContentType.objects.filter(app_label__in=NEW_APPS)
        .exclude(model__in=list(MOVED_TO))
        .exists()
    )

    # The roles hold the same permissions, now named after the new apps: exactly roles.ROLES.
    assert _grants(global_apps) == _split_roles()
    officers = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=roles.OFFICERS).permissions.all()
    }
    assert {"exports.add_exportpackage", "exports.deliver_exportpackage"} <= officers
    agents = Group.objects.get(name=roles.AGENTS).permissions
    assert agents.filter(content_type__app_label="exports", codename="view_exportpackage").exists()
    officer = User.objects.get(pk=ids["officer"])
    assert officer.has_perm(roles.DELIVER_EXPORT)
    assert officer.has_perm("retention.view_purgerun")  # granted to the user directly
    assert not officer.has_perm("requests_app.deliver_exportpackage")

    # The admin's history of the package follows it.
    entry = LogEntry.objects.get(pk=ids["logentry"])
    assert entry.content_type_id == ContentType.objects.get_for_model(ExportPackage).pk
    assert entry.get_edited_object() == package

    _assert_triggers_refuse_changes(ids)
    _assert_audit_chain_intact()


@pytest.mark.django_db(transaction=True)
def test_the_split_migrates_back_to_requests_app_and_forward_again_with_nothing_lost() -> None:
    latest = _latest()
    roles.roles_sync()  # a transactional test starts from a flushed database, without groups
    ids = _populate(_applied_state(), MOVED_TO)
    before = _snapshot(global_apps, MOVED_TO)
    try:
        _migrate(BEFORE_THE_SPLIT)
        old = _applied_state()
        _assert_is_before_the_split(old)
        assert _snapshot(old, BEFORE) == before
        assert "requests_app.deliver_exportpackage" in _grants(old)[roles.OFFICERS]
        entry: Any = old.get_model("admin", "LogEntry").objects.get(pk=ids["logentry"])
        assert (entry.content_type.app_label, entry.content_type.model) == (
            "requests_app",
            "exportpackage",
        )
    finally:
        _migrate(latest)

    assert _snapshot(global_apps, MOVED_TO) == before
    assert _labels(global_apps) == {name: {app} for name, app in MOVED_TO.items()}
    assert _grants(global_apps) == _split_roles()
    _assert_triggers_refuse_changes(ids)
    _assert_audit_chain_intact()


@pytest.mark.django_db(transaction=True)
def test_an_install_that_migrated_one_new_app_first_merges_its_content_types_and_keeps_grants() -> (
    None
):
    """``manage.py migrate exports`` before the rest: its post_migrate creates exports' content
    types and permissions beside the requests_app ones, so 0009 finds both and merges them."""
    latest = _latest()
    try:
        _migrate(BEFORE_THE_ROLES)
        _migrate(PRE_SPLIT)
        ids = _populate(_applied_state(), BEFORE)
        before = _snapshot(_applied_state(), BEFORE)
        _migrate([*PRE_SPLIT, ("exports", "0001_initial")])
        # What the migrate command's post_migrate does for the exports app at this state.
        create_permissions(
            global_apps.get_app_config("exports"), verbosity=0, apps=_applied_state()
        )
        ContentType.objects.clear_cache()
        assert _labels(_applied_state())["exportpackage"] == {"requests_app", "exports"}

        _migrate(latest)
    finally:
        _migrate(latest)

    assert _labels(global_apps) == {name: {app} for name, app in MOVED_TO.items()}
    assert _grants(global_apps) == _split_roles()
    officer = User.objects.get(pk=ids["officer"])
    assert officer.has_perm(roles.BUILD_EXPORT)
    assert officer.has_perm(roles.DELIVER_EXPORT)
    entry = LogEntry.objects.get(pk=ids["logentry"])
    assert entry.get_edited_object() == ExportPackage.objects.get(pk=ids["exportpackage"])
    after = _snapshot(global_apps, MOVED_TO)
    assert after["rows"] == before["rows"]
    assert after["audit"] == before["audit"]
    assert (
        Permission.objects.filter(content_type__app_label="requests_app")
        .filter(content_type__model__in=list(MOVED_TO))
        .count()
        == 0
    )
    _assert_audit_chain_intact()
