"""Benchmark of the section grid page (``/mastery/sections/<id>/grid/``): server time per render.

Builds, in a dedicated database (``mastery_bench_grid``, created and migrated here; never a test
database), one section of 35 learners (grade 05) with a teacher, a framework of 60 standards in
6 domains, all 60 required (10 power), and about 2.4 teacher ratings per learner and standard
written through ``evidence.services.record_ratings`` on four occasions; the mastery records are
then built by a bulk recompute batch, and a few pairs are left pending. Then, in the same run:

- the grid rendered N times through Django's test ``Client`` (full middleware, view, template),
  signed in as the teacher: median, p95 and minimum server time (wall clock), the median CPU
  time of this process per render (the Python share; the rest is PostgreSQL and waiting),
  queries per render, page size;
- the same with a filter (power standards only);
- the reference: the teacher's "My sections" page rendered the same way (the lightest page
  with the same layout, navigation and session), so the ratio survives machine drift.

    .venv/bin/python bench/grid.py                  # 200 renders of each
    .venv/bin/python bench/grid.py --renders 50     # a quick run
    .venv/bin/python bench/grid.py --reload         # rebuild the data even if present

Target (issue 7): a 35 x 60 grid renders in under 150 ms of server time on this machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as ``python bench/grid.py``: import the project from the repository root.
sys.path.insert(0, str(ROOT))

DB = os.environ.get("BENCH_DB_PREFIX", "mastery_bench") + "_grid"
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_URL = os.environ.get("BENCH_GRID_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB}")
LEARNERS = 35
DOMAINS = 6
PER_DOMAIN = 10
POWER = 10
OCCASIONS = 4
SHARE_RATED = 0.6
PENDING = 12
SEED = 2026
SECTION_TITLE = "Bench grid 5A"


def _environment() -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": BENCH_URL, "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)  # no broker: _load sends its messages nowhere
    env.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    env["SECURE_SSL_REDIRECT"] = "false"
    return env


def _django() -> None:
    os.environ.update(_environment())
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def _ensure_database(reload: bool) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone()
        if exists and reload:
            conn.execute(f'DROP DATABASE "{DB}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=_environment(),
        check=True,
    )


def _load() -> float:
    """The section, its learners, standards, requirements and ratings; records by a bulk batch."""
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from config.celery import app as celery_app
    from evidence import services as evidence_services
    from learners.models import (
        Enrollment,
        Learner,
        Organisation,
        RoleAssignment,
        Section,
        Term,
    )
    from mastery import services as mastery_services
    from standards.models import Framework, Requirement, Standard

    started = time.perf_counter()
    rng = random.Random(SEED)
    today = timezone.localdate()
    # Messages go to the in-memory transport and are dropped (not to the embedded default's
    # folder broker, where a demo worker would find them): the bulk batch below builds the
    # records in one pass instead of 2,100 single recomputes.
    celery_app.conf.broker_url = "memory://"
    with transaction.atomic():
        state = Organisation.objects.create(kind="state", name="Bench State")
        district = Organisation.objects.create(kind="district", name="Bench", parent=state)
        school = Organisation.objects.create(kind="school", name="Bench School", parent=district)
        term = Term.objects.create(
            title="Bench term",
            start_date=today - datetime.timedelta(days=60),
            end_date=today + datetime.timedelta(days=120),
        )
        section = Section.objects.create(title=SECTION_TITLE, school=school, term=term)
        teacher = User.objects.create_user("bench-teacher")
        admin = User.objects.create_user("bench-admin")
        RoleAssignment.objects.create(
            user=teacher, kind="teacher", organisation=school, section=section
        )
        RoleAssignment.objects.create(user=admin, kind="school_admin", organisation=school)
        learners = Learner.objects.bulk_create(
            Learner(
                school=school,
                state=state,
                local_id=f"B{n:04d}",
                given_name=f"Given{n:02d}",
                family_name=f"Family{n:02d}",
                grade_level="05",
            )
            for n in range(LEARNERS)
        )
        Enrollment.objects.bulk_create(
            Enrollment(learner=learner, section=section) for learner in learners
        )
        framework = Framework.objects.create(
            identifier="bench-grid-framework", title="Bench grid maths", source_format="csv"
        )
        standards: list[Standard] = []
        for d in range(DOMAINS):
            domain = Standard.objects.create(
                framework=framework, identifier=f"d{d}", statement=f"Domain {d + 1}",
                item_type="Domain", is_grouping=True, depth=1, position=d,
            )  # fmt: skip
            standards += Standard.objects.bulk_create(
                Standard(
                    framework=framework,
                    identifier=f"d{d}-s{i}",
                    parent=domain,
                    human_code=f"5.D{d + 1}.A.{i + 1}",
                    statement=f"Statement {i + 1}",
                    item_type="Standard",
                    depth=2,
                    position=i,
                )
                for i in range(PER_DOMAIN)
            )
        Requirement.objects.bulk_create(
            Requirement(
                organisation=school,
                term=term,
                grade_level="05",
                standard=standard,
                priority="power" if index < POWER else "supporting",
            )
            for index, standard in enumerate(standards)
        )
    for occasion in range(OCCASIONS):
        entries = [
            evidence_services.RatingEntry(
                learner_id=learner.pk,
                standard_id=standard.pk,
                score=str(rng.choice([1, 2, 2, 3, 3, 3, 4])),
            )
            for learner in learners
            for standard in standards
            if rng.random() < SHARE_RATED
        ]
        evidence_services.record_ratings(
            actor=teacher,
            entries=entries,
            title=f"Occasion {occasion + 1}",
            demonstrated_at=today - datetime.timedelta(days=50 - 12 * occasion),
            section=section,
        )
    job = mastery_services.start_bulk_recompute(
        actor=admin, organisation=school, reason="organisation"
    )
    for batch in job.batches.all():
        mastery_services.run_bulk_batch(batch_id=batch.pk)
    pending = rng.sample([(lr.pk, s.pk) for lr in learners for s in standards], PENDING)
    mastery_services.mark_stale(pairs=pending)
    return time.perf_counter() - started


def _loaded() -> bool:
    from learners.models import Enrollment

    return Enrollment.objects.filter(section__title=SECTION_TITLE).count() == LEARNERS


def _measure(client: Any, url: str, renders: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # warm: templates compiled, session cached
    assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    queries = len(captured)
    times = []
    cpu = []
    for _ in range(renders):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200
    times.sort()
    return {
        "cpu_ms": statistics.median(cpu),
        "median_ms": statistics.median(times),
        "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
        "min_ms": times[0],
        "queries": float(queries),
        "kilobytes": len(response.content) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--reload", action="store_true", help="rebuild the bench database")
    args = parser.parse_args(argv)

    _ensure_database(args.reload)
    _django()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse

    from learners.models import Section
    from mastery.models import MasteryRecord, StaleMastery

    if not _loaded():
        print(f"loading the bench data into {DB} ...", flush=True)
        print(f"  loaded in {_load():.1f} s", flush=True)
    section = Section.objects.get(title=SECTION_TITLE)
    print(
        f"section: {LEARNERS} learners x {DOMAINS * PER_DOMAIN} standards;"
        f" {MasteryRecord.objects.filter(standard__is_grouping=False).count()} leaf records,"
        f" {StaleMastery.objects.count()} pending"
    )
    # Plain static URLs (the manifest needs a collectstatic this benchmark does not depend on).
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        client = Client()
        client.force_login(User.objects.get(username="bench-teacher"))
        grid_url = reverse("mastery:section_grid", args=[section.pk])
        grid = _measure(client, grid_url, args.renders)
        power = _measure(client, f"{grid_url}?power=on", args.renders)
        reference = _measure(client, reverse("learners:section_list"), args.renders)
    # Shared machines drift: say how busy this one was while measuring.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    print(
        f"{'page':<28}{'median ms':>10}{'p95 ms':>10}{'min ms':>9}{'cpu ms':>8}"
        f"{'queries':>9}{'KiB':>8}"
    )
    for name, figures in (
        ("grid 35 x 60", grid),
        ("grid, power standards only", power),
        ("reference: My sections", reference),
    ):
        print(
            f"{name:<28}{figures['median_ms']:>10.1f}{figures['p95_ms']:>10.1f}"
            f"{figures['min_ms']:>9.1f}{figures['cpu_ms']:>8.1f}{figures['queries']:>9.0f}"
            f"{figures['kilobytes']:>8.0f}"
        )
    print(
        f"grid / reference (median): {grid['median_ms'] / reference['median_ms']:.1f}x;"
        f" target: grid median under 150 ms -> {'met' if grid['median_ms'] < 150 else 'NOT met'}"
        f" (p95 {'under' if grid['p95_ms'] < 150 else 'over'} 150 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
