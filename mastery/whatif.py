"""The what-if preview of a calculation policy or proficiency scale change, before it is saved.

For every learner at or below the organisation, every assessable standard they have counted
ratings on (one framework's standards for a framework override) is evaluated twice with the
engine's bulk path (``mastery.bulk.evaluate_bulk``): under the rules in force now and under the
rules that would be in force after the change. The inheritance of settings is respected: a
school's own policy or scale, or a framework override nearer to the learner than the
organisation being changed, keeps applying, so those learners do not change. The counted
ratings are read set-based (PostgreSQL: one ``COPY`` stream, ``mastery.sql``), never per learner.

Only leaf standards are compared (groupings roll up from them). Nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import numpy as np
from django.core.exceptions import PermissionDenied

from learners.models import KIND_RANK, Learner, Organisation, OrganisationKind
from learners.selectors import AnyUser, administered_organisations, descendants_of
from mastery import core
from mastery.core import BulkScope, Rules, RulesError, Scale, engine_rules
from standards.models import Framework, Standard
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


def _stream(
    organisation_ids: tuple[int, ...], low: int, high: int, framework_id: int | None
) -> Iterator[tuple[int, int, float]]:
    """(learner, standard, score) of every counted rating in scope, by pair then in the engine's
    order."""
    scope = BulkScope(low, high, organisation_ids, framework_id)
    for learner_id, standard_id, score, _micros in core.stream_counted_ratings(scope):
        yield learner_id, standard_id, score


def _levels_of(groups: np.ndarray, scores: np.ndarray, rules: Rules) -> list[_Level]:
    result = core.evaluate_groups(groups, scores, rules)
    out: list[_Level] = []
    for row in range(len(result)):
        index = int(result.level_index[row])
        if index < 0:
            out.append((None, _STATE_WORDS.get(result.state_name(row), "no level"), False))
        else:
            level = rules.scale.levels[index]
            out.append((level.points, level.label, bool(result.mastered[row])))
    return out


_STATE_WORDS: Final = {
    "not_assessed": "not assessed",
    "insufficient_evidence": "insufficient evidence",
    "scored": "no level",
}


def _outside(scores: np.ndarray, scale: Scale) -> int:
    return int(np.count_nonzero((scores < float(scale.low)) | (scores > float(scale.high))))


def _preview(
    organisation: Organisation,
    framework: Framework | None,
    after: Callable[[int, int], Rules | None],
    limit: int,
) -> WhatIf:
    organisation_ids = tuple(descendants_of(organisation).values_list("pk", flat=True))
    schools = dict(
        Learner.objects.filter(school_id__in=organisation_ids).values_list("pk", "school_id")
    )
    if not schools:
        return WhatIf(0, 0, 0, 0, 0, 0, 0, [])
    pair_learner: list[int] = []
    pair_standard: list[int] = []
    counts: list[int] = []
    scores: list[float] = []
    for learner_id, standard_id, score in _stream(
        organisation_ids, min(schools), max(schools), framework.pk if framework else None
    ):
        if not pair_learner or (pair_learner[-1], pair_standard[-1]) != (learner_id, standard_id):
            pair_learner.append(learner_id)
            pair_standard.append(standard_id)
            counts.append(0)
        counts[-1] += 1
        scores.append(score)
    standards = {
        pk: (framework_id, code or statement[:40])
        for pk, framework_id, code, statement in Standard.objects.filter(
            pk__in=set(pair_standard)
        ).values_list("pk", "framework_id", "human_code", "statement")
    }
    counts_a = np.array(counts, dtype=np.int64)
    starts_a = np.cumsum(counts_a) - counts_a
    scores_a = np.array(scores, dtype=np.float64)
    by_key: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, (learner_id, standard_id) in enumerate(
        zip(pair_learner, pair_standard, strict=True)
    ):
        by_key[(schools[learner_id], standards[standard_id][0])].append(index)

    before_cache: dict[tuple[int, int], Rules] = {}
    changes: dict[int, list[LevelChange]] = defaultdict(list)
    gained = lost = changed_records = 0
    problems: list[str] = []
    for key, indexes in sorted(by_key.items()):
        proposed = after(*key)
        if proposed is None:
            continue
        if key not in before_cache:
            before_cache[key] = engine_rules(policy_for(key[0], key[1]), scale_for(key[0]))
        chosen = np.array(indexes, dtype=np.int64)
        lengths = counts_a[chosen]
        rows = np.concatenate([np.arange(starts_a[i], starts_a[i] + counts_a[i]) for i in chosen])
        groups = np.repeat(np.arange(chosen.shape[0], dtype=np.int64), lengths)
        values = scores_a[rows]
        outside = _outside(values, proposed.scale)
        if outside:
            problems.append(
                f"{outside} counted rating{'s' if outside != 1 else ''} lie outside the proposed "
                f"scale ({proposed.scale.low:g} to {proposed.scale.high:g}): those learners "
                "could not be recomputed"
            )
            continue
        try:
            old = _levels_of(groups, values, before_cache[key])
            new = _levels_of(groups, values, proposed)
        except RulesError as error:
            problems.append(str(error))
            continue
        for position, index in enumerate(indexes):
            if old[position] == new[position]:
                continue
            changed_records += 1
            gained += int(new[position][2] and not old[position][2])
            lost += int(old[position][2] and not new[position][2])
            changes[pair_learner[index]].append(
                LevelChange(
                    standards[pair_standard[index]][1],
                    _words(old[position]),
                    _words(new[position]),
                )
            )
    shown = (
        Learner.objects.filter(pk__in=list(changes))
        .select_related("school")
        .order_by("family_name", "given_name", "pk")[:limit]
    )
    return WhatIf(
        learners=len(schools),
        rated_learners=len(set(pair_learner)),
        records=len(pair_learner),
        changed_records=changed_records,
        changed_learners=len(changes),
        mastered_gained=gained,
        mastered_lost=lost,
        changed=[
            ChangedLearner(
                learner_id=learner.pk,
                name=learner.display_name,
                school=learner.school.name,
                change_count=len(changes[learner.pk]),
                changes=sorted(changes[learner.pk], key=lambda c: c.code)[
                    :SHOWN_CHANGES_PER_LEARNER
                ],
            )
            for learner in shown
        ],
        problems=sorted(set(problems)),
    )


def _words(level: _Level) -> str:
    points, label, mastered = level
    if points is None:
        return label
    return f"{label}{' (mastered)' if mastered else ''}"
