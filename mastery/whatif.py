"""The what-if preview of a calculation policy or proficiency scale change, before it is saved.

For every learner at or below the organisation, every standard they have counted ratings on
(one framework's standards for a framework override) is evaluated twice by the mastery core,
as the reports evaluate it (``mastery.core``: the engine's bulk path, the teachers' overrides in
force, groupings rolled up under each side's roll-up rule): under the rules in force now and
under the rules that would be in force after the change. The inheritance of settings is respected: a
school's own policy or scale, or a framework override nearer to the learner than the
organisation being changed, keeps applying, so those learners do not change. The counted
ratings are read a page of learners at a time in one query, never per learner. Every record is
compared, groupings included. Nothing is written.
"""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import numpy as np
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from learners.models import KIND_RANK, Learner, Organisation, OrganisationKind
from learners.selectors import AnyUser, administered_organisations, descendants_of
from mastery import core
from mastery.core import Rules, RulesError, engine_rules
from standards.models import Framework, Standard, StandardStatus
from standards.selectors import EffectivePolicy, EffectiveScale, policy_for, scale_for

SHOWN_CHANGES_PER_LEARNER: Final = 5


@dataclass(frozen=True)
class LevelChange:
    code: str
    before: str
    after: str


@dataclass(frozen=True)
class ChangedLearner:
    learner_id: int
    name: str
    school: str
    change_count: int
    changes: list[LevelChange]


@dataclass(frozen=True)
class WhatIf:
    """How a change would move levels. ``changed`` lists at most ``limit`` learners (by name)."""

    learners: int
    rated_learners: int
    records: int
    changed_records: int
    changed_learners: int
    mastered_gained: int
    mastered_lost: int
    changed: list[ChangedLearner]
    problems: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.changed_learners > len(self.changed)


type _Level = tuple[Decimal | None, str, bool]  # points, label (or state words), mastered


def preview_policy_change(
    *,
    actor: AnyUser,
    organisation: Organisation,
    proposed: EffectivePolicy,
    framework: Framework | None = None,
    limit: int = 200,
) -> WhatIf:
    """What setting ``proposed`` as ``organisation``'s policy (its override for ``framework``
    when given) would change. Administrators of the organisation only (``PermissionDenied``)."""
    _require_admin(actor, organisation)
    rank = _ranks()
    target = rank[organisation.pk]

    def nearer_or_equal(organisation_id: int | None) -> bool:
        return organisation_id is None or rank[organisation_id] <= target

    def after(school_id: int, framework_id: int) -> Rules | None:
        current = policy_for(school_id, framework_id)
        if framework is None:
            affected = current.framework_id is None and nearer_or_equal(current.organisation_id)
        else:
            affected = framework_id == framework.pk and (
                current.framework_id is None or nearer_or_equal(current.organisation_id)
            )
        return engine_rules(proposed, scale_for(school_id)) if affected else None

    return _preview(organisation, framework, after, limit)


def preview_scale_change(
    *, actor: AnyUser, organisation: Organisation, proposed: EffectiveScale, limit: int = 200
) -> WhatIf:
    """What setting ``proposed`` as ``organisation``'s proficiency scale would change.
    Administrators of the organisation only (``PermissionDenied``)."""
    _require_admin(actor, organisation)
    rank = _ranks()
    target = rank[organisation.pk]

    def after(school_id: int, framework_id: int) -> Rules | None:
        current = scale_for(school_id)
        if current.organisation_id is not None and rank[current.organisation_id] > target:
            return None  # a scale nearer to the school keeps applying
        return engine_rules(policy_for(school_id, framework_id), proposed)

    return _preview(organisation, None, after, limit)


def _require_admin(actor: AnyUser, organisation: Organisation) -> None:
    if not administered_organisations(actor).filter(pk=organisation.pk).exists():
        raise PermissionDenied("Only administrators of this organisation preview its changes.")


def _ranks() -> dict[int, int]:
    """Organisation id -> depth of its kind (state 0, district 1, school 2)."""
    return {
        pk: KIND_RANK[OrganisationKind(kind)]
        for pk, kind in Organisation.objects.values_list("pk", "kind")
    }


CHUNK_LEARNERS: Final = 2000


@dataclass(frozen=True)
class _Tree:
    """The active standards in scope: frameworks, codes, leaves and groupings' children."""

    framework_of: dict[int, int]
    code_of: dict[int, str]
    leaves: list[int]
    children_of: dict[int, tuple[int, ...]]
    groupings_above: dict[int, tuple[int, ...]]


def _tree(framework: Framework | None) -> _Tree:
    rows = Standard.objects.filter(status=StandardStatus.ACTIVE)
    if framework is not None:
        rows = rows.filter(framework=framework)
    found = {
        pk: (framework_id, parent_id, grouping, code or statement[:40])
        for pk, framework_id, parent_id, grouping, code, statement in rows.values_list(
            "pk", "framework_id", "parent_id", "is_grouping", "human_code", "statement"
        )
    }
    children: dict[int, list[int]] = defaultdict(list)
    for pk, (_framework, parent, _grouping, _code) in found.items():
        if parent in found and found[parent][2]:
            children[parent].append(pk)

    def above(pk: int) -> tuple[int, ...]:
        out: list[int] = []
        parent = found[pk][1]
        while parent in found and found[parent][2] and len(out) < 50:
            out.append(parent)
            parent = found[parent][1]
        return tuple(out)

    return _Tree(
        framework_of={pk: row[0] for pk, row in found.items()},
        code_of={pk: row[3] for pk, row in found.items()},
        leaves=sorted(pk for pk, row in found.items() if not row[2]),
        children_of={pk: tuple(sorted(kids)) for pk, kids in children.items()},
        groupings_above={pk: above(pk) for pk, row in found.items() if not row[2]},
    )


@dataclass
class _Tally:
    records: int = 0
    changed_records: int = 0
    gained: int = 0
    lost: int = 0
    rated: set[int] = field(default_factory=set)
    changes: dict[int, list[LevelChange]] = field(default_factory=lambda: defaultdict(list))
    problems: set[str] = field(default_factory=set)


def _preview(
    organisation: Organisation,
    framework: Framework | None,
    after: Callable[[int, int], Rules | None],
    limit: int,
) -> WhatIf:
    """Every learner at or below ``organisation``, a page of learners at a time, through the
    mastery core as the reports compute (``core.evaluate_many``, the overrides in force, the
    groupings rolled up): under the rules in force and under ``after``'s, compared pair by pair
    (groupings included)."""
    organisation_ids = tuple(descendants_of(organisation).values_list("pk", flat=True))
    schools = dict(
        Learner.objects.filter(school_id__in=organisation_ids).values_list("pk", "school_id")
    )
    if not schools:
        return WhatIf(0, 0, 0, 0, 0, 0, 0, [])
    tree = _tree(framework)
    after = functools.cache(after)
    now = timezone.now()
    books = (core.RulesBook(), core.RulesBook(replace=after))
    tally = _Tally()
    learner_ids = sorted(schools)
    for start in range(0, len(learner_ids), CHUNK_LEARNERS):
        chunk = learner_ids[start : start + CHUNK_LEARNERS]
        ratings = core.counted_rating_columns(chunk, tree.leaves, now)
        ratings = _within_proposed_scales(ratings, schools, tree, after, tally)
        try:
            before, proposed = (
                _evaluate(ratings, chunk, schools, tree, book, now) for book in books
            )
            _compare(before, proposed, books, tree, tally)
        except (core.ReportDataError, RulesError) as error:
            tally.problems.add(str(error))
    shown = (
        Learner.objects.filter(pk__in=list(tally.changes))
        .select_related("school")
        .order_by("family_name", "given_name", "pk")[:limit]
    )
    return WhatIf(
        learners=len(schools),
        rated_learners=len(tally.rated),
        records=tally.records,
        changed_records=tally.changed_records,
        changed_learners=len(tally.changes),
        mastered_gained=tally.gained,
        mastered_lost=tally.lost,
        changed=[
            ChangedLearner(
                learner_id=learner.pk,
                name=learner.display_name,
                school=learner.school.name,
                change_count=len(tally.changes[learner.pk]),
                changes=sorted(tally.changes[learner.pk], key=lambda c: c.code)[
                    :SHOWN_CHANGES_PER_LEARNER
                ],
            )
            for learner in shown
        ],
        problems=sorted(tally.problems),
    )


def _within_proposed_scales(
    ratings: core.Ratings,
    schools: dict[int, int],
    tree: _Tree,
    after: Callable[[int, int], Rules | None],
    tally: _Tally,
) -> core.Ratings:
    """``ratings`` without those of (school, framework) pairs where a counted rating lies
    outside the proposed scale (those learners could not be recomputed: a problem says so)."""
    if len(ratings) == 0:
        return ratings
    school = np.array([schools[int(i)] for i in ratings.learner.tolist()], np.int64)
    frame = np.array([tree.framework_of[int(i)] for i in ratings.standard.tolist()], np.int64)
    keep = np.ones(len(ratings), bool)
    for key_school, key_framework in {(int(a), int(b)) for a, b in zip(school, frame, strict=True)}:
        proposed = after(key_school, key_framework)
        if proposed is None:
            continue
        rows = (school == key_school) & (frame == key_framework)
        scores = ratings.score_hundredths[rows] / 100
        low, high = float(proposed.scale.low), float(proposed.scale.high)
        outside = int(np.count_nonzero((scores < low) | (scores > high)))
        if outside:
            keep &= ~rows
            tally.problems.add(
                f"{outside} counted rating{'s' if outside != 1 else ''} lie outside the proposed "
                f"scale ({low:g} to {high:g}): those learners could not be recomputed"
            )
    if keep.all():
        return ratings
    return core.Ratings(
        learner=ratings.learner[keep],
        standard=ratings.standard[keep],
        score_hundredths=ratings.score_hundredths[keep],
        day=ratings.day[keep],
        ids=ratings.ids[keep],
    )


def _evaluate(
    ratings: core.Ratings,
    chunk: list[int],
    schools: dict[int, int],
    tree: _Tree,
    book: core.RulesBook,
    now: datetime.datetime,
) -> core.Results:
    school_of = {learner_id: schools[learner_id] for learner_id in chunk}
    results = core.evaluate_many(
        ratings, school_of=school_of, framework_of=tree.framework_of, book=book
    )
    results = core.apply_overrides(
        results,
        learner_ids=chunk,
        standard_ids=tree.leaves,
        at=now,
        school_of=school_of,
        framework_of=tree.framework_of,
        book=book,
    )
    pairs = sorted(
        {
            (learner_id, grouping)
            for learner_id, standard_id in zip(
                results.learner.tolist(), results.standard.tolist(), strict=True
            )
            for grouping in tree.groupings_above.get(standard_id, ())
        }
    )
    return core.add_rollups(
        results,
        pairs=pairs,
        children_of=tree.children_of,
        school_of=school_of,
        framework_of=tree.framework_of,
        book=book,
    )


def _compare(
    before: core.Results,
    proposed: core.Results,
    books: tuple[core.RulesBook, core.RulesBook],
    tree: _Tree,
    tally: _Tally,
) -> None:
    """Counts and lists the pairs whose level, state or mastery differ (the same pairs on both
    sides: the same ratings, overrides and groupings)."""
    if not (
        np.array_equal(before.learner, proposed.learner)
        and np.array_equal(before.standard, proposed.standard)
    ):
        raise RulesError("the two evaluations covered different records")
    tally.records += len(before)
    tally.rated.update(before.learner[~before.rollup].tolist())
    for row in range(len(before)):
        old = _level(before, row, books[0])
        new = _level(proposed, row, books[1])
        if old == new:
            continue
        learner_id = int(before.learner[row])
        tally.changed_records += 1
        tally.gained += int(new[2] and not old[2])
        tally.lost += int(old[2] and not new[2])
        tally.changes[learner_id].append(
            LevelChange(tree.code_of[int(before.standard[row])], _words(old), _words(new))
        )


def _level(results: core.Results, row: int, book: core.RulesBook) -> _Level:
    label = int(results.label[row])
    if label >= 0:
        rules_id = int(results.rules_id[row])
        points = next(
            level.points
            for level in book.rules[rules_id].scale.levels
            if level.label == book.labels[label]
        )
        return points, book.labels[label], bool(results.mastered[row])
    state = int(results.state[row])
    mastered = bool(results.mastered[row])
    if state == core.SCORED:  # a grouping rolled up without a level
        return None, "mastered" if mastered else "not mastered", mastered
    return None, "insufficient evidence" if state == core.INSUFFICIENT else "not assessed", False


def _words(level: _Level) -> str:
    points, label, mastered = level
    if points is None:
        return label
    return f"{label}{' (mastered)' if mastered else ''}"
