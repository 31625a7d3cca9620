"""OneRoster demographics.csv: stored only where an administrator turned it on, only the
subgroup fields, checked like every roster value, removed when turned off."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied

from learners import oneroster, services
from learners.models import DemographicsImport, Learner, LearnerDemographics, Organisation
from tests.factories import AdminAssignmentFactory, UserFactory
from tests.learners.rosters import VALID, copy_roster, edit

pytestmark = pytest.mark.django_db


def _counts(result: oneroster.ImportResult) -> dict[str, int]:
    return result.counts["demographics"].as_dict()


def test_demographics_are_kept_only_where_turned_on_and_only_the_subgroups() -> None:
    first = services.import_roster(actor=None, source=VALID)
    assert _counts(first)["skipped"] == 2
    assert not LearnerDemographics.objects.exists()
    school_1 = Organisation.objects.get(sourced_id="org-s1")
    services.set_demographics_import(actor=None, organisation=school_1, enabled=True)
    again = services.import_roster(actor=None, source=VALID)
    # usr-st1 is at org-s1 (kept), usr-st4 at org-s2 (skipped: not turned on there).
    assert _counts(again) == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "skipped": 1,
    }
    kept = LearnerDemographics.objects.get(learner__sourced_id="usr-st1")
    assert kept.sex == "female"
    assert kept.black_or_african_american is True
    assert (kept.asian, kept.white, kept.hispanic_or_latino) == (False, False, False)
    assert {f.name for f in LearnerDemographics._meta.fields} == {
        "id", "learner", "sex", "american_indian_or_alaska_native", "asian",
        "black_or_african_american", "native_hawaiian_or_other_pacific_islander", "white",
        "two_or_more_races", "hispanic_or_latino", "updated_at",
    }  # fmt: skip
    assert _counts(services.import_roster(actor=None, source=VALID))["unchanged"] == 1


def test_a_bad_value_refuses_the_roster_with_its_row_and_column(tmp_path: Path) -> None:
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(
        folder,
        "demographics.csv",
        "usr-st4,,,2014-07-19,male,false,true,",
        "usr-st4,,,2014-07-19,boy,false,yes,",
    )
    with pytest.raises(oneroster.RosterInvalid) as refused:
        services.import_roster(actor=None, source=folder)
    found = {(p.file, p.row, p.column) for p in refused.value.errors}
    assert ("demographics.csv", 3, "sex") in found
    assert ("demographics.csv", 3, "asian") in found
    assert not Learner.objects.exists()  # nothing written


def test_a_deleted_row_and_turning_it_off_remove_what_was_kept(tmp_path: Path) -> None:
    services.import_roster(actor=None, source=VALID)
    district = Organisation.objects.get(sourced_id="org-d1")
    admin = UserFactory()
    AdminAssignmentFactory(user=admin, organisation=district)
    with pytest.raises(PermissionDenied):
        services.set_demographics_import(actor=UserFactory(), organisation=district, enabled=True)
    services.set_demographics_import(actor=admin, organisation=district, enabled=True)
    services.import_roster(actor=None, source=VALID)
    assert LearnerDemographics.objects.count() == 2
    folder = copy_roster(VALID, tmp_path / "roster")
    edit(folder, "demographics.csv", "usr-st4,,,", "usr-st4,tobedeleted,,")
    result = services.import_roster(actor=None, source=folder)
    assert _counts(result)["deleted"] == 1
    assert LearnerDemographics.objects.count() == 1
    services.set_demographics_import(actor=admin, organisation=district, enabled=False)
    assert not DemographicsImport.objects.exists()
    assert not LearnerDemographics.objects.exists()
