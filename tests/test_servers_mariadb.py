"""The MariaDB that `make test` starts beside PostgreSQL and Redis (``MARIADB_URL``).

MariaDB is optional on a developer's machine: without ``mariadb-server`` the harness leaves
``MARIADB_URL`` unset and the test that needs the server skips. CI sets ``DSR_REQUIRE_MARIADB=1``,
which turns a missing server into an error.
"""

from __future__ import annotations

import os
import sys
import uuid
from urllib.parse import urlsplit

import pymysql
import pytest

from tests import servers


def _connect(url: str, **kwargs: object) -> pymysql.connections.Connection:
    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password or "",
        connect_timeout=10,
        **kwargs,
    )


def test_mariadb_keeps_innodb_foreign_keys_and_transactions():
    url = os.environ.get("MARIADB_URL")
    if not url:
        pytest.skip("MARIADB_URL is unset: run through `make test` with mariadb-server installed")
    name = f"dsr_servers_{uuid.uuid4().hex[:12]}"
    connection = _connect(url, autocommit=False)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            cursor.execute(f"USE `{name}`")
            cursor.execute("CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB")
            cursor.execute(
                "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL,"
                " FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB"
            )
            cursor.execute(
                "SELECT engine FROM information_schema.tables WHERE table_schema = %s",
                [name],
            )
            assert {engine for (engine,) in cursor.fetchall()} == {"InnoDB"}

            cursor.execute("INSERT INTO parent (id) VALUES (1)")
            cursor.execute("INSERT INTO child (id, parent_id) VALUES (10, 1)")
            connection.commit()

            with pytest.raises(pymysql.err.IntegrityError) as orphan:
                cursor.execute("INSERT INTO child (id, parent_id) VALUES (11, 2)")
            assert orphan.value.args[0] == 1452  # ER_NO_REFERENCED_ROW_2
            with pytest.raises(pymysql.err.IntegrityError) as referenced:
                cursor.execute("DELETE FROM parent WHERE id = 1")
            assert referenced.value.args[0] == 1451  # ER_ROW_IS_REFERENCED_2

            # A rolled-back delete leaves both rows; a committed one removes them.
            cursor.execute("DELETE FROM child WHERE parent_id = 1")
            cursor.execute("DELETE FROM parent WHERE id = 1")
            connection.rollback()
            cursor.execute("SELECT (SELECT COUNT(*) FROM parent), (SELECT COUNT(*) FROM child)")
            assert cursor.fetchone() == (1, 1)
            cursor.execute("DELETE FROM child WHERE parent_id = 1")
            cursor.execute("DELETE FROM parent WHERE id = 1")
            connection.commit()
            cursor.execute("SELECT (SELECT COUNT(*) FROM parent), (SELECT COUNT(*) FROM child)")
            assert cursor.fetchone() == (0, 0)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()
    check = _connect(url)
    with check, check.cursor() as cursor:
        cursor.execute("SHOW DATABASES LIKE %s", [name])
        assert cursor.fetchall() == ()


def _without_mariadb(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> tuple[str, str]:
        raise servers.MissingServer(servers.MARIADB_MISSING)

    monkeypatch.setattr(servers, "find_mariadb", missing)


def test_a_missing_mariadb_stops_the_harness_when_required(monkeypatch, capsys):
    _without_mariadb(monkeypatch)
    monkeypatch.setenv("DSR_REQUIRE_MARIADB", "1")

    assert servers.main(["--", "true"]) == 3

    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "error: MariaDB not installed (apt-get install -y mariadb-server)"
        " and DSR_REQUIRE_MARIADB is set"
    ]


def test_a_missing_mariadb_is_skipped_in_one_line_and_leaves_no_url(monkeypatch, capfd):
    _without_mariadb(monkeypatch)
    monkeypatch.delenv("DSR_REQUIRE_MARIADB", raising=False)
    monkeypatch.setenv("MARIADB_URL", "mysql://someone:else@127.0.0.1:1/")
    # main() installs its SIGTERM handler; keep pytest's.
    monkeypatch.setattr(servers.signal, "signal", lambda signum, handler: None)
    has_url = "import os, sys; sys.exit(10 if 'MARIADB_URL' in os.environ else 0)"

    assert servers.main(["--", sys.executable, "-c", has_url]) == 0

    lines = capfd.readouterr().out.strip().splitlines()
    assert lines[0] == (
        "test servers: MariaDB not installed (apt-get install -y mariadb-server);"
        " MariaDB tests will be skipped"
    )
    assert "mysql://" not in lines[1]
