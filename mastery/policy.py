"""The rules in force for a school and a framework, as engine objects.

Read through the standards app's contract (``standards.selectors.scale_for`` and ``policy_for``:
inherited down the organisation tree, with per-framework overrides; one query each).
``RulesCache`` keeps them for the life of one task, so a recompute reads them once however many
pairs or ancestors it touches; it is never shared between tasks, so the next task sees a change.
``VersionedRulesCache`` (one per process, ``SHARED``) keeps them across tasks, each with the
version of the rows it was read from (``mastery.sql.rules_version_sql``): the recompute reads that
version in a query it makes anyway and gets cached rules only when it is the same, so an edited
policy or scale is applied by the first recompute that can see the edit. ``VersionedScaleCache``
(``SCALES``, :func:`page_scale`) does the same for the pages' effective scale.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mastery import rules, sql
from mastery.derive import RollupRule, Rules
from standards.selectors import (
    EffectivePolicy,
    EffectiveScale,
    Moment,
    policies_for,
    policy_for,
    scale_for,
    settings_as_of,
)


def engine_scale(scale: EffectiveScale) -> rules.Scale:
    return rules.Scale(
        levels=tuple(
            rules.Level(Decimal(level.points), level.label, Decimal(level.cut_point))
            for level in scale.levels
        ),
        mastery_threshold=Decimal(scale.mastery_threshold),
    )


def engine_rollup(policy: EffectivePolicy) -> RollupRule:
    params: Mapping[str, Any] = policy.rollup_params or {}
    return RollupRule(
        rule=policy.rollup_rule,
        share=Decimal(str(params.get("share", "1"))),
        points={int(k): int(v) for k, v in dict(params.get("points", {})).items()},
        required=frozenset(int(x) for x in params.get("required", [])),
        points_required=int(params.get("points_required", 1)),
    )


def engine_rules(policy: EffectivePolicy, scale: EffectiveScale) -> Rules:
    return Rules(
        policy=rules.Policy(policy.method, dict(policy.params), policy.min_evidence),
        scale=engine_scale(scale),
        rollup=engine_rollup(policy),
        overrides_end_with_new_evidence=policy.overrides_end_with_new_evidence,
    )


def load_rules(school_id: int, framework_id: int, *, at: Moment | None = None) -> Rules:
    """The policy, scale and roll-up in force for learners of ``school_id`` on a framework
    (``at``: as they stood then)."""
    return engine_rules(policy_for(school_id, framework_id, at=at), scale_for(school_id, at=at))


class RulesCache:
    """Rules per (school, framework) for the life of one task; ``at``: the rules as they stood
    then (one ``SettingsAsOf`` for every read)."""

    def __init__(self, at: datetime.datetime | None = None) -> None:
        self._rules: dict[tuple[int, int], Rules] = {}
        self._at = None if at is None else settings_as_of(at)

    def get(self, school_id: int, framework_id: int, version: str | None = None) -> Rules:
        """The rules (``version`` is ignored: the cache dies with the task)."""
        key = (school_id, framework_id)
        if key not in self._rules:
            self._rules[key] = load_rules(school_id, framework_id, at=self._at)
        return self._rules[key]

    def load_many(self, school_id: int, framework_ids: Iterable[int]) -> None:
        """Read the rules of the school on each of ``framework_ids`` not read yet: two
        queries whatever their number (a page's columns)."""
        missing = {f for f in framework_ids if (school_id, f) not in self._rules}
        if not missing:
            return
        if self._at is not None:
            for framework_id in sorted(missing):
                self.get(school_id, framework_id)
            return
        scale = scale_for(school_id)
        for framework_id, policy in policies_for(school_id, missing).items():
            self._rules[(school_id, framework_id)] = engine_rules(policy, scale)


class VersionedRulesCache(RulesCache):
    """Rules per (school, framework) across tasks, valid while the rows' version is unchanged.

    ``get`` takes the version the caller read (``PairContext.rules_version``) and returns the
    cached rules only if they were read at that same version; else it reads them again. They are
    kept only when the version read again after them is still the caller's (nothing changed
    while they were read). ``version`` None (the caller read none) always reads. At most
    ``LIMIT`` entries.
    """

    LIMIT = 1024

    def __init__(self) -> None:
        super().__init__()
        self._versioned: dict[tuple[int, int], tuple[str, Rules]] = {}

    def get(self, school_id: int, framework_id: int, version: str | None = None) -> Rules:
        if version is None:
            return load_rules(school_id, framework_id)
        key = (school_id, framework_id)
        hit = self._versioned.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        loaded = load_rules(school_id, framework_id)
        if sql.rules_version(school_id) == version:
            if len(self._versioned) >= self.LIMIT:
                self._versioned.clear()
            self._versioned[key] = (version, loaded)
        else:
            self._versioned.pop(key, None)
        return loaded

    def clear(self) -> None:
        self._versioned.clear()


# The process's cache, used by the recompute (safe to share: entries are checked on every use).
SHARED = VersionedRulesCache()


class VersionedScaleCache:
    """The effective scale and the rules (per framework) of each school across requests, valid
    while the version of the rows they are read from is unchanged (``sql.rules_version``, as
    :class:`VersionedRulesCache` checks it): a page asks the version, one short plain
    statement, instead of reading the levels and the policies through the organisation tree with
    the ORM (``scale_for``, ``policies_for``). What a page read is kept only when the version
    read again after it is still the one before it. At most ``LIMIT`` schools."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._entries: dict[int, tuple[str, EffectiveScale, dict[int, Rules]]] = {}

    def _entry(
        self, school_id: int, version: str
    ) -> tuple[str, EffectiveScale, dict[int, Rules]] | None:
        entry = self._entries.get(school_id)
        return entry if entry is not None and entry[0] == version else None

    def scale(self, school_id: int, version: str) -> EffectiveScale | None:
        entry = self._entry(school_id, version)
        return None if entry is None else entry[1]

    def rules(self, school_id: int, version: str) -> dict[int, Rules]:
        entry = self._entry(school_id, version)
        return {} if entry is None else entry[2]

    def keep(
        self, school_id: int, version: str, scale: EffectiveScale, rules_: Mapping[int, Rules]
    ) -> None:
        """Keep ``scale`` and ``rules_`` (framework id -> rules), read at ``version``, if the
        version is still that one now."""
        if sql.rules_version(school_id) != version:
            self._entries.pop(school_id, None)
            return
        entry = self._entry(school_id, version)
        merged = {} if entry is None else dict(entry[2])
        merged.update(rules_)
        if school_id not in self._entries and len(self._entries) >= self.LIMIT:
            self._entries.clear()
        self._entries[school_id] = (version, scale, merged)

    def get(self, school_id: int) -> EffectiveScale:
        return PageRules(self).scale(school_id)

    def clear(self) -> None:
        self._entries.clear()


# The pages' cache of scales and rules (the section grid, a cell, the learner page).
SCALES = VersionedScaleCache()


class PageRules(RulesCache):
    """The scale and rules one page needs (its freshness keys, its levels), from :data:`SCALES`
    while the version of the school's rows this page read once is the kept one: on a hit one
    statement per school and page, whatever the frameworks."""

    def __init__(self, store: VersionedScaleCache | None = None) -> None:
        super().__init__()
        self.store = store or SCALES
        self._versions: dict[int, str | None] = {}
        self._scales: dict[int, EffectiveScale] = {}

    def use_version(self, school_id: int, version: str | None) -> None:
        """The version of the school's rows as one of the page's own statements read it
        (``sql.rules_version_sql``, the grid's cells): this page then asks for it no more. A
        version this page read already stays the one it uses."""
        self._versions.setdefault(school_id, version)

    def _version(self, school_id: int) -> str | None:
        if school_id not in self._versions:
            self._versions[school_id] = sql.rules_version(school_id)
        return self._versions[school_id]

    def scale(self, school_id: int) -> EffectiveScale:
        if school_id not in self._scales:
            version = self._version(school_id)
            scale = None if version is None else self.store.scale(school_id, version)
            if scale is None:
                scale = scale_for(school_id)
                if version is not None:
                    self.store.keep(school_id, version, scale, {})
            self._scales[school_id] = scale
        return self._scales[school_id]

    def load_many(self, school_id: int, framework_ids: Iterable[int]) -> None:
        missing = {f for f in framework_ids if (school_id, f) not in self._rules}
        if not missing:
            return
        version = self._version(school_id)
        if version is not None:
            for framework_id, kept in self.store.rules(school_id, version).items():
                if framework_id in missing:
                    self._rules[(school_id, framework_id)] = kept
            missing = {f for f in missing if (school_id, f) not in self._rules}
            if not missing:
                return
        scale = self.scale(school_id)
        read = {
            framework_id: engine_rules(policy, scale)
            for framework_id, policy in policies_for(school_id, missing).items()
        }
        self._rules.update({(school_id, f): r for f, r in read.items()})
        if version is not None:
            self.store.keep(school_id, version, scale, read)

    def get(self, school_id: int, framework_id: int, version: str | None = None) -> Rules:
        """The rules (``version`` is ignored: this page read its own)."""
        if (school_id, framework_id) not in self._rules:
            self.load_many(school_id, [framework_id])
        return self._rules[(school_id, framework_id)]


def page_scale(school_id: int) -> EffectiveScale:
    """The effective scale of a school for a page: ``scale_for``, from :data:`SCALES`."""
    return PageRules().scale(school_id)


def stale_records(
    stored: NDArray[np.int64],
    unkeyed: NDArray[np.bool_],
    undigested: NDArray[np.bool_],
    current: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """:meth:`RulesKeys.is_stale` of many records at once: their stored keys (``unkeyed``:
    NULL), whether their ratings digest is NULL, and the key in force for each."""
    stale: NDArray[np.bool_] = unkeyed | undigested | (stored != current)
    return stale


class RulesKeys:
    """The key (``derive.rules_key``) of the rules in force per school, framework and kind of
    standard, each read once: a record whose stored ``rules_key`` differs is stale (ADR 8)."""

    def __init__(self, cache: RulesCache | None = None) -> None:
        self.cache = cache or RulesCache()

    def current(self, school_id: int, framework_id: int, grouping: bool) -> int | None:
        try:
            settings = self.cache.get(school_id, framework_id)
        except rules.RulesError:
            return None  # rules that cannot be built: nothing is fresh under them
        return settings.grouping_key if grouping else settings.leaf_key

    def is_stale(
        self,
        school_id: int,
        framework_id: int,
        grouping: bool,
        stored: int | None,
        ratings_digest: int | None,
    ) -> bool:
        """Whether a record with key ``stored`` was computed under other rules than those in
        force. A record never keyed (from before keys) or without the digest of its counted
        ratings (``ratings_digest``: from before provenance) is stale too: the sweep finds and
        recomputes it (``services._mark_under_other_rules``), as it does one of other rules."""
        return (
            stored is None
            or ratings_digest is None
            or stored != self.current(school_id, framework_id, grouping)
        )
