"""Issue 15's done-when: a hypothesis state machine drives random interleavings of the changes
that move records (ratings, corrections, removals; policies and scales set and removed; roll-up
rules; overrides set and cleared; a learner moved to another school) through the services, the
API and the pages, with a real Celery worker serving every recompute. At every step no page says
"up to date" for a record ``verify_mastery`` finds stale (the page is read first: the worker only
ever repairs, so a page saying "up to date" before verify finds the record stale is a lie). After
the queue drains (the worker's recomputes and bulk batches; the beat's sweep run by hand)
``verify_mastery`` finds 0 stale and 0 wrong.

Bounded: a few examples of a few steps each (the worker makes every step cost real time).
"""

from __future__ import annotations

import csv
import datetime
import io
import subprocess

import pytest
from django.db import OperationalError, close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from rest_framework.test import APIClient

from learners.models import Learner, Organisation
from mastery import services
from mastery.core import counted_ratings
from mastery.models import BulkRecompute, BulkStatus, MasteryOverride, MasteryRecord, StaleMastery
from mastery.progress import learner_progress
from mastery.selectors import verify_mastery
from reports.school_report import school_rows
from reports.state_export import write_state_export
from standards import services as standards_services
from standards.services import LevelInput
from tests.factories import (
    AdminAssignmentFactory,
    EnrollmentFactory,
    LearnerFactory,
    SchoolFactory,
    SectionFactory,
    TermFactory,
)
from tests.journeys.helpers import require
from tests.mastery.chaos import wait_until
from tests.mastery.helpers import T0, make_framework, rate, remove

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SCORES = st.sampled_from(["1", "2", "2.5", "3", "4"])
METHODS = st.sampled_from(["average", "highest", "latest", "decaying_average"])
UP_TO_DATE = "Up to date with every counted rating."


class EveryPath(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        first = SchoolFactory()
        self.district = first.parent
        self.schools = [first, SchoolFactory(parent=self.district)]
        self.admin = AdminAssignmentFactory(organisation=self.district).user
        self.framework, self.domain, a, b = make_framework()
        self.standards = [a, b]
        self.learners = [
            LearnerFactory(school=first, grade_level="05"),
            LearnerFactory(school=first, grade_level="05"),
        ]
        # A current term with both standards required (so the counts can be compared).
        self.term = TermFactory(organisation=self.district)
        section = SectionFactory(school=first, term=self.term)
        for learner in self.learners:
            EnrollmentFactory(learner=learner, section=section)
        require(self.district, self.term, self.standards, grade="05")
        self.hour = 0
        self.api = APIClient()
        self.api.force_authenticate(self.admin)
        self.page = Client()
        self.page.force_login(self.admin)

    def _when(self) -> datetime.datetime:
        self.hour += 1
        return T0 + datetime.timedelta(hours=self.hour)

    def _live(self) -> list[object]:
        return list(counted_ratings(learner_ids=[lr.pk for lr in self.learners]))

    # --- ratings, corrections, removals (services) ---------------------------------------------

    @rule(learner=st.integers(0, 1), standard=st.integers(0, 1), score=SCORES,
          earlier=st.booleans())  # fmt: skip
    def rate(self, learner: int, standard: int, score: str, earlier: bool) -> None:
        when = T0 - datetime.timedelta(hours=self.hour) if earlier else self._when()
        rate(self.learners[learner], self.standards[standard], score, rater=self.admin,
             demonstrated_at=when)  # fmt: skip

    @rule(data=st.data(), score=SCORES)
    def correct(self, data: st.DataObject, score: str) -> None:
        live = self._live()
        if live:
            rating = data.draw(st.sampled_from(live))
            rate(rating.learner, rating.standard, score, rater=self.admin, supersedes=rating)  # type: ignore[attr-defined]

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        live = self._live()
        if live:
            remove(data.draw(st.sampled_from(live)), by=self.admin)  # type: ignore[arg-type]

    # --- rules: policy (service and API), scale (service), roll-up -----------------------------

    @rule(school=st.integers(0, 1), method=METHODS, framework=st.booleans())
    def set_policy(self, school: int, method: str, framework: bool) -> None:
        standards_services.set_policy(
            actor=self.admin, organisation=self.schools[school],
            framework=self.framework if framework else None, method=method, params={},
            min_evidence=1,
        )  # fmt: skip

    @rule(method=METHODS, rollup=st.sampled_from(["all_mastered", "lowest_level"]))
    def set_policy_through_the_api(self, method: str, rollup: str) -> None:
        made = self.api.post(
            "/api/v1/policies/",
            {"organisation": self.district.pk, "method": method, "min_evidence": 1,
             "rollup_rule": rollup},
            format="json",
        )  # fmt: skip
        assert made.status_code in (201, 400), made.json()

    @rule(school=st.integers(0, 1))
    def remove_policy(self, school: int) -> None:
        standards_services.remove_policy(actor=self.admin, organisation=self.schools[school])

    @rule()
    def remove_policy_through_the_api(self) -> None:
        listed = self.api.get(f"/api/v1/policies/?organisation={self.district.pk}").json()
        for row in listed.get("results", []):
            assert self.api.delete(f"/api/v1/policies/{row['id']}/").status_code == 204

    @rule(school=st.integers(0, 1), threshold=st.sampled_from(["2", "3"]), remove=st.booleans())
    def change_scale(self, school: int, threshold: str, remove: bool) -> None:
        organisation = self.schools[school]
        if remove:
            standards_services.remove_scale(actor=self.admin, organisation=organisation)
            return
        levels = [
            LevelInput(points=p, label=label, colour=colour, cut_point=p)  # type: ignore[arg-type]
            for p, label, colour in (
                (4, "Top", "#1b5e20"), (3, "Secure", "#2e7d32"), (2, "Emerging", "#f9a825"),
                (1, "Start", "#b71c1c"),
            )
        ]  # fmt: skip
        standards_services.update_scale(
            actor=self.admin, organisation=organisation, levels=levels, mastery_threshold=threshold
        )

    # --- overrides (service, API, page) and a move -----------------------------------------------

    @rule(learner=st.integers(0, 1), standard=st.integers(0, 1), level=st.integers(1, 4),
          path=st.sampled_from(["service", "api", "page"]))  # fmt: skip
    def set_override(self, learner: int, standard: int, level: int, path: str) -> None:
        target, on = self.learners[learner], self.standards[standard]
        if path == "service":
            services.set_override(
                actor=self.admin, learner=target, standard=on, level=level, reason="Seen"
            )
        elif path == "api":
            made = self.api.post(
                "/api/v1/mastery/overrides/",
                {"learner": target.pk, "standard": on.pk, "level": level, "reason": "Seen"},
                format="json",
            )
            assert made.status_code in (201, 400), made.json()  # 400: not a level of a new scale
        else:
            answer = self.page.post(
                f"/mastery/learners/{target.pk}/override/",
                {"standard": on.pk, "level": str(level), "reason": "Seen"},
            )
            assert answer.status_code in (302, 400)

    @rule(data=st.data())
    def clear_override(self, data: st.DataObject) -> None:
        live = list(
            MasteryOverride.objects.filter(
                learner__in=[lr.pk for lr in self.learners], cleared_at__isnull=True
            ).order_by("pk")
        )
        if live:
            override = data.draw(st.sampled_from(live))
            answer = self.page.post(f"/mastery/overrides/{override.pk}/clear/", {"reason": "Redo"})
            assert answer.status_code == 302

    @rule(learner=st.integers(0, 1))
    def move(self, learner: int) -> None:
        moved = Learner.objects.get(pk=self.learners[learner].pk)
        moved.school = self.schools[1] if moved.school_id == self.schools[0].pk else self.schools[0]
        moved.save(update_fields=["school"])  # the roster import and the admin write it so
        self.learners[learner] = moved

    # --- what must hold --------------------------------------------------------------------------

    @invariant()
    def no_page_says_up_to_date_while_its_record_is_stale(self) -> None:
        pages = {
            record.pk: self.page.get(f"/mastery/records/{record.pk}/").content.decode()
            for record in MasteryRecord.objects.filter(learner__in=self.learners)
        }
        report = verify_mastery(learner_ids=[lr.pk for lr in self.learners])
        stale = set(report.stale_pairs)
        for record in MasteryRecord.objects.filter(pk__in=list(pages)):
            if (record.learner_id, record.standard_id) in stale:
                assert UP_TO_DATE not in pages[record.pk], (record.learner_id, record.standard_id)

    def _drained(self) -> bool:
        try:
            services.sweep_stale_mastery()  # the beat's minute, by hand
        except OperationalError:
            return False  # a deadlock victim: the beat runs it again, so do we
        busy = BulkRecompute.objects.filter(status__in=[BulkStatus.QUEUED, BulkStatus.RUNNING])
        return not StaleMastery.objects.exists() and not busy.exists()

    def teardown(self) -> None:
        wait_until(self._drained, timeout=60, what="the queue to drain")
        report = verify_mastery(learner_ids=[lr.pk for lr in self.learners])
        assert (report.stale, report.wrong) == (0, 0), (report.stale_pairs, report.wrong_pairs)
        for record in MasteryRecord.objects.filter(learner__in=self.learners):
            page = self.page.get(f"/mastery/records/{record.pk}/").content.decode()
            assert UP_TO_DATE in page
        self._counts_agree()
        close_old_connections()

    def _counts_agree(self) -> None:
        """The learner page (and its chart), the school report and the state export count each
        learner's required standards alike."""
        today = timezone.localdate()
        out = io.StringIO()
        write_state_export(
            organisation=self.district, term=self.term, as_of=today, file_format="csv", out=out
        )
        exported = list(csv.DictReader(io.StringIO(out.getvalue())))
        for stale in self.learners:
            learner = Learner.objects.get(pk=stale.pk)
            progress = learner_progress(learner)
            page = (progress.mastered_required, progress.required)
            assert f"of {progress.required} required" in progress.chart.description
            school = Organisation.objects.get(pk=learner.school_id)
            lines, _tally, _plan = school_rows(school=school, term=self.term, as_of=today)
            [line] = [line for line in lines if line.learner.id == learner.pk]
            assert (line.mastered, line.required) == page, learner.pk
            rows = [r for r in exported if r["state_student_id"] == learner.state_student_id]
            assert (sum(r["state"] == "mastered" for r in rows), len(rows)) == page, learner.pk


def test_every_path_leaves_every_record_fresh_and_right_after_the_queue_drains(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    run_state_machine_as_test(
        EveryPath,
        settings=settings(
            max_examples=6,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
