"""The learner page's scope check (one SQL statement) answers exactly what the role querysets
answer: ``visible_learners`` for who sees the learner, ``changeable_learners`` for who may change
them; and the learner's current sections come with what ``changeable_sections`` says of each. For
every persona, every learner, and users holding several roles at once."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404

from learners import selectors
from learners.models import Learner
from tests.factories import UserFactory
from tests.learners.test_selectors import GRANTS
from tests.personas import Cast

pytestmark = pytest.mark.django_db

type Answer = tuple[bool, list[tuple[int, bool]]] | None


def _users(cast: Cast) -> dict[str, User]:
    return {
        field.name: getattr(cast, field.name)
        for field in fields(cast)
        if isinstance(getattr(cast, field.name), User)
    }


def _expected(user: User, learner: Learner) -> Answer:
    """None when the learner is out of scope, else whether the user may change them and the
    learner's current sections (title order) with whether the user may change each."""
    if not selectors.visible_learners(user).filter(pk=learner.pk).exists():
        return None
    changeable = selectors.changeable_learners(user).filter(pk=learner.pk).exists()
    sections = selectors.current_sections_of_learner(learner).order_by("title", "pk")
    mine = set(selectors.changeable_sections(user).values_list("pk", flat=True))
    return changeable, [(section.pk, section.pk in mine) for section in sections]


def _answer(user: User, learner_id: int) -> Answer:
    try:
        access = selectors.get_learner_access_or_404(user, learner_id)
    except Http404:
        return None
    assert access.learner.pk == learner_id
    assert access.learner.school.pk == access.learner.school_id
    sections = selectors.current_sections_for(user, access.learner)
    for section, _ in sections:
        assert section.term.pk == section.term_id
    return access.changeable, [(section.pk, changeable) for section, changeable in sections]


def test_every_persona_gets_the_same_answer_as_through_the_querysets(cast: Cast) -> None:
    superuser = UserFactory(username="operator", is_superuser=True)
    checked = 0
    for name, user in {**_users(cast), "superuser": superuser}.items():
        for learner in cast.all_learners():
            assert _answer(user, learner.pk) == _expected(user, learner), (name, learner)
            checked += 1
    assert checked == (len(_users(cast)) + 1) * len(cast.all_learners())


def test_the_answers_include_grants_denials_and_read_only_access(cast: Cast) -> None:
    # The comparison above is not empty on any side: a teacher changes their learner and its
    # section; a guardian and the student see the learner read only, sections not theirs to
    # change; the ended and the deactivated teacher see nothing.
    assert _answer(cast.teacher, cast.own.pk) == (True, [(cast.section.pk, True)])
    assert _answer(cast.guardian, cast.own.pk) == (False, [(cast.section.pk, False)])
    assert _answer(cast.student, cast.own.pk) == (False, [(cast.section.pk, False)])
    assert _answer(cast.school_admin, cast.other_section_learner.pk) is not None
    assert _answer(cast.school_admin, cast.other_section_learner.pk)[0] is True  # type: ignore[index]
    for user in (cast.ended_teacher, cast.deactivated_teacher):
        assert all(_answer(user, learner.pk) is None for learner in cast.all_learners())
    assert _answer(cast.teacher, cast.former.pk) is None  # no longer enrolled in the section


def test_users_with_several_roles_get_the_same_answers(cast: Cast) -> None:
    combos = [c for size in (1, 2, 3) for c in itertools.combinations(GRANTS, size)]
    for combo in combos:
        with transaction.atomic():
            user = UserFactory(username="multi")
            for grant in combo:
                GRANTS[grant](cast, user)
            for learner in cast.all_learners():
                assert _answer(user, learner.pk) == _expected(user, learner), (combo, learner)
            transaction.set_rollback(True)


@pytest.mark.parametrize("pk", ["abc", "-1", "1.0", "", "99999999", str(2**63), "\uff11"])
def test_malformed_missing_and_anonymous_are_the_same_404(cast: Cast, pk: str) -> None:
    with pytest.raises(Http404):
        selectors.get_learner_access_or_404(cast.teacher, pk)
    with pytest.raises(Http404):
        selectors.get_learner_access_or_404(None, cast.own.pk)
