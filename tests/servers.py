"""Run a command beside a throwaway PostgreSQL, Redis and MariaDB, stopping them whatever happens.

    python -m tests.servers -- pytest -x

The servers listen on free loopback ports inside a temporary directory; the command gets
``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``MARIADB_URL`` (``mysql://dsr:dsr@127.0.0.1:PORT/``,
no database: the tests create their own) pointing at them. PostgreSQL and MariaDB refuse to run as
root, so as root they are owned by and started as the ``postgres`` user (or ``nobody``).

MariaDB is optional: without ``mariadbd`` the harness says so in one line and leaves
``MARIADB_URL`` unset, so the MariaDB tests skip; with ``DSR_REQUIRE_MARIADB=1`` (CI) it stops
instead, like for a missing PostgreSQL or Redis.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

PG_TOOLS = ("initdb", "pg_ctl", "postgres")
MARIADB_MISSING = "MariaDB not installed (apt-get install -y mariadb-server)"
# Debian keeps mariadbd in /usr/sbin, which is not on a normal user's PATH.
MARIADB_DIRS = os.pathsep.join(("/usr/sbin", "/usr/bin"))


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


def find_mariadb() -> tuple[str, str]:
    """Return the paths of ``mariadbd`` and ``mariadb-install-db`` (or ``mysql_install_db``)."""
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path=MARIADB_DIRS)
    install = next(
        (
            found
            for name in ("mariadb-install-db", "mysql_install_db")
            if (found := shutil.which(name) or shutil.which(name, path=MARIADB_DIRS))
        ),
        None,
    )
    if not server or not install:
        raise MissingServer(MARIADB_MISSING)
    return server, install


def mariadb_required() -> bool:
    return os.environ.get("DSR_REQUIRE_MARIADB", "").strip().lower() not in ("", "0", "false", "no")


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


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Return the user the servers run as when the harness runs as root (None when it does not)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise MissingServer("running as root and no 'postgres' or 'nobody' user to run the servers as")


def _unprivileged_prefix(*directories: Path) -> list[str]:
    """Return the command prefix that runs a server as a non-root user owning ``directories``.

    Only the directories themselves change owner, not what they hold: PostgreSQL and MariaDB start
    side by side in the same work directory, each creating its files in it as that user.
    """
    user = _unprivileged_user()
    if user is None:
        return []
    for directory in directories:
        os.chown(directory, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", user.pw_name, "--"]


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    bin_dir = find_postgres_bin()
    data, sockets = workdir / "pgdata", workdir / "pgsock"
    sockets.mkdir()
    as_user = _unprivileged_prefix(workdir, sockets)
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


def redis_command(port: int, workdir: Path) -> list[str]:
    """The command that runs the test Redis (a test that stops it starts it again with this)."""
    return [
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
    ]


@contextlib.contextmanager
def redis(workdir: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(redis_command(port, workdir))
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def mariadb(workdir: Path) -> Iterator[Callable[[], str]]:
    """Start MariaDB in the background; the yielded function waits for it and returns its URL.

    ``mariadb-install-db`` and ``mariadbd`` run as one background process group, so that
    PostgreSQL and Redis start meanwhile; leaving the block stops the group whatever its state.
    """
    server, install = find_mariadb()
    as_user = _unprivileged_prefix(workdir)
    user = _unprivileged_user()
    data, sock, port = workdir / "mariadb-data", workdir / "mysqld.sock", free_port()
    pid_file = workdir / "mariadb.pid"
    small = [
        "--innodb-buffer-pool-size=64M",
        "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=2",
        "--skip-log-bin",
    ]
    install_db = [
        install,
        "--no-defaults",
        "--auth-root-authentication-method=normal",
        f"--datadir={data}",
        *([f"--user={user.pw_name}"] if user else []),
        "--skip-test-db",
        *small,
    ]
    serve = [
        server,
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={sock}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        *small,
        f"--pid-file={pid_file}",
        f"--log-error={workdir / 'mariadb.log'}",
    ]
    # The install output, and what mariadbd says before it opens its error log, go to one file.
    # A session of its own: a Ctrl-C on the terminal reaches the harness, which stops the server.
    with (workdir / "mariadb-console.log").open("wb") as console:
        process = subprocess.Popen(
            [*as_user, "sh", "-c", f"{shlex.join(install_db)} && exec {shlex.join(serve)}"],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready() -> str:
        _create_mariadb_user(process, workdir, sock)
        return f"mysql://dsr:dsr@127.0.0.1:{port}/"

    try:
        yield ready
    finally:
        _stop_mariadb(process, pid_file)


def _stop_mariadb(process: subprocess.Popen[bytes], pid_file: Path) -> None:
    """SIGTERM mariadbd itself, wait, and kill its whole process group on a timeout.

    Not its ``runuser`` parent: runuser answers a signal by waiting two seconds before it exits.
    Before mariadbd writes its pid file it is still initialising: nothing is worth a clean stop.
    """
    with contextlib.suppress(ProcessLookupError):
        pid = pid_file.read_text().strip() if pid_file.exists() else ""
        if pid.isdigit() and process.poll() is None:
            os.kill(int(pid), signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _create_mariadb_user(
    process: subprocess.Popen[bytes], workdir: Path, sock: Path, *, seconds: float = 60.0
) -> None:
    """Wait until MariaDB answers on its socket, then create ``dsr``/``dsr`` with every right."""
    import pymysql

    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            logs = [workdir / "mariadb-console.log", workdir / "mariadb.log"]
            tail = "".join(
                path.read_text(errors="replace")[-2000:] for path in logs if path.exists()
            )
            raise RuntimeError(f"MariaDB exited with {process.returncode} while starting:\n{tail}")
        try:
            # With --auth-root-authentication-method=normal, root starts without a password.
            connection = pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=2)
            break
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"MariaDB does not answer on {sock} after {seconds:.0f}s"
                ) from None
            time.sleep(0.05)
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE USER 'dsr'@'127.0.0.1' IDENTIFIED BY 'dsr'")
        # GRANT OPTION too: the tests create read-only users of their own.
        cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'dsr'@'127.0.0.1' WITH GRANT OPTION")


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the context managers, which stop the servers


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.servers -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        # Check all before starting any, so a missing one leaves nothing behind.
        find_postgres_bin()
        find_redis()
    except MissingServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    try:
        find_mariadb()
        with_mariadb = True
    except MissingServer as exc:
        if mariadb_required():
            print(f"error: {exc} and DSR_REQUIRE_MARIADB is set", file=sys.stderr)
            return 3
        print(f"test servers: {exc}; MariaDB tests will be skipped", flush=True)
        with_mariadb = False
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="dsr-test-servers-"))
    try:
        with contextlib.ExitStack() as servers:
            # MariaDB first: it initialises and starts in the background while the others start.
            mariadb_ready = servers.enter_context(mariadb(workdir)) if with_mariadb else None
            database_url = servers.enter_context(postgres(workdir))
            redis_url = servers.enter_context(redis(workdir))
            env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_url}
            env.pop("CELERY_RESULT_BACKEND", None)
            env.pop("MARIADB_URL", None)  # never a server of the caller's: the tests drop databases
            urls = [database_url, redis_url]
            if mariadb_ready is not None:
                env["MARIADB_URL"] = mariadb_ready()
                urls.append(env["MARIADB_URL"])
            print(f"test servers: {' '.join(urls)}", flush=True)
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
