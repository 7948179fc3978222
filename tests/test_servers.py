"""The test harness itself: a missing server binary stops it with one line naming the package."""

from __future__ import annotations

from tests import servers


def test_a_missing_redis_names_the_debian_package(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))

    assert servers.main(["--", "true"]) == 3

    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: redis-server not found: apt-get install -y redis-server"]


def test_a_missing_postgres_names_the_debian_package(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(servers.glob, "glob", lambda pattern: [])

    assert servers.main(["--", "true"]) == 3

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: PostgreSQL server not found (initdb, pg_ctl): apt-get install -y postgresql-15"
    ]
