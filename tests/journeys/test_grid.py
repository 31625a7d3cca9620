"""The section grid: what it shows, its filters, its freshness, and a fixed number of queries."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evidence.models import Evidence, Rating
from mastery import grid
from mastery import services as mastery_services
from mastery.grid import GridFilters, list_section_grid
from mastery.models import StaleMastery
from mastery.templatetags.mastery_grid import ago
from standards.models import CalculationPolicy, Priority, ProficiencyScale, ScaleLevel
from tests.factories import EnrollmentFactory, LearnerFactory
from tests.journeys.helpers import make_tree, quick_entry, require, run_worker
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _cells(section_grid: grid.SectionGrid) -> dict[tuple[str, str], str]:
    return {
        (row.learner.given_name, column.code): cell.text
        for row in section_grid.rows
        for column, cell in zip(section_grid.columns, row.cells, strict=True)
    }


def test_the_grid_shows_required_and_rated_standards_with_each_learners_level(
    cast: Cast,
) -> None:
    tree = make_tree()
    require(cast.school, cast.term, tree.of_domain(0), priority=Priority.POWER)
    quick_entry(cast.teacher, cast.section, [cast.own], [tree.standards[0]], "3")
    quick_entry(cast.teacher, cast.section, [cast.same_section], [tree.standards[3]], "2")
    run_worker()

    section_grid = list_section_grid(cast.teacher, cast.section)

    assert [column.code for column in section_grid.columns] == [
        "5.NF.A.1", "5.NF.A.2", "5.NF.A.3", "5.MD.A.1",
    ]  # fmt: skip
    assert [row.learner.given_name for row in section_grid.rows] == ["Ada", "Ben"]
    assert _cells(section_grid) == {
        ("Ada", "5.NF.A.1"): "Proficient",
        ("Ada", "5.NF.A.2"): "—",
        ("Ada", "5.NF.A.3"): "—",
        ("Ada", "5.MD.A.1"): "—",
        ("Ben", "5.NF.A.1"): "—",
        ("Ben", "5.NF.A.2"): "—",
        ("Ben", "5.NF.A.3"): "—",
        ("Ben", "5.MD.A.1"): "Developing",
    }
    assert [column.power for column in section_grid.columns] == [True, True, True, False]
    assert [d.label for d in section_grid.domains] == [
        "Measurement and Data", "Number and Operations—Fractions",
    ]  # fmt: skip
    assert section_grid.pending == 0
    assert section_grid.counts == {
        "mastered": 1, "not_yet": 1, "insufficient_evidence": 0, "not_assessed": 6, "pending": 0,
        "inconsistent": 0,
    }  # fmt: skip


def test_the_grid_filters_by_domain_power_standards_and_state(cast: Cast) -> None:
    tree = make_tree()
    require(cast.school, cast.term, tree.of_domain(0)[:1], priority=Priority.POWER)
    quick_entry(cast.teacher, cast.section, [cast.own, cast.same_section], tree.standards, "2")
    quick_entry(cast.teacher, cast.section, [cast.own], [tree.standards[4]], "4")
    run_worker()

    by_domain = list_section_grid(
        cast.teacher, cast.section, GridFilters(domain_id=tree.domains[1].pk)
    )
    assert [c.code for c in by_domain.columns] == ["5.MD.A.1", "5.MD.A.2", "5.MD.A.3"]
    power = list_section_grid(cast.teacher, cast.section, GridFilters(power_only=True))
    assert [c.code for c in power.columns] == ["5.NF.A.1"]
    mastered = list_section_grid(cast.teacher, cast.section, GridFilters(state="mastered"))
    # Ada's 2 then 4 on 5.MD.A.2 (decaying average 65) gives 3.30: mastered; nobody else is.
    assert [c.code for c in mastered.columns] == ["5.MD.A.2"]
    assert [row.learner.given_name for row in mastered.rows] == ["Ada"]
    assert [(cell.text, cell.dimmed) for cell in mastered.rows[0].cells] == [("Proficient", False)]


def test_a_state_filter_dims_the_cells_of_other_states(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=2)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "3")
    quick_entry(cast.teacher, cast.section, [cast.same_section], tree.standards[:1], "1")
    run_worker()
    section_grid = list_section_grid(cast.teacher, cast.section, GridFilters(state="not_yet"))
    assert [row.learner.given_name for row in section_grid.rows] == ["Ben"]
    assert [(cell.text, cell.dimmed) for cell in section_grid.rows[0].cells] == [
        ("Beginning", False)
    ]


def test_pending_recomputes_are_marked_until_the_worker_runs(client: Client, cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=1)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "3")
    url = reverse("mastery:section_grid", args=[cast.section.pk])
    page = _client(cast.teacher).get(url).content.decode()
    assert "1 recompute pending" in page
    assert '<td class="st-not_assessed pending"><a href=' in page
    assert 'title="A recompute is pending">—</a>' in page
    run_worker()
    page = _client(cast.teacher).get(url).content.decode()
    assert "Up to date with every counted rating." in page
    assert 'class="lv-1 m"' in page
    assert ">Proficient</a>" in page


def _looks(section_grid: grid.SectionGrid) -> dict[tuple[str, str], tuple[str, bool, bool]]:
    return {
        (row.learner.given_name, column.code): (cell.text, cell.pending, "overridden" in cell.css)
        for row in section_grid.rows
        for column, cell in zip(section_grid.columns, row.cells, strict=True)
    }


def test_each_cell_is_fresh_under_the_rules_of_its_framework_and_shows_markers_and_overrides(
    cast: Cast,
) -> None:
    """A cell is pending when a recompute is queued for it, or when its record was computed under
    other rules than those in force for its learner's school and its standard's framework (ADR
    8); an override in force is marked. The grid reads records, markers, overrides and the
    rules' version in one statement: every change below shows on the very next grid."""
    first = make_tree(domains=1, per_domain=1)
    second = make_tree(domains=1, per_domain=1, grade="6")
    learners, standards = [cast.own, cast.same_section], [*first.standards, *second.standards]
    quick_entry(cast.teacher, cast.section, learners, standards, "3")
    run_worker()
    a, b = first.standards[0].human_code, second.standards[0].human_code
    assert first.framework.pk != second.framework.pk
    fresh = list_section_grid(cast.teacher, cast.section)
    assert set(_looks(fresh).values()) == {("Proficient", False, False)}
    assert (fresh.pending, fresh.counts["mastered"], fresh.counts["pending"]) == (0, 4, 0)

    # A policy for the second framework only, written without its recompute: its records were
    # computed under other rules, the first framework's are still current.
    CalculationPolicy.objects.create(
        organisation=cast.school, framework=second.framework, method="highest"
    )
    stale = list_section_grid(cast.teacher, cast.section)
    assert _looks(stale) == {
        ("Ada", a): ("Proficient", False, False),
        ("Ada", b): ("Proficient", True, False),
        ("Ben", a): ("Proficient", False, False),
        ("Ben", b): ("Proficient", True, False),
    }
    assert (stale.pending, stale.counts["pending"], stale.counts["mastered"]) == (2, 2, 4)
    assert mastery_services.sweep_stale_mastery().marked == 2
    run_worker()
    assert not StaleMastery.objects.exists()

    # An override in force on one cell, a queued recompute on another.
    mastery_services.set_override(
        actor=cast.teacher, learner=cast.own, standard=first.standards[0], level=4,
        reason="Showed it in class.",
    )  # fmt: skip
    run_worker()
    quick_entry(cast.teacher, cast.section, [cast.same_section], first.standards, "1")
    marked = list_section_grid(cast.teacher, cast.section)
    assert _looks(marked) == {
        ("Ada", a): ("Advanced", False, True),
        ("Ada", b): ("Proficient", False, False),
        ("Ben", a): ("Proficient", True, False),
        ("Ben", b): ("Proficient", False, False),
    }
    assert (marked.pending, marked.counts["pending"], marked.counts["mastered"]) == (1, 1, 4)


def test_a_scale_edited_in_the_database_shows_on_the_next_grid(cast: Cast) -> None:
    """The scale comes from the pages' cache, checked against the version the grid's cells
    statement reads: an edit, even one made with update(), shows at once."""
    tree = make_tree(domains=1, per_domain=1)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "3")
    run_worker()
    url = reverse("mastery:section_grid", args=[cast.section.pk])
    client = _client(cast.teacher)
    assert ">Proficient</a>" in client.get(url).content.decode()
    assert ">Proficient</a>" in client.get(url).content.decode()  # now from the cache
    scale = ProficiencyScale.objects.create(organisation=cast.school, mastery_threshold=3)
    for points, label in ((4, "Beyond"), (3, "Secure"), (2, "Growing"), (1, "Starting")):
        ScaleLevel.objects.create(scale=scale, points=points, label=label, cut_point=points)
    page = client.get(url).content.decode()
    assert "Secure" in page  # the legend and the cell: the new scale at once
    assert "Beyond" in page
    ScaleLevel.objects.filter(scale=scale, label="Secure").update(label="Got it")
    page = client.get(url).content.decode()
    assert "Got it" in page
    assert "Secure" not in page


def test_the_grid_page_links_each_cell_to_its_evidence_and_explanation(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=1)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "4")
    run_worker()
    page = (
        _client(cast.teacher)
        .get(reverse("mastery:section_grid", args=[cast.section.pk]))
        .content.decode()
    )
    cell = reverse("mastery:cell_detail", args=[cast.own.pk, tree.standards[0].pk])
    assert f'<td class="lv-0 m"><a href="{cell}">Advanced</a></td>' in page
    assert 'src="/static/js/grid.' in page
    panel = _client(cast.teacher).get(f"{cell}?panel=1").content.decode()
    assert "<html" not in panel
    assert "Observed in class" in panel
    assert "<code>decaying_average</code>" in panel


def test_the_scale_stylesheet_colours_each_level_with_readable_text(cast: Cast) -> None:
    scale = ProficiencyScale.objects.create(organisation=cast.district, mastery_threshold=2)
    ScaleLevel.objects.create(scale=scale, points=2, label="Got it", colour="#ffeb3b", cut_point=2)
    ScaleLevel.objects.create(scale=scale, points=1, label="Not yet", colour="#0d47a1", cut_point=1)
    css = _client(cast.teacher).get(reverse("mastery:scale_css", args=[cast.school.pk]))
    assert css["Content-Type"] == "text/css; charset=utf-8"
    assert css.content.decode() == (
        ".lv-0{background:#ffeb3b;color:#000000}\n.lv-1{background:#0d47a1;color:#ffffff}\n"
    )


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ("#1565c0", "#ffffff"),
        ("#2e7d32", "#ffffff"),
        ("#f9a825", "#000000"),
        ("#c62828", "#ffffff"),
    ],
)
def test_text_on_every_default_level_colour_reaches_the_contrast_the_guidelines_ask(
    background: str, text: str
) -> None:
    assert grid.text_colour_for(background) == text
    assert grid.contrast_ratio(background, text) >= 4.5


def _grid_queries(cast: Cast) -> tuple[int, int, int]:
    client = _client(cast.teacher)
    url = reverse("mastery:section_grid", args=[cast.section.pk])
    client.get(url)  # the first request fills the pages' cache of the scale and the rules
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    section_grid = response.context["grid"]
    # The test's transaction makes the audit write a savepoint: not the page's.
    statements = [
        query["sql"]
        for query in queries.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    return len(statements), len(section_grid.rows), len(section_grid.columns)


def test_the_grid_runs_the_same_number_of_queries_for_more_learners_and_standards(
    cast: Cast,
) -> None:
    first = make_tree(domains=2, per_domain=2)
    require(cast.school, cast.term, first.standards[:2], priority=Priority.POWER)
    quick_entry(cast.teacher, cast.section, [cast.own, cast.same_section], first.standards, "3")
    run_worker()
    quick_entry(cast.teacher, cast.section, [cast.own], first.standards[:1], "2")  # pending
    small = _grid_queries(cast)

    second = make_tree(domains=2, per_domain=4)
    extra = [LearnerFactory(school=cast.school) for _ in range(5)]
    for learner in extra:
        EnrollmentFactory(learner=learner, section=cast.section)
    require(cast.school, cast.term, second.standards[:4], priority=Priority.POWER)
    everyone = [cast.own, cast.same_section, *extra]
    quick_entry(cast.teacher, cast.section, everyone, second.standards, "3")
    run_worker()
    quick_entry(cast.teacher, cast.section, extra, second.standards[:3], "2")  # pending
    large = _grid_queries(cast)

    assert (small[1], small[2]) == (2, 4)
    assert (large[1], large[2]) == (7, 12)
    assert small[0] == large[0]
    # The session, the user, the section with the access check, the roster, the user's roles
    # (navigation, audit), the standards with their ancestry and the requirements, the cells (with
    # the freshness, the dirty markers, the overrides and the version of the rules: the scale
    # and the rules come from the pages' cache) and the audit entries.
    assert small[0] == 8, small


def test_filter_values_that_mean_nothing_are_ignored_or_match_nothing(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=1)
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards, "3")
    run_worker()
    client = _client(cast.teacher)
    url = reverse("mastery:section_grid", args=[cast.section.pk])
    bad = client.get(f"{url}?domain=abc&state=everything")
    assert bad.status_code == 200
    assert len(bad.context["grid"].columns) == 1  # an invalid filter filters nothing
    unknown = client.get(f"{url}?domain=999999")
    assert unknown.status_code == 200
    assert "No standard matches these filters." in unknown.content.decode()


def test_a_self_rating_never_adds_a_column_to_the_grid_or_quick_entry(cast: Cast) -> None:
    tree = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, tree.standards[:1])
    from evidence import services as evidence_services

    evidence_services.submit_evidence(
        actor=cast.student,
        kind="project",
        title="My poster",
        description="A poster.",
        demonstrated_at=timezone.now(),
        self_scores={tree.standards[1].pk: "4"},
    )
    run_worker()  # the self-rating's recompute makes a "not assessed" record
    assert [c.code for c in list_section_grid(cast.teacher, cast.section).columns] == [
        tree.standards[0].human_code
    ]
    assert [c.code for c in grid.standards_for_quick_entry(cast.teacher, cast.section)] == [
        tree.standards[0].human_code
    ]
    quick_entry(cast.teacher, cast.section, [cast.own], tree.standards[1:], "2")  # pending
    assert len(list_section_grid(cast.teacher, cast.section).columns) == 2


def test_column_labels_tell_the_codes_apart() -> None:
    assert grid.distinct_labels(
        [
            "CCSS.Math.Content.3.OA.A.1",
            "CCSS.Math.Practice.MP1",
            "CCSS.ELA-Literacy.RL.3.1",
            "CCSS.ELA-Literacy.RI.3.1",
            "Counting",
        ]
    ) == ["3.OA.A.1", "MP1", "RL.3.1", "RI.3.1", "Counting"]
    assert grid.distinct_labels(["A.B.1", "C.B.1"]) == ["A.B.1", "C.B.1"]


def test_levels_typed_in_the_grid_make_one_evidence_per_learner_and_refusals_name_them(
    cast: Cast,
) -> None:
    tree = make_tree(domains=1, per_domain=2)
    require(cast.school, cast.term, tree.standards)
    client = _client(cast.teacher)
    url = reverse("evidence:grid_ratings", args=[cast.section.pk])
    grid_url = reverse("mastery:section_grid", args=[cast.section.pk])
    a, b = tree.standards
    typed = [
        f"{cast.own.pk}:{a.pk}:3",
        f"{cast.own.pk}:{b.pk}:4",
        f"{cast.same_section.pk}:{a.pk}:1",
    ]
    today = timezone.localdate().isoformat()
    saved = client.post(
        url,
        {"rating": typed, "title": "Exit ticket", "kind": "observation", "demonstrated_on": today,
         "next": f"{grid_url}?power=on"},
    )  # fmt: skip
    assert saved["Location"] == f"{grid_url}?power=on"
    assert Evidence.objects.filter(title="Exit ticket").count() == 2
    got = {
        (r.learner_id, r.standard_id, int(r.score))
        for r in Rating.objects.filter(evidence__title="Exit ticket")
    }
    assert got == {(cast.own.pk, a.pk, 3), (cast.own.pk, b.pk, 4), (cast.same_section.pk, a.pk, 1)}
    future = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
    refused = client.post(
        url,
        {"rating": typed[:1], "title": "Later", "kind": "observation", "demonstrated_on": future},
        follow=True,
    )
    page = refused.content.decode()
    assert refused.redirect_chain[-1][0] == f"{grid_url}?unsaved=1"
    assert "Nothing was saved: This date is in the future." in page
    assert "demonstrated_at" not in page
    outsider = client.post(
        url,
        {"rating": [f"{cast.other_school_learner.pk}:{a.pk}:3"], "title": "X",
         "kind": "observation", "demonstrated_on": today},
        follow=True,
    )  # fmt: skip
    refusal = outsider.content.decode().split("Nothing was saved:")[1].split("</li>")[0]
    assert refusal.strip() == (
        "One of these learners is not in this section today: reload the page and try again."
    )
    assert not Evidence.objects.filter(title__in=["Later", "X"]).exists()


def test_freshness_says_just_now_rather_than_zero_minutes() -> None:
    now = timezone.now()
    assert ago(now) == "just now"
    assert ago(now - datetime.timedelta(minutes=5)) == "5\u00a0minutes ago"  # as timesince
    assert ago(None) == ""
