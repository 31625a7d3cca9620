"""The what-if preview on the scale and policy pages: counts and learners whose levels would
change, computed by the engine before anything is saved; saving starts the bulk recompute."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mastery import services as mastery_services
from mastery.models import BulkRecompute, MasteryEvent, MasteryRecord
from standards.models import CalculationPolicy, ProficiencyScale
from tests.journeys.helpers import Tree, make_tree, quick_entry, run_worker
from tests.personas import Cast

pytestmark = pytest.mark.django_db

EARLIER = timezone.now() - datetime.timedelta(days=10)
LATER = timezone.now() - datetime.timedelta(days=2)

POLICY = {"method": "highest", "min_evidence": "1", "rollup_rule": "all_mastered"}
DEFAULT_LEVELS = [("4", "Advanced", "#1565c0"), ("3", "Proficient", "#2e7d32"),
                  ("2", "Developing", "#f9a825"), ("1", "Beginning", "#c62828")]  # fmt: skip


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _rated(cast: Cast) -> Tree:
    """Ada: 1 then 4 on the first standard, 3 and 3 on the second; Ben: 4 then 1, and 3, 3.
    Under the default decaying average both first standards are Developing (2.95 and 2.05);
    under "highest" they are Advanced. The second standards stay Proficient either way."""
    tree = make_tree(domains=1, per_domain=2)
    first, second = tree.standards
    quick_entry(cast.teacher, cast.section, [cast.own], [first], "1", when=EARLIER)
    quick_entry(cast.teacher, cast.section, [cast.own], [first], "4", when=LATER)
    quick_entry(cast.teacher, cast.section, [cast.same_section], [first], "4", when=EARLIER)
    quick_entry(cast.teacher, cast.section, [cast.same_section], [first], "1", when=LATER)
    quick_entry(cast.teacher, cast.section, [cast.own, cast.same_section], [second], "3")
    quick_entry(cast.teacher, cast.section, [cast.own, cast.same_section], [second], "3")
    run_worker()
    return tree


def _scale_form(threshold: str, levels: list[tuple[str, str, str]]) -> dict[str, str]:
    data = {"name": "", "mastery_threshold": threshold}
    for index, (points, label, colour) in enumerate(levels):
        data |= {
            f"points_{index}": points,
            f"label_{index}": label,
            f"colour_{index}": colour,
            f"cut_point_{index}": "",
            f"description_{index}": "",
        }
    return data


def test_a_policy_preview_counts_and_lists_the_learners_whose_levels_would_change(
    cast: Cast,
) -> None:
    tree = _rated(cast)
    url = reverse("standards:policy_edit", args=[cast.district.pk])
    response = _client(cast.district_admin).post(url, {**POLICY, "preview": "1"})

    assert response.status_code == 200
    preview = response.context["preview"]
    # Two learners x (two standards and their domain, rolled up: all children mastered).
    assert (preview.learners, preview.rated_learners, preview.records) == (6, 2, 6)
    assert (preview.changed_learners, preview.changed_records) == (2, 4)
    assert (preview.mastered_gained, preview.mastered_lost) == (4, 0)
    assert [(c.name, c.change_count) for c in preview.changed] == [("Ada Own", 2), ("Ben Same", 2)]
    change = preview.changed[0].changes[0]
    assert (change.code, change.before, change.after) == (
        tree.standards[0].human_code, "Developing", "Advanced (mastered)",
    )  # fmt: skip
    page = response.content.decode()
    assert "What-if preview: nothing is saved yet" in page
    assert "Developing → Advanced (mastered)" in page
    # Nothing was written.
    assert not CalculationPolicy.objects.exists()
    assert not BulkRecompute.objects.exists()


def test_a_roll_up_change_alone_previews_the_groupings_it_moves(cast: Cast) -> None:
    """The same method, another roll-up rule: only the domains move (one of two children
    mastered is half of them), and saving moves exactly those."""
    tree = _rated(cast)
    client = _client(cast.school_admin)
    url = reverse("standards:policy_edit", args=[cast.school.pk])
    policy = {
        "method": "decaying_average",
        "weight": "65",
        "min_evidence": "1",
        "rollup_rule": "share_mastered",
        "share": "0.5",
    }
    preview = client.post(url, {**policy, "preview": "1"}).context["preview"]

    assert (preview.records, preview.changed_records, preview.mastered_gained) == (6, 2, 2)
    domain = tree.standards[0].parent
    assert {change.code for learner in preview.changed for change in learner.changes} == {
        domain.statement[:40]
    }
    assert client.post(url, policy).status_code == 302
    job = BulkRecompute.objects.get()
    for batch in job.batches.all():
        mastery_services.run_bulk_batch(batch_id=batch.pk)
    moved = MasteryEvent.objects.filter(bulk_recompute=job)
    assert sorted(moved.values_list("standard_id", "to_mastered")) == [
        (domain.pk, True),
        (domain.pk, True),
    ]


def test_a_school_with_its_own_policy_is_not_moved_by_its_districts_change(cast: Cast) -> None:
    _rated(cast)
    CalculationPolicy.objects.create(organisation=cast.school, method="decaying_average")
    response = _client(cast.district_admin).post(
        reverse("standards:policy_edit", args=[cast.district.pk]), {**POLICY, "preview": "1"}
    )
    preview = response.context["preview"]
    assert (preview.rated_learners, preview.changed_learners, preview.changed) == (2, 0, [])


def test_a_framework_override_preview_only_moves_that_frameworks_standards(cast: Cast) -> None:
    tree = _rated(cast)
    other = make_tree(domains=1, per_domain=1)
    quick_entry(cast.teacher, cast.section, [cast.own], other.standards, "1", when=EARLIER)
    quick_entry(cast.teacher, cast.section, [cast.own], other.standards, "4", when=LATER)
    run_worker()
    url = reverse("standards:policy_override", args=[cast.school.pk, other.framework.pk])
    preview = _client(cast.school_admin).post(url, {**POLICY, "preview": "1"}).context["preview"]
    # The other framework's standard and its domain (now all children mastered).
    assert (preview.records, preview.changed_records) == (2, 2)
    assert preview.changed[0].changes[0].code == other.standards[0].human_code
    assert tree.framework.pk != other.framework.pk


def test_a_scale_preview_shows_mastery_lost_when_the_threshold_rises(cast: Cast) -> None:
    _rated(cast)
    response = _client(cast.school_admin).post(
        reverse("standards:scale_edit", args=[cast.school.pk]),
        {**_scale_form("4", DEFAULT_LEVELS), "preview": "1"},
    )
    assert response.status_code == 200
    preview = response.context["preview"]
    # The two "3, 3" records stay Proficient but are no longer mastered.
    assert (preview.changed_records, preview.mastered_gained, preview.mastered_lost) == (2, 0, 2)
    assert not ProficiencyScale.objects.exists()


def test_a_scale_that_does_not_cover_the_ratings_is_reported_not_computed(cast: Cast) -> None:
    _rated(cast)
    levels = [("3", "High", "#1565c0"), ("2", "Middle", "#2e7d32"), ("1", "Low", "#c62828")]
    response = _client(cast.school_admin).post(
        reverse("standards:scale_edit", args=[cast.school.pk]),
        {**_scale_form("2", levels), "preview": "1"},
    )
    preview = response.context["preview"]
    assert preview.problems == [
        "2 counted ratings lie outside the proposed scale (1 to 3): those learners could not "
        "be recomputed"
    ]
    assert preview.changed_records == 0


def test_an_invalid_proposal_lists_its_problems_and_previews_nothing(cast: Cast) -> None:
    response = _client(cast.school_admin).post(
        reverse("standards:policy_edit", args=[cast.school.pk]),
        {**POLICY, "method": "decaying_average", "weight": "20", "preview": "1"},
    )
    assert response.status_code == 400
    assert response.context["preview"] is None
    assert response.context["problems"]


def test_saving_applies_the_policy_and_the_bulk_recompute_moves_exactly_the_previewed_levels(
    cast: Cast,
) -> None:
    _rated(cast)
    client = _client(cast.school_admin)
    url = reverse("standards:policy_edit", args=[cast.school.pk])
    preview = client.post(url, {**POLICY, "preview": "1"}).context["preview"]

    response = client.post(url, POLICY)

    assert response.status_code == 302
    assert CalculationPolicy.objects.get(organisation=cast.school).method == "highest"
    job = BulkRecompute.objects.get()
    assert (job.organisation_id, job.reason, job.framework_id) == (cast.school.pk, "policy", None)
    # What the workers do after the commit: run the job's batches.
    for batch in job.batches.all():
        mastery_services.run_bulk_batch(batch_id=batch.pk)
    moved = MasteryEvent.objects.filter(bulk_recompute=job)
    assert moved.count() == preview.changed_records == 4
    assert moved.filter(standard__is_grouping=True).count() == 2
    assert MasteryRecord.objects.filter(level_label="Advanced").count() == 2


def test_saving_a_scale_starts_a_scale_recompute(cast: Cast) -> None:
    response = _client(cast.school_admin).post(
        reverse("standards:scale_edit", args=[cast.school.pk]), _scale_form("3", DEFAULT_LEVELS)
    )
    assert response.status_code == 302
    assert BulkRecompute.objects.get().reason == "scale"


@pytest.mark.parametrize(
    ("persona", "organisation", "status"),
    [
        ("district_admin", "district", 200),
        ("state_admin", "district", 200),
        ("school_admin", "district", 403),  # seen (an ancestor), not administered
        ("teacher", "school", 403),
        ("student", "school", 403),
        ("guardian", "school", 403),
        ("school_admin", "other_school", 404),
        ("district_admin", "other_district", 404),
        ("outsider", "school", 404),
    ],
)
def test_only_the_organisations_administrators_may_preview(
    cast: Cast, persona: str, organisation: str, status: int
) -> None:
    url = reverse("standards:policy_edit", args=[getattr(cast, organisation).pk])
    response = _client(cast.persona(persona)).post(url, {**POLICY, "preview": "1"})
    assert response.status_code == status
    scale_url = reverse("standards:scale_edit", args=[getattr(cast, organisation).pk])
    data = {**_scale_form("3", DEFAULT_LEVELS), "preview": "1"}
    assert _client(cast.persona(persona)).post(scale_url, data).status_code == status
