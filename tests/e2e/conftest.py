"""Browser tests: Playwright driving Debian's Chromium against the live server and the real worker.

One Chromium runs for the whole package; each test gets fresh browser contexts (no shared cookies)
and, when it fails, the screenshots of its steps and of every page it left open under
``test-artifacts/e2e/<test>/``.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test.utils import override_settings
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from pytest_django.live_server_helper import LiveServer

from tests.e2e.artifacts import Artifacts, slug
from tests.e2e.journey import ContextFactory

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    # The machine has no network beyond loopback: without these Chromium's own background
    # connections are refused and slow every page down.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The live server speaks plain HTTP; with DEBUG off the settings would redirect it to HTTPS and
# mark the session and CSRF cookies Secure.
PLAIN_HTTP = {
    "SECURE_SSL_REDIRECT": False,
    "SESSION_COOKIE_SECURE": False,
    "CSRF_COOKIE_SECURE": False,
    "SECURE_HSTS_SECONDS": 0,
}


# --- outcome of each phase, for the screenshots on failure -------------------------------------


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


# --- the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def live_server() -> Iterator[LiveServer]:
    """pytest-django's live server, started for this package over plain HTTP.

    It replaces the session-wide one because the security middleware reads SECURE_SSL_REDIRECT
    once, when the server thread builds its handler: the setting must be off before it starts.
    """
    plain_http = override_settings(**PLAIN_HTTP)
    plain_http.enable()
    try:
        server = LiveServer("localhost")
        try:
            yield server
        finally:
            server.stop()
    finally:
        plain_http.disable()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    # Every browser request comes from 127.0.0.1; the counters live in Redis and would otherwise
    # carry over from test to test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="package", autouse=True)
def _worker_mail_left_as_found(celery_worker_mail_dir: Path) -> Iterator[None]:
    """Take the mail these tests made the worker write out of the session's mail directory.

    Other tests that use the worker read every file in it and would find these links first.
    """
    before = set(celery_worker_mail_dir.iterdir())
    yield
    # A send the last test started may still be writing: wait until the directory is quiet.
    deadline = time.monotonic() + 5
    seen = set(celery_worker_mail_dir.iterdir())
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = set(celery_worker_mail_dir.iterdir())
        if now == seen:
            break
        seen = now
    for path in seen - before:
        path.unlink(missing_ok=True)


@pytest.fixture
def seeds(transactional_db: None) -> None:
    """The five real seed organisations and their policies, loaded as `make run` loads them."""
    call_command("load_seeds", stdout=io.StringIO())


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # Playwright's sync API keeps an event loop running in this thread; Django refuses ORM calls
    # from a thread with a running loop unless told that this is on purpose. Only while the
    # browser tests run.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as running:
            yield running
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless. Playwright never downloads a browser here."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install the Debian package `chromium` "
            "(apt-get install chromium; .ci/run does it)",
            pytrace=False,
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


def _save_if_failed(request: pytest.FixtureRequest, recorded: Artifacts) -> None:
    if recorded.saved or not _failed(request.node):
        return
    recorded.saved = True
    directory = ARTIFACTS / slug(request.node.name)
    written = recorded.save(directory)
    if not written:
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n[e2e] {len(written)} screenshot(s) of {request.node.nodeid}: {directory}")


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Iterator[Artifacts]:
    """Screenshots of each step; saved under test-artifacts/e2e/<test>/ when the test fails."""
    recorded = Artifacts()
    yield recorded
    _save_if_failed(request, recorded)


@pytest.fixture
def new_context(
    request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer, artifacts: Artifacts
) -> Generator[ContextFactory]:
    """Open a fresh browser context (options as Playwright's ``new_context``) on the live server.

    Every page opened in it is screenshotted if the test fails; all are closed after the test.
    """
    opened: list[BrowserContext] = []

    def open_context(**options: Any) -> BrowserContext:
        options.setdefault("locale", "en")
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(10_000)
        context.on("page", lambda opened_page: artifacts.pages.append(opened_page))
        opened.append(context)
        return context

    yield open_context
    # The pages are still open here: the failure screenshots show where the test stopped.
    _save_if_failed(request, artifacts)
    for context in opened:
        context.close()


@pytest.fixture
def page(new_context: ContextFactory) -> Page:
    """A page in a fresh English desktop context."""
    return new_context().new_page()
