"""Settings come from the environment; bad values stop start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KEY = "k" * 60
ROOT = Path(__file__).resolve().parents[2]
# What the settings read, minus what the tests set themselves (DJANGO_SETTINGS_MODULE would
# point manage.py at tests.settings, which fills in the test defaults).
OURS = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
CLEAN = {k: v for k, v in os.environ.items() if k not in OURS}


def run_check(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**CLEAN, "DATA_DIR": "/tmp/mastery-settings-test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_default_passes_check_with_nothing_set() -> None:
    result = run_check()
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_postgres_configuration_passes_check() -> None:
    result = run_check(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/mastery",
        REDIS_URL="redis://127.0.0.1:6379/9",
        SECRET_KEY="x" * 60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "mysql://root@localhost/x", "SECRET_KEY": KEY}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:///data/db.sqlite3", "SECRET_KEY": KEY}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432", "SECRET_KEY": KEY}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost:6379", "SECRET_KEY": KEY}, "REDIS_URL"),
        ({"UPLOAD_MAX_BYTES": "lots"}, "UPLOAD_MAX_BYTES"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mastery"}, "SECRET_KEY"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(env: dict[str, str], named: str) -> None:
    result = run_check(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.strip().splitlines()[-1]


def test_embedded_default_runs_on_its_own_postgresql_and_folder_broker() -> None:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings as s;"
        "db = s.DATABASES['default'];"
        "print(s.DEBUG, s.CELERY_BROKER_URL.split(':')[0], db['ENGINE'], db['HOST'] or '-')"
    )
    embedded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**CLEAN, "DATA_DIR": "/tmp/mastery-settings-test"},
    )
    # The embedded PostgreSQL, on the Unix socket in its data folder (common/embedded_postgres.py).
    assert embedded.stdout.split() == [
        "True",
        "filesystem",
        "django.db.backends.postgresql",
        "/tmp/mastery-settings-test/postgres",
    ]
    production = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={
            **CLEAN,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mastery",
            "REDIS_URL": "redis://127.0.0.1:6379/9",
            "SECRET_KEY": "y" * 60,
        },
    )
    assert production.stdout.split() == [
        "False",
        "redis",
        "django.db.backends.postgresql",
        "127.0.0.1",
    ]
