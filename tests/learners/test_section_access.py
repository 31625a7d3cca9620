"""The section grid's scope check and roster (one SQL statement each) answer exactly what the
role querysets answer: ``visible_sections`` and ``section_roster``, for every persona, every
section, and users holding several roles at once."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404

from learners import selectors
from tests.factories import UserFactory
from tests.learners.test_selectors import GRANTS
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def _users(cast: Cast) -> dict[str, User]:
    return {
        field.name: getattr(cast, field.name)
        for field in fields(cast)
        if isinstance(getattr(cast, field.name), User)
    }


def _expected(user: User, section_id: int) -> list[int] | None:
    """None when the section is out of scope, else its roster's ids in name order."""
    section = selectors.visible_sections(user).filter(pk=section_id).first()
    if section is None:
        return None
    roster = selectors.section_roster(user, section).order_by("family_name", "given_name", "pk")
    return list(roster.values_list("pk", flat=True))


def _answer(user: User, section_id: int) -> list[int] | None:
    try:
        access = selectors.get_section_access_or_404(user, section_id)
    except Http404:
        return None
    assert access.section.pk == section_id
    return [learner.pk for learner in selectors.roster_of(user, access)]


def test_every_persona_sees_the_same_sections_and_rosters_as_through_the_querysets(
    cast: Cast,
) -> None:
    superuser = UserFactory(username="operator", is_superuser=True)
    checked = 0
    for name, user in {**_users(cast), "superuser": superuser}.items():
        for section in cast.all_sections():
            assert _answer(user, section.pk) == _expected(user, section.pk), (name, section)
            checked += 1
    assert checked == (len(_users(cast)) + 1) * 4


def test_the_personas_answers_include_both_grants_and_denials(cast: Cast) -> None:
    # The comparison above is not empty on either side: a teacher sees their section and its
    # current roster (not the former learner), an admin a section they do not teach, and the
    # student, the guardian, the ended and the deactivated teacher none.
    assert _answer(cast.teacher, cast.section.pk) == sorted(
        [cast.own.pk, cast.same_section.pk],
        key=lambda pk: next(
            (learner.family_name, learner.given_name, learner.pk)
            for learner in cast.all_learners()
            if learner.pk == pk
        ),
    )
    assert _answer(cast.school_admin, cast.other_section.pk) is not None
    assert (
        selectors.get_section_access_or_404(cast.school_admin, cast.section.pk).whole_roster
        is False
    )
    assert selectors.get_section_access_or_404(cast.teacher, cast.section.pk).whole_roster is True
    for user in (cast.student, cast.guardian, cast.ended_teacher, cast.deactivated_teacher):
        assert all(_answer(user, section.pk) is None for section in cast.all_sections())
    assert _answer(cast.teacher, cast.school_section.pk) is None


def test_users_with_several_roles_get_the_same_sections_and_rosters(cast: Cast) -> None:
    combos = [c for size in (1, 2, 3) for c in itertools.combinations(GRANTS, size)]
    for combo in combos:
        with transaction.atomic():
            user = UserFactory(username="multi")
            for grant in combo:
                GRANTS[grant](cast, user)
            for section in cast.all_sections():
                assert _answer(user, section.pk) == _expected(user, section.pk), (combo, section)
            transaction.set_rollback(True)


@pytest.mark.parametrize("pk", ["abc", "-1", "1.0", "", "99999999", str(2**63), "\uff11"])
def test_malformed_missing_and_anonymous_are_the_same_404(cast: Cast, pk: str) -> None:
    with pytest.raises(Http404):
        selectors.get_section_access_or_404(cast.teacher, pk)
    with pytest.raises(Http404):
        selectors.get_section_access_or_404(None, cast.section.pk)
