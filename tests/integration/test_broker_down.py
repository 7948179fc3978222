"""The broker down: requests filed through the form and the API are stored, answered as usual,
and their emails sent once Redis is back (the outbox; README, "Broker down").

Redis here is the harness's own server, stopped and started again on the same port, so the web
side (this process), the worker and beat all lose it and get it back as in production.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from outbox import relay
from outbox.models import OutboxMessage
from policies.models import ClockStart, Organization, RequestType
from requests_app.models import SubjectRequest
from tests.conftest import ROOT, _test_database_url
from tests.servers import redis_command
from tests.tracker import publish_version

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FILED = 200


def _listening_pid(port: int) -> int:
    """Return the id of the process listening on loopback ``port`` (read from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
        except OSError:
            continue
    raise RuntimeError(f"nothing listens on port {port}")


class RedisServer:
    """The harness's Redis: stopped and started again with the same command, on the same port."""

    def __init__(self, url: str) -> None:
        self.port = urlsplit(url).port or 6379
        self.pid = _listening_pid(self.port)
        # Redis rewrites its command line; it runs in its work directory (--dir).
        self.command = redis_command(self.port, Path(os.readlink(f"/proc/{self.pid}/cwd")))
        self.restarted: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.restarted is not None:
            self.restarted.terminate()
            self.restarted.wait(timeout=10)
        else:
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError("Redis did not stop")
            time.sleep(0.05)

    def start(self) -> None:
        self.restarted = subprocess.Popen(self.command, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError("Redis did not start again")
            time.sleep(0.05)

    def _answers(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.2):
                return True
        except OSError:
            return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(django_settings.CELERY_BROKER_URL)
    yield server
    # A server this test started outlives the harness's own process handle: stop it here.
    if server.restarted is not None and server.restarted.poll() is None:
        server.restarted.terminate()
        server.restarted.wait(timeout=10)


@pytest.fixture
def celery_beat(tmp_path: Path, celery_worker: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Celery beat, as in production, beside the session's worker."""
    env = {**os.environ, "DATABASE_URL": _test_database_url()}
    log = open(ROOT / "var" / "test-beat.log", "w")  # noqa: SIM115 - closed below
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(tmp_path / "celerybeat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield beat
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        log.close()


def _verification_emails(mail_dir: Path, addresses: set[str]) -> Counter[str]:
    """Count, per address in ``addresses``, the confirmation emails the worker wrote."""
    to = re.compile(r"^To: (\S+)$", re.MULTILINE)
    sent: Counter[str] = Counter()
    for mail_file in mail_dir.glob("*.log"):
        for address in to.findall(mail_file.read_text(encoding="utf-8")):
            if address in addresses:
                sent[address] += 1
    return sent


def test_requests_filed_while_redis_is_down_are_stored_answered_and_mailed_once_it_is_back(
    redis_server: RedisServer,
    celery_beat: subprocess.Popen,
    celery_worker_mail_dir: Path,
    settings: Any,
) -> None:
    settings.SECURE_SSL_REDIRECT = False
    # One address files all 200: the limits stay as they are in production, raised for this test.
    settings.RATELIMIT_REQUEST_PER_IP = "1000/h"
    settings.RATELIMIT_REQUEST_PER_EMAIL = "1000/h"
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public": "1000/min",
        },
    }
    organization = Organization.objects.create(
        slug="outage", name="Outage Ltd", time_zone="Asia/Tashkent"
    )
    publish_version(
        organization,
        {RequestType.ACCESS: {"response_period": 30, "clock_starts": ClockStart.VERIFICATION}},
    )
    addresses = {f"outage-{number}@example.com" for number in range(FILED)}
    form, api = Client(), APIClient()
    answers: Counter[int] = Counter()
    slowest = 0.0

    started = time.monotonic()
    redis_server.stop()
    try:
        for number in range(FILED):
            email = f"outage-{number}@example.com"
            fields = {"request_type": "access", "email": email, "name": "Nodira Yusupova"}
            began = time.monotonic()
            if number % 2:
                status = api.post(
                    reverse("api:request_file", args=["outage"]), fields, format="json"
                ).status_code
            else:
                status = form.post(
                    reverse("requests_app:request_new", args=["outage"]), fields
                ).status_code
            slowest = max(slowest, time.monotonic() - began)
            answers[status] += 1
        health = Client().get("/healthz")
    finally:
        redis_server.start()
    filed_in = time.monotonic() - started

    # The form answers with its usual redirect, the API with its usual 202; no 500, no hang.
    assert answers == {302: FILED // 2, 202: FILED // 2}
    assert slowest < settings.OUTBOX_BROKER_TIMEOUT_SECONDS + 2
    assert SubjectRequest.objects.filter(organization=organization).count() == FILED
    assert health.status_code == 503
    assert health.json()["checks"]["broker"].startswith("down")
    assert health.json()["outbox"]["pending"] >= FILED
    waiting = OutboxMessage.objects.filter(
        task_name="requests_app.send_request_email", sent_at__isnull=True
    ).count()
    assert waiting == FILED

    back = time.monotonic()
    deadline = back + 60
    while sum((sent := _verification_emails(celery_worker_mail_dir, addresses)).values()) < FILED:
        assert time.monotonic() < deadline, f"only {len(sent)} of {FILED} emails within a minute"
        time.sleep(0.5)
    mailed_in = time.monotonic() - back
    time.sleep(5)  # a second send would have arrived by now

    sent = _verification_emails(celery_worker_mail_dir, addresses)
    assert set(sent) == addresses
    assert max(sent.values()) == 1, "an email was sent twice"
    assert relay.backlog(at=timezone.now())["pending"] == 0
    print(
        f"\nbroker down: {FILED} filed in {filed_in:.1f}s (slowest {slowest:.2f}s); "
        f"all mailed {mailed_in:.1f}s after Redis was back"
    )
