"""docker-compose.yml cannot be run here (no Docker engine): keep it honest against the code."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.celery import QUEUES
from config.celery import app as celery_app
from config.env import env

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    words = command if isinstance(command, list) else shlex.split(command)
    if words[:2] == ["sh", "-c"]:
        return shlex.split(words[2])
    return list(words)


def test_compose_has_every_service_the_platform_needs() -> None:
    assert set(SERVICES) == {"postgres", "redis", "db-setup", "web", "worker", "beat"}


def test_the_platform_connects_without_superuser_or_owner_rights() -> None:
    """S14: db-setup creates the roles (as the superuser) and migrates (as the owner); the web
    tier, workers and beat know only the application's role, and wait for db-setup."""
    setup = command_of("db-setup")
    assert setup[:3] == ["python", "manage.py", "database_roles"]
    assert setup[setup.index("&&") + 1 :] == ["python", "manage.py", "migrate", "--noinput"]
    owner = SERVICES["db-setup"]["environment"]["MIGRATION_DATABASE_URL"]
    superuser = SERVICES["postgres"]["environment"]["POSTGRES_USER"]
    for name in ("web", "worker", "beat"):
        environment = SERVICES[name]["environment"]
        assert "MIGRATION_DATABASE_URL" not in environment, name
        user = environment["DATABASE_URL"].split("//", 1)[1].split(":", 1)[0]
        assert user not in {superuser, owner.split("//", 1)[1].split(":", 1)[0]}, name
        assert "migrate" not in command_of(name), name
        assert SERVICES[name]["depends_on"]["db-setup"] == {
            "condition": "service_completed_successfully"
        }


def test_worker_serves_exactly_the_queues_of_the_celery_app() -> None:
    words = command_of("worker")
    assert words[:4] == ["celery", "-A", "config", "worker"]
    queues = words[words.index("-Q") + 1].split(",")
    assert sorted(queues) == sorted(QUEUES)
    assert sorted(q.name for q in celery_app.conf.task_queues) == sorted(QUEUES)
    routed = {route["queue"] for route in celery_app.conf.task_routes.values()}
    assert routed <= set(QUEUES)


def test_beat_and_web_run_the_project_entry_points() -> None:
    assert command_of("beat")[:4] == ["celery", "-A", "config", "beat"]
    web = command_of("web")
    assert "gunicorn" in web
    assert web[web.index("gunicorn") + 1] == "config.wsgi:application"
    assert (ROOT / "config" / "wsgi.py").exists()


def test_stateful_services_have_health_checks_and_volumes() -> None:
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in SERVICES[name], name
    assert {"pgdata", "uploads"} <= set(COMPOSE["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    for name in ("web", "worker", "beat"):
        assert any(v.startswith("uploads:") for v in SERVICES[name]["volumes"]), name
        assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_variable_compose_and_env_example_set_is_read_by_the_settings() -> None:
    import config.settings  # noqa: F401  (fills env.names_read)

    compose_names = set(SERVICES["web"]["environment"])
    example_names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert compose_names - env.names_read == set()
    assert example_names - env.names_read == set()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= compose_names | example_names


def test_compose_runs_postgresql_the_one_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings' own parser accepts compose's database (postgres:// only, ADR 0001), and it
    names compose's postgres service and database."""
    environment = SERVICES["web"]["environment"]
    monkeypatch.setenv("DATABASE_URL", environment["DATABASE_URL"])
    database = env.database("DATABASE_URL")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["HOST"] == "postgres"
    assert database["NAME"] == SERVICES["postgres"]["environment"]["POSTGRES_DB"]
    assert SERVICES["postgres"]["image"].startswith("postgres:")
