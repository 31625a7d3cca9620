"""The demo district: realistic, deterministic, idempotent, with a login per role."""

from __future__ import annotations

import datetime
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from learners import selectors
from learners.demo import DEMO_PASSWORD, school_year_bounds, seed_demo_district
from learners.models import Enrollment, GuardianLink, Learner, Organisation, Section

pytestmark = pytest.mark.django_db


def login(username: str) -> User:
    return User.objects.get(username=username)


def test_the_demo_has_a_login_for_every_role_with_the_right_scope() -> None:
    seed_demo_district(learners=120)
    assert selectors.roles_of(login("teacher")) == {"teacher"}
    assert selectors.roles_of(login("coteacher")) == {"teacher"}
    assert selectors.roles_of(login("student")) == {"student"}
    assert selectors.roles_of(login("guardian")) == {"guardian"}
    assert selectors.roles_of(login("schooladmin")) == {"school_admin"}
    assert selectors.roles_of(login("districtadmin")) == {"district_admin"}
    assert selectors.roles_of(login("stateadmin")) == {"state_admin"}
    assert login("admin").is_superuser
    student = Learner.objects.get(user=login("student"))
    assert student in selectors.visible_learners(login("teacher"))
    assert student in selectors.visible_learners(login("coteacher"))
    assert student in selectors.visible_learners(login("guardian"))
    assert selectors.visible_learners(login("guardian")).count() == 2
    assert selectors.visible_learners(login("districtadmin")).count() == 120
    assert selectors.visible_learners(login("schooladmin")).count() == 60


def test_named_demo_logins_use_the_demo_password_and_others_cannot_log_in() -> None:
    seed_demo_district(learners=30)
    assert login("teacher").check_password(DEMO_PASSWORD)
    assert login("guardian").check_password(DEMO_PASSWORD)
    generated = User.objects.exclude(
        username__in=[
            "teacher",
            "coteacher",
            "student",
            "guardian",
            "schooladmin",
            "districtadmin",
            "stateadmin",
            "admin",
        ]
    )
    assert generated.exists()
    assert not any(user.has_usable_password() for user in generated)


def test_every_learner_is_in_two_current_sections_of_their_school() -> None:
    seed_demo_district(learners=90)
    assert Enrollment.objects.count() == 180
    assert not Enrollment.objects.exclude(learner__school=F("section__school")).exists()
    for learner in Learner.objects.all()[:10]:
        assert selectors.current_sections_of_learner(learner).count() == 2
    assert Section.objects.filter(role_assignments__kind="teacher").distinct().count() == (
        Section.objects.count()
    )


def test_the_term_is_the_current_school_year() -> None:
    assert school_year_bounds(datetime.date(2026, 11, 22)) == (
        datetime.date(2026, 8, 15),
        datetime.date(2027, 6, 15),
    )
    assert school_year_bounds(datetime.date(2027, 3, 1)) == (
        datetime.date(2026, 8, 15),
        datetime.date(2027, 6, 15),
    )
    assert school_year_bounds(datetime.date(2027, 7, 20))[0] == datetime.date(2027, 8, 15)


def test_the_demo_tree_is_state_district_schools_with_state_student_ids() -> None:
    seed_demo_district(learners=40)
    state = Organisation.objects.get(sourced_id="demo-state")
    assert Learner.objects.filter(state=state).count() == 40
    assert Learner.objects.values("state_student_id").distinct().count() == 40
    school = Organisation.objects.filter(kind="school").first()
    assert school is not None
    assert [o.kind for o in selectors.lineage_of(school)] == ["school", "district", "state"]


def test_running_the_seed_twice_adds_nothing() -> None:
    first = seed_demo_district(learners=50)
    counts = (User.objects.count(), Learner.objects.count(), GuardianLink.objects.count())
    second = seed_demo_district(learners=500)
    assert first.created is True
    assert second.created is False
    assert second.learners == 50
    assert (User.objects.count(), Learner.objects.count(), GuardianLink.objects.count()) == counts


def _district_fingerprint(seed: int) -> list[tuple[str, str, str, str]]:
    with transaction.atomic():
        seed_demo_district(learners=60, seed=seed)
        rows = list(
            Learner.objects.order_by("local_id").values_list(
                "local_id", "given_name", "family_name", "grade_level"
            )
        )
        transaction.set_rollback(True)
    return rows


def test_the_seed_is_deterministic() -> None:
    assert _district_fingerprint(7) == _district_fingerprint(7)
    assert _district_fingerprint(7) != _district_fingerprint(8)


def test_the_command_prints_the_logins_and_the_shared_password() -> None:
    out = io.StringIO()
    call_command("seed_demo", "--learners", "25", "--roster-only", stdout=out)
    text = out.getvalue()
    assert "Demo district loaded" in text
    assert f"password for all: {DEMO_PASSWORD}" in text
    for username in ("teacher", "student", "guardian", "schooladmin", "districtadmin"):
        assert f"  {username} " in text
    again = io.StringIO()
    call_command("seed_demo", "--roster-only", stdout=again)
    assert "already loaded (25 learners)" in again.getvalue()


def test_the_demo_roster_has_stood_since_the_school_year_began() -> None:
    call_command("seed_demo", "--learners", "25", "--roster-only", stdout=io.StringIO())
    start, _end = school_year_bounds(timezone.localdate())
    zone = timezone.get_current_timezone()
    early = datetime.datetime.combine(start + datetime.timedelta(days=1), datetime.time(12), zone)
    schools = list(Organisation.objects.filter(kind="school").values_list("pk", flat=True))
    assert sum(selectors.placement_counts_as_of(schools, early).values()) == 25
    Learner.objects.filter(pk=Learner.objects.order_by("pk")[0].pk).update(active=False)
    # A report of a day early in the term reads the versions (a learner changed since): the
    # demo's learners were there.
    assert sum(selectors.placement_counts_as_of(schools, early).values()) == 25
    assert sum(selectors.placement_counts_as_of(schools, None).values()) == 24
    before = early - datetime.timedelta(days=2)
    assert sum(selectors.placement_counts_as_of(schools, before).values()) == 0


def test_the_command_refuses_a_silly_size() -> None:
    with pytest.raises(CommandError, match="--learners"):
        call_command("seed_demo", "--learners", "0", "--roster-only", stdout=io.StringIO())
