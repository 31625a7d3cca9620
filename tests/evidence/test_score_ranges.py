"""``evidence.selectors.score_ranges_of_schools`` (one statement for a quick entry's schools)
equals ``score_range_for`` of each school, wherever the scale in force is set."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evidence.selectors import score_range_for, score_ranges_of_schools
from learners.models import Organisation
from standards.models import ProficiencyScale, ScaleLevel
from tests.factories import DistrictFactory, SchoolFactory

pytestmark = pytest.mark.django_db


def _scale(organisation: Organisation, points: tuple[int, ...]) -> None:
    scale = ProficiencyScale.objects.create(organisation=organisation, mastery_threshold=2)
    for value in points:
        ScaleLevel.objects.create(scale=scale, points=value, label=f"L{value}", cut_point=value)


def test_the_ranges_equal_score_range_for_wherever_the_scale_is_set() -> None:
    plain = SchoolFactory()  # no scale anywhere: the default
    own = SchoolFactory()
    _scale(own, (0, 1, 2))
    district = DistrictFactory()
    _scale(district, (1, 2, 3, 4, 5))
    below_district = SchoolFactory(parent=district)
    state_district = DistrictFactory()
    assert state_district.parent is not None
    _scale(state_district.parent, (2, 6))
    below_state = SchoolFactory(parent=state_district)
    empty = SchoolFactory(parent=district)  # a scale without levels: the district's applies
    ProficiencyScale.objects.create(organisation=empty, mastery_threshold=3)
    schools = [plain, own, below_district, below_state, empty]
    got = score_ranges_of_schools([school.pk for school in schools])
    assert got == {school.pk: score_range_for(school) for school in schools}
    assert got[own.pk] == (Decimal(0), Decimal(2))
    assert got[empty.pk] == (Decimal(1), Decimal(5))
    assert got[below_state.pk] == (Decimal(2), Decimal(6))
    assert score_ranges_of_schools([]) == {}
