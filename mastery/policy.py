"""The rules in force for a school and a framework: policy, scale and roll-up, as engine objects.

Read through the standards app's settings (inherited down the organisation tree, with an
optional per-framework policy override). ``RulesCache`` keeps them for the life of one task so a
recompute reads them once, however many pairs or ancestors it touches; it is never shared between
tasks, so a changed policy is seen by the next task.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from learners.models import Organisation
from learners.selectors import lineage_of
from mastery import rules
from mastery.derive import RollupRule, Rules
from standards.models import CalculationPolicy, ProficiencyScale


def _scale(scale: ProficiencyScale | None) -> rules.Scale:
    if scale is None:
        return rules.DEFAULT_SCALE
    levels = tuple(
        rules.Level(Decimal(level.points), level.label, Decimal(level.cut_point))
        for level in scale.levels.all()
    )
    return rules.Scale(levels=levels, mastery_threshold=Decimal(scale.mastery_threshold))


def _rollup(policy: CalculationPolicy | None) -> RollupRule:
    if policy is None:
        return RollupRule()
    params: dict[str, Any] = dict(policy.rollup_params or {})
    return RollupRule(
        rule=policy.rollup_rule,
        share=Decimal(str(params.get("share", "1"))),
        points={int(k): int(v) for k, v in dict(params.get("points", {})).items()},
        required=frozenset(int(x) for x in params.get("required", [])),
        points_required=int(params.get("points_required", 1)),
    )


def load_rules(school_id: int, framework_id: int) -> Rules:
    """The policy, scale and roll-up in force for learners of ``school_id`` on a framework.

    The nearest organisation (school, then district, then state) with a scale gives the scale;
    the nearest with a policy for this framework, else with a general policy, gives the policy.
    Without any: the default scale and ``average``.
    """
    school = Organisation.objects.select_related("parent__parent").get(pk=school_id)
    chain = lineage_of(school)
    ids = [org.pk for org in chain]
    scales = {
        s.organisation_id: s
        for s in ProficiencyScale.objects.filter(organisation_id__in=ids).prefetch_related("levels")
    }
    policies = list(CalculationPolicy.objects.filter(organisation_id__in=ids))
    scale = next((scales[i] for i in ids if i in scales), None)
    chosen: CalculationPolicy | None = None
    for org_id in ids:
        override = [
            p for p in policies if p.organisation_id == org_id and p.framework_id == framework_id
        ]
        general = [p for p in policies if p.organisation_id == org_id and p.framework_id is None]
        if override or general:
            chosen = (override or general)[0]
            break
    policy = (
        rules.Policy(chosen.method, dict(chosen.params or {}), chosen.min_evidence)
        if chosen is not None
        else rules.Policy("average")
    )
    return Rules(policy=policy, scale=_scale(scale), rollup=_rollup(chosen))


class RulesCache:
    """Rules per (school, framework) for the life of one task."""

    def __init__(self) -> None:
        self._rules: dict[tuple[int, int], Rules] = {}

    def get(self, school_id: int, framework_id: int) -> Rules:
        key = (school_id, framework_id)
        if key not in self._rules:
            self._rules[key] = load_rules(school_id, framework_id)
        return self._rules[key]
