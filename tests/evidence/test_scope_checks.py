"""``learners.write_scope`` (the ratings API's one-statement checks) equals the selectors.

For every persona of the cast, the operator and an anonymous user: the learners it may change
with their schools, and for every section whether it may change it and who is enrolled, exactly
as ``changeable_learners`` and ``changeable_sections`` (with current enrollments) say.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from learners import selectors, write_scope
from learners.models import Enrollment, Learner, Section
from tests.personas import PERSONA_NAMES, Cast

pytestmark = pytest.mark.django_db


def _users(cast: Cast) -> list[object]:
    operator = User.objects.create_superuser("operator-scope", "op@example.invalid", "x")
    return [*(cast.persona(name) for name in PERSONA_NAMES), operator, AnonymousUser(), None]


def test_changeable_learner_schools_equals_changeable_learners(cast: Cast) -> None:
    everyone = list(Learner.objects.values_list("pk", flat=True))
    for user in _users(cast):
        expected = dict(
            selectors.changeable_learners(user)  # type: ignore[arg-type]
            .filter(pk__in=everyone)
            .values_list("pk", "school_id")
        )
        got = write_scope.changeable_learner_schools(user, [*everyone, 10**12])  # type: ignore[arg-type]
        assert got == expected, user


def test_changeable_section_enrolled_equals_the_selectors(cast: Cast) -> None:
    everyone = set(Learner.objects.values_list("pk", flat=True))
    sections = list(Section.objects.values_list("pk", flat=True))
    compared = 0
    for user in _users(cast):
        allowed = set(
            selectors.changeable_sections(user).values_list("pk", flat=True)  # type: ignore[arg-type]
        )
        for section in [*sections, 10**12]:
            got = write_scope.changeable_section_enrolled(user, section, everyone)  # type: ignore[arg-type]
            if section not in allowed:
                assert got is None, (user, section)
                continue
            enrolled = set(
                Enrollment.objects.filter(selectors.current_q(), section_id=section).values_list(
                    "learner_id", flat=True
                )
            )
            assert got == enrolled, (user, section)
            compared += bool(enrolled)
    assert compared, "some section with learners was open to someone"
