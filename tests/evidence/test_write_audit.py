"""Write audit made by the services (issue 15): every service that writes ratings leaves its
audit entries (who, which learner, what), whoever calls it (the import command here, with no
HTTP request at all); the rater, the corrector and the remover are shown on the evidence page
and in the API."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from evidence import services
from evidence.models import Rating
from tests.evidence.conftest import Standards
from tests.personas import Cast

pytestmark = pytest.mark.django_db
LAST_WEEK = (timezone.localdate() - datetime.timedelta(days=7)).isoformat()


def _entries(action: str) -> list[tuple[int | None, int | None, str]]:
    return list(
        AuditEntry.objects.filter(action=action)
        .order_by("learner_id")
        .values_list("actor_id", "learner_id", "object_id")
    )


def test_the_import_command_leaves_an_audit_entry_per_learner(
    cast: Cast, standards: Standards, tmp_path: Path
) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(
        "learner_id,standard,score,demonstrated_on,title\n"
        f"{cast.own.pk},K.CC.A.1,3,{LAST_WEEK},Unit test\n"
        f"{cast.same_section.pk},K.CC.A.1,2,{LAST_WEEK},Unit test\n"
    )
    call_command("import_ratings", str(path), "--user", cast.teacher.username)
    assert Rating.objects.count() == 2
    entries = _entries("evidence.ratings.import")
    assert [(actor, learner) for actor, learner, _ in entries] == [
        (cast.teacher.pk, cast.own.pk), (cast.teacher.pk, cast.same_section.pk)
    ]  # fmt: skip


def test_every_rating_service_writes_its_audit_entry(cast: Cast, standards: Standards) -> None:
    evidence = services.record_evidence(
        actor=cast.teacher, learner=cast.own, kind="observation", title="Observed",
        demonstrated_at=timezone.now(), scores={standards.counting.pk: "2"},
    )  # fmt: skip
    assert _entries("evidence.record") == [(cast.teacher.pk, cast.own.pk, str(evidence.pk))]
    services.record_ratings(
        actor=cast.teacher, section=cast.section, kind="observation", title="Quick",
        demonstrated_at=timezone.now(),
        entries=[
            services.RatingEntry(learner_id=cast.own.pk, standard_id=standards.adding.pk,
                                 score="3"),
            services.RatingEntry(learner_id=cast.same_section.pk,
                                 standard_id=standards.adding.pk, score="1"),
        ],
    )  # fmt: skip
    assert [e[:2] for e in _entries("evidence.ratings.record")] == [
        (cast.teacher.pk, cast.own.pk), (cast.teacher.pk, cast.same_section.pk)
    ]  # fmt: skip
    rating = Rating.objects.get(evidence=evidence)
    corrected = services.supersede_rating(
        actor=cast.co_teacher, rating=rating, score="3", comment="Marked again"
    )
    assert _entries("evidence.rating.supersede") == [
        (cast.co_teacher.pk, cast.own.pk, str(corrected.pk))
    ]
    services.remove_rating(actor=cast.teacher, rating=corrected, reason="Wrong learner")
    assert _entries("evidence.rating.remove") == [(cast.teacher.pk, cast.own.pk, str(corrected.pk))]
    services.remove_evidence(actor=cast.teacher, evidence=evidence, reason="Duplicate")
    assert _entries("evidence.remove") == [(cast.teacher.pk, cast.own.pk, str(evidence.pk))]


def test_the_rater_the_corrector_and_the_remover_are_shown_on_the_page_and_the_api(
    cast: Cast, standards: Standards
) -> None:
    evidence = services.record_evidence(
        actor=cast.teacher, learner=cast.own, kind="observation", title="Observed",
        demonstrated_at=timezone.now(),
        scores={standards.counting.pk: "2", standards.adding.pk: "3"},
    )  # fmt: skip
    first = Rating.objects.get(evidence=evidence, standard=standards.counting)
    services.supersede_rating(actor=cast.co_teacher, rating=first, score="3", comment="Again")
    removed = Rating.objects.get(evidence=evidence, standard=standards.adding)
    services.remove_rating(actor=cast.school_admin, rating=removed, reason="Wrong standard")
    teacher, co_teacher, admin = (
        cast.teacher.get_full_name(), cast.co_teacher.get_full_name(),
        cast.school_admin.get_full_name(),
    )  # fmt: skip
    client = Client()
    client.force_login(cast.teacher)
    page = client.get(f"/evidence/{evidence.pk}/").content.decode()
    assert f"({teacher})" in page
    assert f"Corrected by {co_teacher}" in page
    assert f"Removed by {admin}" in page
    api = APIClient()
    api.force_authenticate(cast.teacher)
    rows = {
        row["id"]: row
        for row in api.get(f"/api/v1/ratings/?learner={cast.own.pk}").json()["results"]
    }
    assert (rows[first.pk]["rater_name"], rows[first.pk]["corrected_by_name"]) == (
        teacher, co_teacher
    )  # fmt: skip
    assert rows[first.pk]["corrected_by"] == cast.co_teacher.pk
    assert (rows[removed.pk]["removed_by"], rows[removed.pk]["removed_by_name"]) == (
        cast.school_admin.pk, admin
    )  # fmt: skip
