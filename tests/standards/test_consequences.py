"""Services own their consequences (ADR 8): whoever changes the rules, the framework or the
roster (service, API, page), the records that change are marked in the same transaction."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from learners.models import Learner
from mastery.models import BulkRecompute, MasteryRecord, StaleMastery
from standards.importers.case import parse_case_package
from standards.models import Framework, Standard
from standards.services import (
    InvalidSettings,
    import_framework,
    remove_policy,
    remove_scale,
    set_policy,
    update_scale,
)
from standards.validation import LevelInput
from tests.personas import Cast, cast
from tests.standards.conftest import uid

__all__ = ["cast"]

pytestmark = pytest.mark.django_db


def _jobs() -> list[tuple[int, str, int | None, int | None]]:
    return list(
        BulkRecompute.objects.order_by("pk").values_list(
            "organisation_id", "reason", "framework_id", "requested_by_id"
        )
    )


def _levels() -> list[LevelInput]:
    return [
        LevelInput(points=p, label=label, colour=colour, cut_point=p)  # type: ignore[arg-type]
        for p, label, colour in ((3, "Secure", "#2e7d32"), (2, "Emerging", "#f9a825"))
    ]


def test_every_rules_change_through_the_services_starts_its_recompute(
    cast: Cast, small_framework: Framework
) -> None:
    admin = cast.school_admin
    set_policy(actor=admin, organisation=cast.school, method="latest", params={}, min_evidence=1)
    set_policy(
        actor=admin, organisation=cast.school, framework=small_framework, method="highest",
        params={}, min_evidence=1,
    )  # fmt: skip
    remove_policy(actor=admin, organisation=cast.school, framework=small_framework)
    assert not remove_policy(actor=admin, organisation=cast.school, framework=small_framework)
    update_scale(actor=admin, organisation=cast.school, levels=_levels(), mastery_threshold="2")
    remove_scale(actor=admin, organisation=cast.school)
    school = cast.school.pk
    assert _jobs() == [
        (school, "policy", None, admin.pk),
        (school, "policy", small_framework.pk, admin.pk),
        (school, "policy", small_framework.pk, admin.pk),
        (school, "scale", None, admin.pk),
        (school, "scale", None, admin.pk),
    ]


def test_a_policy_set_and_removed_through_the_api_starts_its_recompute(cast: Cast) -> None:
    api = APIClient()
    api.force_authenticate(cast.district_admin)
    made = api.post(
        "/api/v1/policies/",
        {"organisation": cast.district.pk, "method": "average", "min_evidence": 2},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert api.delete(f"/api/v1/policies/{made.json()['id']}/").status_code == 204
    district, admin = cast.district.pk, cast.district_admin.pk
    assert _jobs() == [(district, "policy", None, admin), (district, "policy", None, admin)]


def test_a_points_roll_up_that_cannot_apply_is_refused_naming_the_grouping(
    cast: Cast, small_framework: Framework
) -> None:
    def points(values: dict[int, int], framework: Framework | None = small_framework) -> Any:
        return set_policy(
            actor=cast.school_admin, organisation=cast.school, framework=framework,
            method="latest", params={}, min_evidence=1, rollup_rule="points",
            rollup_params={
                "points_required": 2, "points": {str(_id(n)): p for n, p in values.items()},
            },
        )  # fmt: skip

    def _id(number: int) -> int:
        return Standard.objects.get(framework=small_framework, identifier=uid(number)).pk

    with pytest.raises(InvalidSettings) as refused:
        points({12: 1, 13: 1}, framework=None)
    assert [p.column for p in refused.value.problems] == ["framework"]
    with pytest.raises(InvalidSettings) as refused:
        points({12: 1, 13: 1})
    assert [str(p) for p in refused.value.problems] == [
        "grouping NS: points: its standards give 0 points at most, fewer than the 2 needed: "
        "give its standards points or lower the points needed",
        "grouping G: points: its standards give 0 points at most, fewer than the 2 needed: "
        "give its standards points or lower the points needed",
    ]
    assert not BulkRecompute.objects.exists()
    policy = points({11: 2, 12: 1, 13: 1, 21: 2, 10: 0})
    assert policy.rollup_rule == "points"


def test_a_re_import_that_retires_a_standard_marks_the_groupings_above_it(
    cast: Cast, small_framework: Framework, small_package: dict[str, Any]
) -> None:
    by_code = {s.human_code: s for s in Standard.objects.filter(framework=small_framework)}
    now = timezone.now()
    for code in ("NS.C.1", "NS.C.2", "NS.C", "NS", "G.1", "G"):
        MasteryRecord.objects.create(learner=cast.own, standard=by_code[code], computed_at=now)
    package = copy.deepcopy(small_package)
    package["CFItems"] = [i for i in package["CFItems"] if i["identifier"] != uid(13)]
    package["CFAssociations"] = [
        a for a in package["CFAssociations"]
        if uid(13) not in (a["originNodeURI"]["identifier"], a["destinationNodeURI"]["identifier"])
    ]  # fmt: skip
    report = import_framework(parsed=parse_case_package(package), actor=None)
    assert report.retired == 1
    marked = set(StaleMastery.objects.values_list("learner_id", "standard_id"))
    assert marked == {(cast.own.pk, by_code["NS.C"].pk)}


def test_a_learner_moved_to_another_school_has_every_record_marked(
    cast: Cast, small_framework: Framework
) -> None:
    now = timezone.now()
    standards = list(Standard.objects.filter(framework=small_framework, is_grouping=False))
    for standard in standards:
        MasteryRecord.objects.create(learner=cast.own, standard=standard, computed_at=now)
    Learner.objects.filter(pk=cast.own.pk).update(grade_level="06")
    assert not StaleMastery.objects.exists()
    Learner.objects.filter(pk=cast.own.pk).update(school=cast.other_school)
    assert set(StaleMastery.objects.values_list("learner_id", "standard_id")) == {
        (cast.own.pk, s.pk) for s in standards
    }


def test_a_policy_changed_and_removed_on_the_pages_starts_its_recompute(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.school_admin)
    url = reverse("standards:policy_edit", args=[cast.school.pk])
    saved = client.post(
        url, {"method": "latest", "min_evidence": "1", "rollup_rule": "all_mastered"}
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    changed = client.post(
        url, {"method": "highest", "min_evidence": "2", "rollup_rule": "all_mastered"}
    )
    assert changed.status_code == 302
    removed = client.post(reverse("standards:policy_remove", args=[cast.school.pk]))
    assert removed.status_code == 302
    school, admin = cast.school.pk, cast.school_admin.pk
    assert _jobs() == [(school, "policy", None, admin)] * 3
