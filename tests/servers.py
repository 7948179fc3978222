"""Run a command beside a throwaway PostgreSQL and Redis, stopping both whatever happens.

    python -m tests.servers -- pytest -x

Both servers listen on free loopback ports inside a temporary directory; the command gets
``DATABASE_URL`` and ``CELERY_BROKER_URL`` pointing at them. PostgreSQL refuses to run as root, so
as root the cluster is owned by and started as the ``postgres`` user (or ``nobody``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_TOOLS = ("initdb", "pg_ctl", "postgres")


class MissingServer(Exception):
    """A server binary is not installed; the message names the package to install."""


def find_postgres_bin() -> Path:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    # Debian keeps the server binaries off PATH.
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all((Path(candidate) / tool).exists() for tool in PG_TOOLS):
            return Path(candidate)
    raise MissingServer(
        "PostgreSQL server not found (initdb, pg_ctl): apt-get install -y postgresql-15"
    )


def find_redis() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise MissingServer("redis-server not found: apt-get install -y redis-server")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f}s")


def _unprivileged_prefix(directory: Path) -> list[str]:
    """Return the command prefix that runs PostgreSQL as a non-root user owning ``directory``."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        for path in [directory, *directory.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)
        return ["runuser", "-u", name, "--"]
    raise MissingServer("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    bin_dir = find_postgres_bin()
    data, sockets = workdir / "pgdata", workdir / "pgsock"
    sockets.mkdir()
    as_user = _unprivileged_prefix(workdir)
    port = free_port()
    subprocess.run(
        [
            *as_user,
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            "dsr",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [
            *as_user,
            bin_dir / "pg_ctl",
            "-D",
            data,
            "-o",
            options,
            "-l",
            workdir / "postgres.log",
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run(
            [
                *as_user,
                bin_dir / "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "dsr",
                "dsr",
            ],
            check=True,
        )
        yield f"postgres://dsr@127.0.0.1:{port}/dsr"
    finally:
        subprocess.run(
            [*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


@contextlib.contextmanager
def redis(workdir: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            find_redis(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
        ],
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the context managers, which stop the servers


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.servers -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        # Check both before starting either, so a missing one leaves nothing behind.
        find_postgres_bin()
        find_redis()
    except MissingServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="dsr-test-servers-"))
    try:
        with postgres(workdir) as database_url, redis(workdir) as redis_url:
            env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_url}
            env.pop("CELERY_RESULT_BACKEND", None)
            print(f"test servers: {database_url} {redis_url}", flush=True)
            return subprocess.call(argv, env=env)
    except MissingServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
