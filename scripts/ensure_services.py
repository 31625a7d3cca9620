"""Makes sure PostgreSQL and Redis answer at the configured URLs before the tests run.

If one does not answer, a throwaway server is started from local binaries (``initdb``/``pg_ctl``,
``redis-server``) in the ignored folder ``data/services/``; if the binaries are missing too, this
stops with a message saying exactly what is missing. Prints the URLs it checked.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "data" / "services"
DATABASE_URL = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/mastery"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"


def postgres_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with psycopg.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password or None,
            dbname="postgres",
            connect_timeout=3,
        ):
            return True
    except psycopg.OperationalError:
        return False


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def start_postgres(url: str) -> None:
    parts = urlsplit(url)
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        sys.exit(
            f"PostgreSQL does not answer at {parts.hostname}:{parts.port or 5432} and no "
            "initdb/pg_ctl was found to start one: install PostgreSQL (apt-get install postgresql) "
            "or set DATABASE_URL to a server that runs."
        )
    pgdata = SERVICES / "postgres"
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use the 'postgres' account
        as_user = ["runuser", "-u", "postgres", "--"]
    SERVICES.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        if as_user:
            shutil.chown(pgdata, "postgres")
        subprocess.run(
            [
                *as_user,
                initdb,
                "-D",
                str(pgdata),
                "-U",
                parts.username or "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    sockets = pgdata  # keep the socket inside our folder, writable by the server's user
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(pgdata),
            "-l",
            str(pgdata / "server.log"),
            "-w",
            "start",
            "-o",
            f"-h {parts.hostname or '127.0.0.1'} -p {parts.port or 5432} -k {sockets}",
        ],
        check=True,
    )


def start_redis(url: str) -> None:
    parts = urlsplit(url)
    server = shutil.which("redis-server")
    if not server:
        sys.exit(
            f"Redis does not answer at {parts.hostname}:{parts.port or 6379} and no redis-server "
            "was found to start one: install Redis (apt-get install redis-server) or set REDIS_URL "
            "to a server that runs."
        )
    folder = SERVICES / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            server,
            "--daemonize",
            "yes",
            "--bind",
            parts.hostname or "127.0.0.1",
            "--port",
            str(parts.port or 6379),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--logfile",
            str(folder / "redis.log"),
        ],
        check=True,
    )


def wait_for(check: object, url: str, what: str) -> None:
    for _ in range(50):
        if check(url):  # type: ignore[operator]
            return
        time.sleep(0.2)
    sys.exit(f"{what} was started but does not answer at {url}; see data/services/ for its log")


def main() -> None:
    if not postgres_answers(DATABASE_URL):
        print(f"PostgreSQL does not answer at {DATABASE_URL}: starting a throwaway one")
        start_postgres(DATABASE_URL)
        wait_for(postgres_answers, DATABASE_URL, "PostgreSQL")
    if not redis_answers(REDIS_URL):
        print(f"Redis does not answer at {REDIS_URL}: starting a throwaway one")
        start_redis(REDIS_URL)
        wait_for(redis_answers, REDIS_URL, "Redis")
    print(f"services ready: {DATABASE_URL} {REDIS_URL}")


if __name__ == "__main__":
    main()
