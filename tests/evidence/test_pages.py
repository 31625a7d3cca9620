"""The evidence pages: who gets what (404 outside scope, 403 for other roles), and the flows."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evidence import selectors, services
from evidence.models import Artifact, Evidence, EvidenceKind, Rating, RatingSource
from evidence.services import ReflectionInput, ReviewDecision
from mastery import core
from tests.evidence import files
from tests.evidence.conftest import Standards
from tests.personas import PERSONA_NAMES, Cast

pytestmark = pytest.mark.django_db

YESTERDAY = timezone.now() - datetime.timedelta(days=1)
STAFF_OF_OWN = {"teacher", "co_teacher", "school_admin", "district_admin", "state_admin"}
SEES_OWN = STAFF_OF_OWN | {"student", "guardian"}
STAFF = STAFF_OF_OWN | {
    "teacher_elsewhere",
    "other_district_teacher",
    "teacher_guardian",
    "teacher_admin",
}


@pytest.fixture
def submission(cast: Cast, standards: Standards) -> Evidence:
    """The own learner's submission with a file, a link, a reflection and a self-rating."""
    return services.submit_evidence(
        actor=cast.student,
        kind=EvidenceKind.PROJECT,
        title="Garden fractions",
        description="I split the beds.",
        demonstrated_at=YESTERDAY,
        section=cast.section,
        reflection=ReflectionInput(what_i_learned="<b>Eighths</b><script>alert(1)</script>"),
        self_scores={standards.fractions.pk: 3},
        links=["https://example.org/garden"],
        files=[SimpleUploadedFile("../My plan.php.png", files.png())],
    )


def _login(client: Client, cast: Cast, persona: str) -> Client:
    client.force_login(cast.persona(persona))
    return client


def _expected(persona: str, allowed: set[str], denied: int = 404) -> int:
    return 200 if persona in allowed else denied


# --- who gets which page ------------------------------------------------------------------------


ACTIVE_PERSONAS = [name for name in PERSONA_NAMES if name != "deactivated_teacher"]


def _statuses(client: Client, cast: Cast, url: str) -> dict[str, int]:
    """The status each persona (one after the other, same client) gets for ``url``."""
    found = {}
    for persona in ACTIVE_PERSONAS:
        found[persona] = _login(client, cast, persona).get(url).status_code
    return found


def _allowed(allowed: set[str], denied: int = 404) -> dict[str, int]:
    return {persona: _expected(persona, allowed, denied) for persona in ACTIVE_PERSONAS}


def test_evidence_page_answers_only_those_who_see_the_learner(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    url = reverse("evidence:detail", args=[submission.pk])
    assert _statuses(client, cast, url) == _allowed(SEES_OWN)
    response = _login(client, cast, "guardian").get(url)
    body = response.content.decode()
    assert "Garden fractions" in body
    assert "<b>Eighths</b>" in body
    assert "<script>alert(1)" not in body
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_deactivated_teacher_is_logged_out_of_evidence_pages(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    client.force_login(cast.deactivated_teacher)
    response = client.get(reverse("evidence:detail", args=[submission.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_learner_timeline_answers_only_those_who_see_the_learner(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    url = reverse("evidence:learner", args=[cast.own.pk])
    assert _statuses(client, cast, url) == _allowed(SEES_OWN)


@pytest.mark.parametrize("name", ["evidence:record", "evidence:review_queue", "evidence:import"])
def test_staff_pages_refuse_other_roles(client: Client, cast: Cast, name: str) -> None:
    assert _statuses(client, cast, reverse(name)) == _allowed(STAFF, denied=403)


def test_every_signed_in_user_gets_the_evidence_index(client: Client, cast: Cast) -> None:
    assert _statuses(client, cast, reverse("evidence:index")) == _allowed(set(ACTIVE_PERSONAS))


def test_only_students_get_the_submit_page(client: Client, cast: Cast) -> None:
    url = reverse("evidence:submit")
    assert _statuses(client, cast, url) == _allowed({"student", "other_student"}, denied=403)
    body = _login(client, cast, "student").get(url).content.decode()
    for prompt in ("What did I learn?", "How did I get there?", "How did I show it?"):
        assert prompt in body
    assert '<label for="id_self_score_1">' in body


def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, cast: Cast) -> None:
    for name in ("evidence:index", "evidence:submit", "evidence:record", "evidence:import"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_quick_entry_is_only_for_sections_the_user_may_change(client: Client, cast: Cast) -> None:
    url = reverse("evidence:record_ratings", args=[cast.section.pk])
    assert _statuses(client, cast, url) == _allowed(STAFF_OF_OWN)


def test_the_index_lists_only_visible_evidence(
    client: Client, cast: Cast, submission: Evidence, standards: Standards
) -> None:
    services.record_evidence(
        actor=cast.teacher_elsewhere,
        learner=cast.other_school_learner,
        kind=EvidenceKind.OBSERVATION,
        title="Elsewhere only",
        demonstrated_at=YESTERDAY,
    )
    body = _login(client, cast, "guardian").get(reverse("evidence:index")).content.decode()
    assert "Garden fractions" in body
    assert "Elsewhere only" not in body


# --- flows --------------------------------------------------------------------------------------


def test_teacher_records_quick_entry_for_checked_learners(
    client: Client, cast: Cast, standards: Standards
) -> None:
    page = _login(client, cast, "teacher").get(
        reverse("evidence:record_ratings", args=[cast.section.pk])
    )
    body = page.content.decode()
    assert "Ada Own" in body
    assert "Ben Same" in body
    assert "Cy Former" not in body  # enrollment ended
    response = client.post(
        reverse("evidence:record_ratings", args=[cast.section.pk]),
        {
            "learners": [cast.own.pk, cast.same_section.pk],
            "standards": "K.CC.A.1, 1.OA.A.1",
            "score": "3",
            "title": "Exit ticket",
            "kind": "observation",
            "setting": "in_school",
            "demonstrated_on": YESTERDAY.date().isoformat(),
            "description": "",
        },
    )
    assert response.status_code == 302
    assert Rating.objects.filter(source=RatingSource.TEACHER, score=Decimal(3)).count() == 4
    assert Evidence.objects.filter(section=cast.section).count() == 2


def test_quick_entry_shows_unknown_codes_and_learners_of_other_sections_are_refused(
    client: Client, cast: Cast, standards: Standards
) -> None:
    response = _login(client, cast, "teacher").post(
        reverse("evidence:record_ratings", args=[cast.section.pk]),
        {
            "learners": [cast.other_section_learner.pk],
            "standards": "NOPE.9",
            "score": "3",
            "title": "x",
            "kind": "observation",
            "setting": "in_school",
            "demonstrated_on": YESTERDAY.date().isoformat(),
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "No standard has the code NOPE.9." in body
    assert "is not one of the available choices" in body
    assert Rating.objects.count() == 0


def test_student_submits_evidence_with_a_file_and_sees_it(
    client: Client, cast: Cast, standards: Standards
) -> None:
    response = _login(client, cast, "student").post(
        reverse("evidence:submit"),
        {
            "title": "Recipe scaling",
            "kind": "community",
            "setting": "community",
            "demonstrated_on": YESTERDAY.date().isoformat(),
            "description": "Doubled a recipe",
            "file": SimpleUploadedFile("recipe.txt", b"2 cups -> 4 cups"),
            "what_i_learned": "Ratios",
            "standard_1": "3.NF.A.1",
            "self_score_1": "4",
        },
    )
    assert response.status_code == 302
    evidence = Evidence.objects.get()
    assert response["Location"] == reverse("evidence:detail", args=[evidence.pk])
    assert evidence.learner_id == cast.own.pk
    assert Rating.objects.get().source == RatingSource.SELF
    assert Artifact.objects.get().content_type == "text/plain; charset=utf-8"


def test_a_hostile_upload_is_shown_as_an_error_on_the_form(client: Client, cast: Cast) -> None:
    response = _login(client, cast, "student").post(
        reverse("evidence:submit"),
        {
            "title": "Picture",
            "kind": "project",
            "setting": "in_school",
            "demonstrated_on": YESTERDAY.date().isoformat(),
            "file": SimpleUploadedFile("cat.svg", b"<svg onload=alert(1)>"),
        },
    )
    assert response.status_code == 200
    assert "File 1: Files of this type" in response.content.decode()
    assert Evidence.objects.count() == 0


def test_teacher_scores_a_submission_from_its_page(
    client: Client, cast: Cast, submission: Evidence, standards: Standards
) -> None:
    client = _login(client, cast, "teacher")
    page = client.get(reverse("evidence:detail", args=[submission.pk])).content.decode()
    assert f'name="score_{standards.fractions.pk}"' in page
    queue = client.get(reverse("evidence:review_queue")).content.decode()
    assert "Garden fractions" in queue
    response = client.post(
        reverse("evidence:review", args=[submission.pk]),
        {
            "decision": ReviewDecision.SCORE,
            f"score_{standards.fractions.pk}": "2",
            "also_standards": "K.CC.A.1",
            "also_score": "3",
            "comment": "Nice",
        },
    )
    assert response.status_code == 302
    assert set(core.counted_ratings().values_list("standard_id", "score")) == {
        (standards.fractions.pk, Decimal("2.00")),
        (standards.counting.pk, Decimal("3.00")),
    }


def test_returning_without_a_comment_shows_the_error(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    response = _login(client, cast, "teacher").post(
        reverse("evidence:review", args=[submission.pk]), {"decision": "return", "comment": ""}
    )
    assert response.status_code == 400
    assert "a comment is required" in response.content.decode()


@pytest.mark.parametrize("persona", ["guardian", "student", "teacher_elsewhere", "outsider"])
def test_who_may_not_change_the_learner_cannot_review(
    client: Client, cast: Cast, submission: Evidence, persona: str
) -> None:
    response = _login(client, cast, persona).post(
        reverse("evidence:review", args=[submission.pk]),
        {"decision": "return", "comment": "x"},
    )
    assert response.status_code == 404


def test_student_revises_a_returned_submission(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    services.review_submission(
        actor=cast.teacher, evidence=submission, decision="return", comment="Add a photo"
    )
    client = _login(client, cast, "student")
    page = client.get(reverse("evidence:revise", args=[submission.pk]))
    assert "Add a photo" in page.content.decode()
    response = client.post(
        reverse("evidence:revise", args=[submission.pk]),
        {"note": "Added it", "link": "https://example.org/photo", "how_i_showed_it": "Photo"},
    )
    assert response.status_code == 302
    assert selectors.visible_evidence(cast.student).get().status == "submitted"  # type: ignore[attr-defined]


@pytest.mark.parametrize("persona", ["other_student", "guardian", "teacher"])
def test_only_the_learner_revises(
    client: Client, cast: Cast, submission: Evidence, persona: str
) -> None:
    services.review_submission(
        actor=cast.teacher, evidence=submission, decision="return", comment="Add a photo"
    )
    response = _login(client, cast, persona).get(reverse("evidence:revise", args=[submission.pk]))
    assert response.status_code == 404


def test_teacher_corrects_and_removes_ratings_from_the_evidence_page(
    client: Client, cast: Cast, standards: Standards
) -> None:
    evidence = services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.ASSESSMENT,
        title="Quiz",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: 2, standards.adding.pk: 2},
    )
    first, second = Rating.objects.filter(evidence=evidence).order_by("standard_id")
    client = _login(client, cast, "co_teacher")
    client.post(
        reverse("evidence:supersede_rating", args=[first.pk]), {"score": "3", "comment": "Typo"}
    )
    client.post(reverse("evidence:remove_rating", args=[second.pk]), {"reason": "Wrong quiz"})
    assert [r.score for r in core.counted_ratings()] == [Decimal("3.00")]
    page = client.get(reverse("evidence:detail", args=[evidence.pk])).content.decode()
    name = cast.co_teacher.get_full_name()
    assert f"Corrected by {name} (rating {first.pk + 2})" in page
    assert f"Removed by {name}: <p>Wrong quiz</p>" in page


@pytest.mark.parametrize("persona", ["guardian", "student", "teacher_elsewhere"])
def test_who_may_not_change_a_rating_gets_404(
    client: Client, cast: Cast, standards: Standards, persona: str
) -> None:
    services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind=EvidenceKind.ASSESSMENT,
        title="Quiz",
        demonstrated_at=YESTERDAY,
        scores={standards.counting.pk: 2},
    )
    rating = Rating.objects.get()
    client = _login(client, cast, persona)
    supersede = client.post(
        reverse("evidence:supersede_rating", args=[rating.pk]), {"score": "4", "comment": "x"}
    )
    remove = client.post(reverse("evidence:remove_rating", args=[rating.pk]), {"reason": "x"})
    assert (supersede.status_code, remove.status_code) == (404, 404)
    assert Rating.objects.count() == 1


@pytest.mark.parametrize(
    ("persona", "status"),
    [("teacher", 302), ("student", 302), ("guardian", 404), ("outsider", 404)],
)
def test_evidence_is_removed_by_staff_or_its_learner_before_scoring(
    client: Client, cast: Cast, submission: Evidence, persona: str, status: int
) -> None:
    response = _login(client, cast, persona).post(
        reverse("evidence:remove", args=[submission.pk]), {"reason": "Duplicate"}
    )
    assert response.status_code == status
    assert selectors.visible_evidence(cast.teacher).exists() == (status == 404)


# --- downloads ----------------------------------------------------------------------------------


def test_artifacts_download_as_attachments_for_those_who_see_the_learner(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    artifact = Artifact.objects.get(kind="file")
    url = reverse("evidence:download", args=[artifact.pk])
    assert _statuses(client, cast, url) == _allowed(SEES_OWN)
    response = _login(client, cast, "guardian").get(url)
    assert response["Content-Disposition"] == 'attachment; filename="My plan_php.png"'
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"".join(response.streaming_content) == files.png()  # type: ignore[attr-defined]


def test_link_artifacts_and_unknown_ids_do_not_download(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    link = Artifact.objects.get(kind="link")
    client = _login(client, cast, "teacher")
    assert client.get(reverse("evidence:download", args=[link.pk])).status_code == 404
    assert client.get(reverse("evidence:download", args=[10**15])).status_code == 404


def test_artifacts_of_removed_evidence_no_longer_download(
    client: Client, cast: Cast, submission: Evidence
) -> None:
    services.remove_evidence(actor=cast.teacher, evidence=submission, reason="Wrong learner")
    artifact = Artifact.objects.get(kind="file")
    response = _login(client, cast, "teacher").get(reverse("evidence:download", args=[artifact.pk]))
    assert response.status_code == 404


# --- CSV import page ----------------------------------------------------------------------------


def test_the_import_page_imports_a_good_file_and_lists_problems_of_a_bad_one(
    client: Client, cast: Cast, standards: Standards
) -> None:
    day = YESTERDAY.date().isoformat()
    client = _login(client, cast, "teacher")
    good = f"learner_id,standard,score,demonstrated_on,title\n{cast.own.pk},K.CC.A.1,3,{day},Quiz\n"
    response = client.post(
        reverse("evidence:import"), {"file": SimpleUploadedFile("r.csv", good.encode())}
    )
    assert response.status_code == 200
    assert "New ratings: 1" in response.content.decode()
    stranger = cast.other_state_learner.pk
    bad = f"learner_id,standard,score,demonstrated_on,title\n{stranger},K.CC.A.1,3,{day},Quiz\n"
    response = client.post(
        reverse("evidence:import"), {"file": SimpleUploadedFile("r.csv", bad.encode())}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "nothing was written" in body
    assert f"no learner {cast.other_state_learner.pk} among your learners" in body
    assert Rating.objects.count() == 1


def test_the_learner_timeline_and_evidence_page_queries_do_not_grow_with_rows(
    client: Client, cast: Cast, standards: Standards
) -> None:
    def record(count: int) -> Evidence:
        last = None
        for n in range(count):
            last = services.record_evidence(
                actor=cast.teacher,
                learner=cast.own,
                kind=EvidenceKind.ASSESSMENT,
                title=f"Quiz {n}",
                demonstrated_at=YESTERDAY,
                scores={standard.pk: 2 for standard in standards.ratable()},
            )
        assert last is not None
        return last

    client = _login(client, cast, "teacher")

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    evidence = record(1)
    timeline = reverse("evidence:learner", args=[cast.own.pk])
    detail = reverse("evidence:detail", args=[evidence.pk])
    few = (queries(timeline), queries(detail))
    more = record(6)
    for rating in Rating.objects.filter(evidence=more)[:2]:
        services.supersede_rating(actor=cast.teacher, rating=rating, score=3, comment="Typo")
    assert (queries(timeline), queries(reverse("evidence:detail", args=[more.pk]))) == few
