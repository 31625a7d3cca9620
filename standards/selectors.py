"""Reads of the standards app: effective settings, the framework tree, scoped lists.

The three selectors other apps call (a contract, see README.md) take an organisation (a model
instance or its id) and answer in one or two queries with plain frozen values:

- :func:`scale_for` (effective proficiency scale),
- :func:`policy_for` (effective calculation policy),
- :func:`requirements_for` (required standards and elective groups).

Inheritance runs up the organisation tree (school, district, state): the nearest organisation
with a setting wins. Organisation kinds rank strictly down the tree, so "nearest" is "the
deepest kind" and needs no recursion.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any, Final

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404

from common import history
from learners.models import KIND_RANK, Learner, Organisation, OrganisationKind, Term
from learners.selectors import (
    administered_organisations,
    changeable_learners,
    visible_learners,
    visible_organisations,
)
from standards.models import (
    CalculationPolicy,
    ChoiceStatus,
    ElectiveChoice,
    ElectiveGroup,
    Framework,
    ProficiencyScale,
    Requirement,
    ScaleLevel,
    Standard,
    StandardStatus,
)

type AnyUser = AbstractBaseUser | AnonymousUser
type OrganisationRef = Organisation | int


# --- Effective scale -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveLevel:
    points: Decimal
    label: str
    colour: str
    cut_point: Decimal
    description: str = ""


@dataclass(frozen=True)
class EffectiveScale:
    """The scale that applies to an organisation. ``levels`` run from the highest points down.

    ``organisation_id`` is where it was set (``None``: the platform default).
    """

    levels: tuple[EffectiveLevel, ...]
    mastery_threshold: Decimal
    organisation_id: int | None = None
    scale_id: int | None = None

    @property
    def min_points(self) -> Decimal:
        return min(level.points for level in self.levels)

    @property
    def max_points(self) -> Decimal:
        return max(level.points for level in self.levels)


DEFAULT_SCALE = EffectiveScale(
    levels=(
        EffectiveLevel(Decimal(4), "Advanced", "#1565c0", Decimal(4)),
        EffectiveLevel(Decimal(3), "Proficient", "#2e7d32", Decimal(3)),
        EffectiveLevel(Decimal(2), "Developing", "#f9a825", Decimal(2)),
        EffectiveLevel(Decimal(1), "Beginning", "#c62828", Decimal(1)),
    ),
    mastery_threshold=Decimal(3),
)


def _rank(kind: str) -> int:
    """How deep an organisation kind sits (school deepest): the nearest setting wins."""
    return KIND_RANK[OrganisationKind(kind)]


def _organisation_id(organisation: OrganisationRef) -> int:
    return organisation if isinstance(organisation, int) else organisation.pk


def _lineage_q(organisation_id: int, prefix: str = "organisation") -> Q:
    """The organisation and its ancestors (at most two levels up: state > district > school)."""
    return (
        Q(**{f"{prefix}_id": organisation_id})
        | Q(**{f"{prefix}__children": organisation_id})
        | Q(**{f"{prefix}__children__children": organisation_id})
    )


def scale_for(organisation: OrganisationRef, *, at: Moment | None = None) -> EffectiveScale:
    """The effective proficiency scale of ``organisation``: its own, else the nearest
    ancestor's, else :data:`DEFAULT_SCALE`. One query. ``at``: as it stood then (row versions,
    :func:`settings_as_of`)."""
    if at is not None:
        return settings_as_of(at).scale_for(_organisation_id(organisation))
    rows = list(
        ScaleLevel.objects.filter(_lineage_q(_organisation_id(organisation), "scale__organisation"))
        .select_related("scale__organisation")
        .order_by("-points")
        .distinct()
    )
    if not rows:
        return DEFAULT_SCALE
    nearest = max(rows, key=lambda row: _rank(row.scale.organisation.kind)).scale
    return _effective_scale(
        nearest.pk,
        nearest.organisation_id,
        nearest.mastery_threshold,
        [
            EffectiveLevel(row.points, row.label, row.colour, row.cut_point, row.description)
            for row in rows
            if row.scale_id == nearest.pk
        ],
    )


def _effective_scale(
    scale_id: int, organisation_id: int, threshold: Decimal, levels: Iterable[EffectiveLevel]
) -> EffectiveScale:
    return EffectiveScale(
        levels=tuple(sorted(levels, key=lambda level: level.points, reverse=True)),
        mastery_threshold=threshold,
        organisation_id=organisation_id,
        scale_id=scale_id,
    )


# --- Effective calculation policy ----------------------------------------------------------------


@dataclass(frozen=True)
class EffectivePolicy:
    """The calculation policy that applies to an organisation and framework.

    ``params`` hold only what was set (the engine fills its defaults, e.g. ``n_times`` and
    ``bkt`` take the scale's mastery threshold when ``threshold`` is absent).
    ``organisation_id``/``framework_id``/``policy_id`` say where it came from (``None``: the
    platform default).
    """

    method: str
    params: Mapping[str, Any]
    min_evidence: int
    rollup_rule: str
    rollup_params: Mapping[str, Any] = field(default_factory=dict)
    organisation_id: int | None = None
    framework_id: int | None = None
    policy_id: int | None = None
    overrides_end_with_new_evidence: bool = False


DEFAULT_POLICY = EffectivePolicy(
    method="decaying_average",
    params={"weight": 65},
    min_evidence=1,
    rollup_rule="all_mastered",
    rollup_params={},
)


def _as_effective(policy: CalculationPolicy) -> EffectivePolicy:
    return EffectivePolicy(
        method=policy.method,
        params=dict(policy.params),
        min_evidence=policy.min_evidence,
        rollup_rule=policy.rollup_rule,
        rollup_params=dict(policy.rollup_params),
        organisation_id=policy.organisation_id,
        framework_id=policy.framework_id,
        policy_id=policy.pk,
        overrides_end_with_new_evidence=policy.overrides_end_with_new_evidence,
    )


def policy_for(
    organisation: OrganisationRef,
    framework: Framework | int | None = None,
    *,
    at: Moment | None = None,
) -> EffectivePolicy:
    """The effective calculation policy for ratings on ``framework``'s standards in
    ``organisation``: the nearest framework override in the organisation's lineage, else the
    nearest organisation-wide policy, else :data:`DEFAULT_POLICY` (decaying average 65, minimum
    evidence 1, roll-up: all children mastered). One query. ``at``: as it stood then."""
    framework_id = framework if isinstance(framework, int) or framework is None else framework.pk
    if at is not None:
        return settings_as_of(at).policy_for(_organisation_id(organisation), framework_id)
    scope = Q(framework__isnull=True)
    if framework_id is not None:
        scope |= Q(framework_id=framework_id)
    policies = list(
        CalculationPolicy.objects.filter(_lineage_q(_organisation_id(organisation)))
        .filter(scope)
        .select_related("organisation")
        .distinct()
    )
    return _nearest_policy(
        [(_as_effective(policy), _rank(policy.organisation.kind)) for policy in policies]
    )


def policies_for(
    organisation: OrganisationRef, framework_ids: Iterable[int]
) -> dict[int, EffectivePolicy]:
    """:func:`policy_for` of each of ``framework_ids`` in ``organisation``, in one query."""
    wanted = sorted(set(framework_ids))
    policies = [
        (_as_effective(policy), _rank(policy.organisation.kind))
        for policy in CalculationPolicy.objects.filter(_lineage_q(_organisation_id(organisation)))
        .filter(Q(framework__isnull=True) | Q(framework_id__in=wanted))
        .select_related("organisation")
        .distinct()
    ]
    return {
        framework_id: _nearest_policy(
            item for item in policies if item[0].framework_id in (None, framework_id)
        )
        for framework_id in wanted
    }


def _nearest_policy(candidates: Iterable[tuple[EffectivePolicy, int]]) -> EffectivePolicy:
    """The rule of inheritance: a framework override anywhere in the lineage wins over
    organisation-wide policies, the nearest (deepest rank) first; else the default."""
    ranked = sorted(
        candidates, key=lambda item: (item[0].framework_id is not None, item[1]), reverse=True
    )
    return ranked[0][0] if ranked else DEFAULT_POLICY


# --- Requirements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequiredStandard:
    standard_id: int
    identifier: str
    human_code: str
    framework_id: int
    priority: str
    organisation_id: int
    requirement_id: int


@dataclass(frozen=True)
class ElectiveGroupInfo:
    group_id: int
    title: str
    choose: int
    priority: str
    organisation_id: int
    standard_ids: tuple[int, ...]


@dataclass(frozen=True)
class RequirementSet:
    """What learners of one grade in one organisation must master in one term."""

    required: tuple[RequiredStandard, ...]
    electives: tuple[ElectiveGroupInfo, ...]

    @property
    def standard_ids(self) -> frozenset[int]:
        return frozenset(item.standard_id for item in self.required)

    @property
    def power_standard_ids(self) -> frozenset[int]:
        return frozenset(item.standard_id for item in self.required if item.priority == "power")


def requirements_for(
    organisation: OrganisationRef,
    grade_level: str,
    term: Term | int,
    *,
    at: Moment | None = None,
) -> RequirementSet:
    """The requirements for ``grade_level`` in ``term`` set at ``organisation`` and at every
    organisation above it (a district's requirements apply to its schools). When the same
    standard is required at several levels, the nearest organisation's priority wins. Retired
    standards are left out. Two queries. ``at``: as they stood then (row versions)."""
    organisation_id = _organisation_id(organisation)
    term_id = term if isinstance(term, int) else term.pk
    if at is not None:
        return settings_as_of(at).requirements_for(organisation_id, grade_level, term_id)
    # Plain SQL (every learner page and report asks): composing the lineage joins through the
    # ORM cost more CPU than PostgreSQL spends answering (bench/http_load.py).
    with connection.cursor() as cursor:
        cursor.execute(
            _REQUIREMENTS_SQL, [organisation_id, term_id, grade_level, StandardStatus.ACTIVE]
        )
        rows = cursor.fetchall()
        cursor.execute(_ELECTIVE_GROUPS_SQL, [organisation_id, term_id, grade_level])
        groups = cursor.fetchall()
    candidates = [
        (
            RequiredStandard(
                standard_id=int(standard_id),
                identifier=identifier,
                human_code=human_code,
                framework_id=int(framework_id),
                priority=priority,
                organisation_id=int(organisation),
                requirement_id=int(pk),
            ),
            _rank(kind),
        )
        for pk, priority, organisation, kind, standard_id, identifier, human_code, framework_id in (
            rows
        )
    ]
    electives = tuple(
        ElectiveGroupInfo(
            group_id=int(pk),
            title=title,
            choose=int(choose),
            priority=priority,
            organisation_id=int(organisation),
            standard_ids=tuple(int(member) for member in members),
        )
        for pk, title, choose, priority, organisation, members in groups
    )
    return _requirement_set(candidates, electives)


_ORGANISATION = Organisation._meta.db_table
# The organisation (%s) and its ancestors, at most two levels up (as ``_lineage_q``).
_LINEAGE_FROM = f" FROM {_ORGANISATION} sc LEFT JOIN {_ORGANISATION} up ON up.id = sc.parent_id"
_REQUIREMENTS_SQL = (
    f"SELECT r.id, r.priority, r.organisation_id, o.kind, r.standard_id, s.identifier,"
    f" s.human_code, s.framework_id{_LINEAGE_FROM}"
    f" JOIN {Requirement._meta.db_table} r"
    f"  ON r.organisation_id IN (sc.id, sc.parent_id, up.parent_id)"
    f" JOIN {_ORGANISATION} o ON o.id = r.organisation_id"
    f" JOIN {Standard._meta.db_table} s ON s.id = r.standard_id"
    f" WHERE sc.id = %s AND r.term_id = %s AND r.grade_level = %s AND s.status = %s"
    f" ORDER BY r.id"
)
_ELECTIVE_GROUPS_SQL = (
    f"SELECT g.id, g.title, g.choose, g.priority, g.organisation_id,"  # noqa: S608
    f" ARRAY(SELECT m.standard_id FROM {ElectiveGroup.standards.through._meta.db_table} m"
    f"  WHERE m.electivegroup_id = g.id ORDER BY m.standard_id){_LINEAGE_FROM}"
    f" JOIN {ElectiveGroup._meta.db_table} g"
    f"  ON g.organisation_id IN (sc.id, sc.parent_id, up.parent_id)"
    f" WHERE sc.id = %s AND g.term_id = %s AND g.grade_level = %s"
    f" ORDER BY g.organisation_id, g.term_id, g.grade_level, g.title, g.id"
)


def _requirement_set(
    candidates: Iterable[tuple[RequiredStandard, int]], electives: Iterable[ElectiveGroupInfo]
) -> RequirementSet:
    """The rule of inheritance for requirements: a standard required at several levels takes
    the nearest organisation's priority; power standards first, then by human code."""
    chosen: dict[int, RequiredStandard] = {}
    for item, _ in sorted(candidates, key=lambda pair: pair[1], reverse=True):
        chosen.setdefault(item.standard_id, item)
    required = tuple(
        sorted(
            chosen.values(),
            key=lambda item: (item.priority != "power", item.human_code, item.standard_id),
        )
    )
    return RequirementSet(required=required, electives=tuple(electives))


# --- Frameworks and the tree ----------------------------------------------------------------------


def list_frameworks() -> QuerySet[Framework]:
    """Every framework (standards are public documents; any signed-in user may read them)."""
    return Framework.objects.order_by("title", "pk")


def get_framework_or_404(pk: object) -> Framework:
    text = str(pk)
    if not text.isascii() or not text.isdigit() or int(text) > 2**63 - 1:
        raise Http404("Not found.")
    try:
        return Framework.objects.get(pk=int(text))
    except Framework.DoesNotExist as error:
        raise Http404("Not found.") from error


@dataclass
class TreeNode:
    pk: int
    identifier: str
    human_code: str
    statement: str
    item_type: str
    grade_levels: list[str]
    is_grouping: bool
    depth: int
    matched: bool = False
    children: list[TreeNode] = field(default_factory=list)


@dataclass(frozen=True)
class FrameworkTree:
    roots: list[TreeNode]
    total: int
    matches: list[tuple[TreeNode, list[TreeNode]]]  # (match, its ancestors root first)


def framework_tree(
    framework: Framework, *, query: str = "", grade_level: str = ""
) -> FrameworkTree:
    """The framework's active standards as a tree, in one query whatever the size.

    ``query`` (case-insensitive, in the human code or the statement) and ``grade_level`` keep
    the matching standards and their ancestors; ``matches`` lists each match with its path.
    """
    rows = Standard.objects.filter(framework=framework, status=StandardStatus.ACTIVE).values_list(
        "pk",
        "parent_id",
        "identifier",
        "human_code",
        "statement",
        "item_type",
        "grade_levels",
        "is_grouping",
        "depth",
        "position",
    )
    nodes: dict[int, TreeNode] = {}
    parents: dict[int, int | None] = {}
    order: list[tuple[int, int, int]] = []
    for pk, parent_id, identifier, code, statement, item_type, grades, grouping, depth, pos in rows:
        nodes[pk] = TreeNode(pk, identifier, code, statement, item_type, grades, grouping, depth)
        parents[pk] = parent_id
        order.append((depth, pos, pk))
    order.sort()

    needle = query.strip().lower()
    keep: set[int] | None = None
    matches: list[tuple[TreeNode, list[TreeNode]]] = []
    if needle or grade_level:
        keep = set()
        for _depth, _position, pk in order:
            node = nodes[pk]
            text_ok = (
                not needle
                or needle in node.human_code.lower()
                or needle in (node.statement.lower())
            )
            grade_ok = not grade_level or grade_level in node.grade_levels
            if not (text_ok and grade_ok):
                continue
            node.matched = True
            path = _ancestors(pk, nodes, parents)
            matches.append((node, path))
            keep.add(pk)
            keep.update(ancestor.pk for ancestor in path)

    roots: list[TreeNode] = []
    for _depth, _position, pk in order:
        if keep is not None and pk not in keep:
            continue
        parent_pk = parents[pk]
        if parent_pk is None or parent_pk not in nodes:
            roots.append(nodes[pk])
        else:
            nodes[parent_pk].children.append(nodes[pk])
    return FrameworkTree(roots=roots, total=len(nodes), matches=matches)


def _ancestors(
    pk: int, nodes: dict[int, TreeNode], parents: dict[int, int | None]
) -> list[TreeNode]:
    path: list[TreeNode] = []
    current = parents.get(pk)
    while current is not None and current in nodes and len(path) < 50:
        path.append(nodes[current])
        current = parents.get(current)
    path.reverse()
    return path


def search_standards(framework_ids: Iterable[int], query: str, limit: int = 50) -> list[Standard]:
    """Active standards whose human code or statement contains ``query`` (pickers)."""
    needle = query.strip()
    if not needle:
        return []
    return list(
        Standard.objects.filter(framework_id__in=list(framework_ids), status=StandardStatus.ACTIVE)
        .filter(Q(human_code__icontains=needle) | Q(statement__icontains=needle))
        .select_related("framework")
        .order_by("framework_id", "depth", "position")[:limit]
    )


# --- Scoped settings (pages and API) --------------------------------------------------------------


def visible_scales(user: AnyUser | None) -> QuerySet[ProficiencyScale]:
    """Scales of organisations the user may see (their own, below and above)."""
    return ProficiencyScale.objects.filter(
        organisation__in=visible_organisations(user)
    ).prefetch_related("levels")


def visible_policies(user: AnyUser | None) -> QuerySet[CalculationPolicy]:
    return CalculationPolicy.objects.filter(
        organisation__in=visible_organisations(user)
    ).select_related("framework")


def visible_requirements(user: AnyUser | None) -> QuerySet[Requirement]:
    return Requirement.objects.filter(organisation__in=visible_organisations(user)).select_related(
        "standard", "term"
    )


def visible_elective_groups(user: AnyUser | None) -> QuerySet[ElectiveGroup]:
    return ElectiveGroup.objects.filter(
        organisation__in=visible_organisations(user)
    ).prefetch_related("standards")


def can_administer(user: AnyUser | None, organisation: OrganisationRef) -> bool:
    """Whether the user may change this organisation's settings (scale, policy, requirements)."""
    return administered_organisations(user).filter(pk=_organisation_id(organisation)).exists()


def can_manage_framework(user: AnyUser | None, framework: Framework) -> bool:
    """Re-importing a framework: its owner's administrators; platform frameworks: superusers."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if getattr(user, "is_superuser", False):
        return True
    if framework.organisation_id is None:
        return False
    return can_administer(user, framework.organisation_id)


def framework_owner_choices(user: AnyUser | None) -> QuerySet[Organisation]:
    """Organisations the user may import frameworks for: states and districts they administer."""
    return administered_organisations(user).filter(kind__in=["state", "district"])


# --- Standard codes: the one resolver every form and import uses --------------------------------

MAX_CODES: Final = 500
_SEPARATORS: Final = re.compile(r"[\s,;]+")


def split_codes(text: str) -> list[str]:
    """The references in a typed list: codes or identifiers separated by spaces, commas or
    semicolons, each once, in the order given."""
    return list(dict.fromkeys(part for part in _SEPARATORS.split(text or "") if part))


@dataclass(frozen=True)
class StandardMatch:
    """The standards a reference (an identifier, a URI, a full or short human code) can mean."""

    reference: str
    standards: tuple[Standard, ...]


def find_standards(
    references: Iterable[str], *, framework: Framework | int | None = None
) -> dict[str, StandardMatch]:
    """Resolves references to standards in at most three queries, whatever their number.

    A reference matches a standard by its CASE identifier or URI, else by its human code
    (case-insensitive), else by the last part of a dotted human code (the short code
    ``3.OA.A.1`` finds ``CCSS.Math.Content.3.OA.A.1``). With ``framework``, only its standards.
    The caller decides what to do with none or several matches (:func:`resolve_standard_codes`
    does it for forms and imports).
    """
    wanted = {ref.strip() for ref in references if ref and ref.strip()}
    found: dict[str, list[Standard]] = {ref: [] for ref in wanted}
    if not wanted:
        return {}
    standards = Standard.objects.select_related("framework")
    if framework is not None:
        standards = standards.filter(
            framework_id=framework if isinstance(framework, int) else framework.pk
        )
    by_identifier = standards.filter(Q(identifier__in=wanted) | Q(uri__in=wanted))
    for standard in by_identifier:
        for ref in (standard.identifier, standard.uri):
            if ref in found and standard not in found[ref]:
                found[ref].append(standard)
    pending = {ref for ref, matches in found.items() if not matches}
    if pending:
        lowered = {ref.lower(): ref for ref in pending}
        code_query = reduce(
            or_,
            (Q(human_code__iexact=ref) | Q(human_code__iendswith=f".{ref}") for ref in pending),
        )
        exact: dict[str, list[Standard]] = {}
        suffix: dict[str, list[Standard]] = {}
        for standard in standards.filter(code_query).order_by("framework_id", "depth", "pk"):
            code = standard.human_code.lower()
            if code in lowered:
                exact.setdefault(lowered[code], []).append(standard)
            for ref_lower, ref in lowered.items():
                if code.endswith(f".{ref_lower}"):
                    suffix.setdefault(ref, []).append(standard)
        for ref in pending:
            found[ref] = exact.get(ref) or suffix.get(ref) or []
    return {ref: StandardMatch(ref, tuple(matches)) for ref, matches in found.items()}


def standard_label(standard: Standard) -> str:
    """How a standard is named to people: its human code, else its statement's start."""
    return standard.human_code or standard.statement[:60] or standard.identifier


def standard_problem(standard: Standard) -> str | None:
    """Why a standard cannot be rated or required, or None."""
    if standard.is_grouping:
        return f"{standard.human_code or standard.identifier} is a grouping: rate its statements"
    if standard.status == StandardStatus.RETIRED:
        return f"{standard.human_code or standard.identifier} is retired"
    return None


@dataclass(frozen=True)
class ResolvedCodes:
    """What a list of references names: the standards (in the order given, each once) and one
    plain sentence per reference that names none, several, or one that cannot be used."""

    standards: list[Standard]
    problems: list[str]
    by_reference: dict[str, Standard] = field(default_factory=dict)


def resolve_standard_codes(
    references: Iterable[str] | str,
    *,
    framework: Framework | int | None = None,
    assessable: bool = True,
) -> ResolvedCodes:
    """The one resolver of standard codes (full or short), identifiers and URIs that every form
    and import uses. ``references``: a list, or typed text (:func:`split_codes`). With
    ``framework``, only its standards count; with ``assessable``, groupings and retired
    standards are refused with the reason. At most three queries (:func:`find_standards`)."""
    refs = split_codes(references) if isinstance(references, str) else list(references)
    refs = list(dict.fromkeys(ref.strip() for ref in refs if ref and ref.strip()))
    if len(refs) > MAX_CODES:
        return ResolvedCodes([], [f"Name at most {MAX_CODES} standards at a time."])
    matches = find_standards(refs, framework=framework)
    found: dict[int, Standard] = {}
    by_reference: dict[str, Standard] = {}
    problems: list[str] = []
    where = " in this framework" if framework is not None else ""
    for ref in refs:
        candidates = matches[ref].standards
        if not candidates:
            problems.append(f"No standard has the code {ref}{where}.")
        elif len(candidates) > 1:
            names = ", ".join(f"{standard_label(s)} ({s.framework.title})" for s in candidates[:3])
            more = f" and {len(candidates) - 3} more" if len(candidates) > 3 else ""
            problems.append(f"{ref} names several standards: {names}{more}. Type the full code.")
        else:
            standard = candidates[0]
            problem = standard_problem(standard) if assessable else None
            if problem:
                problems.append(f"{problem}.")
            else:
                found.setdefault(standard.pk, standard)
                by_reference[ref] = standard
    return ResolvedCodes(list(found.values()), problems, by_reference)


def offered_elective_groups(learner: Learner) -> QuerySet[ElectiveGroup]:
    """Elective groups offered to ``learner``: their grade, set at their school or above."""
    return (
        ElectiveGroup.objects.filter(_lineage_q(learner.school_id), grade_level=learner.grade_level)
        .distinct()
        .select_related("term")
        .prefetch_related("standards")
        .order_by("-term__start_date", "title", "pk")
    )


def choices_to_review(user: AnyUser | None) -> QuerySet[ElectiveChoice]:
    """Waiting choices of learners the user may change (their teachers, their admins)."""
    return (
        ElectiveChoice.objects.filter(
            learner__in=changeable_learners(user), status=ChoiceStatus.PENDING
        )
        .select_related("learner", "standard", "group")
        .order_by("chosen_at", "pk")
    )


def visible_elective_choices(user: AnyUser | None) -> QuerySet[ElectiveChoice]:
    """Choices of learners the user may see (the learner, guardians, teachers, admins)."""
    return ElectiveChoice.objects.filter(learner__in=visible_learners(user)).select_related(
        "standard", "group"
    )


def elective_choices_of(learner: Learner) -> list[ElectiveChoice]:
    """One learner's choices, newest first, for a page that has checked the user may see the
    learner (``get_visible_learner_or_404``): :func:`visible_elective_choices` narrowed to that
    learner is the same rows, without composing the user's scope a second time. One plain
    statement (the staff learner page asks on every view): each choice with its group's title
    and its standard's code and statement (their other fields deferred)."""
    with connection.cursor() as cursor:
        cursor.execute(_CHOICES_SQL, [learner.pk])
        rows = cursor.fetchall()
    size = len(_CHOICE_FIELDS)
    out = []
    for row in rows:
        choice = ElectiveChoice.from_db(connection.alias, _CHOICE_FIELDS, row[:size])
        group = row[size : size + 2]
        choice.group = ElectiveGroup.from_db(connection.alias, ["id", "title"], group)
        choice.standard = Standard.from_db(
            connection.alias, ["id", "human_code", "statement"], row[size + 2 :]
        )
        out.append(choice)
    return out


_CHOICE_FIELDS = [field.attname for field in ElectiveChoice._meta.concrete_fields]
_CHOICES_SQL = (
    "SELECT "  # noqa: S608
    + ", ".join(f"c.{field.column}" for field in ElectiveChoice._meta.concrete_fields)
    + ", g.id, g.title, s.id, s.human_code, s.statement"
    f" FROM {ElectiveChoice._meta.db_table} c"
    f" JOIN {ElectiveGroup._meta.db_table} g ON g.id = c.group_id"
    f" JOIN {Standard._meta.db_table} s ON s.id = c.standard_id"
    " WHERE c.learner_id = %s ORDER BY c.chosen_at DESC, c.id DESC"
)


# --- As of a moment (ADR 8) -------------------------------------------------------------------

# The versioned tables the settings readers depend on (the roster's and the elective choices'
# versions change with every learner: they are checked on their own).
SETTINGS_TABLES: Final = (
    "learners_organisation",
    "standards_requirement",
    "standards_electivegroup",
    "standards_electivegroup_standards",
    "standards_calculationpolicy",
    "standards_proficiencyscale",
    "standards_scalelevel",
    "standards_standard",
)
CHOICES_TABLE: Final = "standards_electivechoice"


class SettingsAsOf:
    """The settings as they stood at ``at``, read from row versions (``common.history``) and
    resolved by the same rules of inheritance as the live selectors (``_nearest_policy``,
    ``_requirement_set``; the nearest scale). Each versioned table is read once, when first
    needed (they are small: organisations, policies, scales, requirements, electives).
    Standards' identifiers, codes and statements are read live: they name a standard, they do
    not change what it means.

    ``live`` (default: checked once, when first needed, with ``history.changed_after``): no
    settings row changed since ``at``, so the live tables are what stood then: they are read
    instead of the versions (scales and policies are resolved here from them, read once for
    any number of schools), and the live selectors answer for requirements and choices (the
    same values, cheaper). ``SettingsAsOf(now, live=True)``: the settings in force now. Give
    one object to many calls (``at=`` of :func:`scale_for`, :func:`policy_for`,
    :func:`requirements_for`, ...) to read each table once."""

    def __init__(self, at: datetime.datetime, *, live: bool | None = None) -> None:
        self.at = at
        self._live = live
        self._choices_live: bool | None = None
        self._tables: dict[str, dict[int, dict[str, Any]]] = {}
        self._children: dict[int, list[int]] | None = None

    @property
    def live(self) -> bool:
        if self._live is None:
            self._live = not history.changed_after(SETTINGS_TABLES, self.at)
        return self._live

    @property
    def choices_live(self) -> bool:
        """Whether the live elective choices (and settings) are what stood at ``at``."""
        if self._choices_live is None:
            self._choices_live = self.live and not history.changed_after([CHOICES_TABLE], self.at)
        return self._choices_live

    def rows(self, table: str) -> dict[int, dict[str, Any]]:
        """The rows of ``table`` then: its versions, or the live table when nothing changed
        since (the same rows, in the same form)."""
        if table not in self._tables:
            self._tables[table] = (
                history.live_rows(table) if self.live else history.rows_as_of(table, self.at)
            )
        return self._tables[table]

    def lineage(self, organisation_id: int) -> list[int]:
        """The organisation and its ancestors then, nearest first."""
        organisations = self.rows("learners_organisation")
        out: list[int] = []
        current: int | None = organisation_id
        while current is not None and current in organisations and len(out) < 5:
            out.append(current)
            current = organisations[current].get("parent_id")
        return out

    def _rank(self, organisation_id: int) -> int:
        kind = self.rows("learners_organisation").get(organisation_id, {}).get("kind", "school")
        return _rank(str(kind))

    def scale_for(self, organisation_id: int) -> EffectiveScale:
        # Resolved here from the rows then (live or not): the tables are small and read once,
        # so a report over many schools reads them in four queries, not two per school.
        by_organisation = {
            int(row["organisation_id"]): (pk, row)
            for pk, row in self.rows("standards_proficiencyscale").items()
        }
        for member in self.lineage(organisation_id):
            if member in by_organisation:
                scale_id, row = by_organisation[member]
                levels = [
                    EffectiveLevel(
                        Decimal(level["points"]),
                        str(level["label"]),
                        str(level["colour"]),
                        Decimal(level["cut_point"]),
                        str(level.get("description") or ""),
                    )
                    for level in self.rows("standards_scalelevel").values()
                    if level["scale_id"] == scale_id
                ]
                if levels:
                    return _effective_scale(
                        scale_id, member, Decimal(row["mastery_threshold"]), levels
                    )
        return DEFAULT_SCALE

    def policy_for(self, organisation_id: int, framework_id: int | None) -> EffectivePolicy:
        lineage = set(self.lineage(organisation_id))
        candidates = []
        for pk, row in self.rows("standards_calculationpolicy").items():
            member = int(row["organisation_id"])
            if member not in lineage:
                continue
            if row["framework_id"] is not None and row["framework_id"] != framework_id:
                continue
            policy = EffectivePolicy(
                method=str(row["method"]),
                params=dict(row["params"] or {}),
                min_evidence=int(row["min_evidence"]),
                rollup_rule=str(row["rollup_rule"]),
                rollup_params=dict(row["rollup_params"] or {}),
                organisation_id=member,
                framework_id=row["framework_id"],
                policy_id=pk,
                overrides_end_with_new_evidence=bool(row.get("overrides_end_with_new_evidence")),
            )
            candidates.append((policy, self._rank(member)))
        return _nearest_policy(candidates)

    def standard(self, standard_id: int) -> dict[str, Any] | None:
        """The standard's framework, parent, status and grouping flag then (None: not yet)."""
        return self.rows("standards_standard").get(standard_id)

    def _active(self, standard_id: int) -> bool:
        row = self.standard(standard_id)
        return row is not None and row["status"] == StandardStatus.ACTIVE

    def active_children(self, parent_ids: Iterable[int]) -> dict[int, list[int]]:
        """Grouping id -> its active children then (ids ascending)."""
        if self._children is None:
            self._children = {}
            for pk, row in sorted(self.rows("standards_standard").items()):
                if row["parent_id"] is not None and row["status"] == StandardStatus.ACTIVE:
                    self._children.setdefault(int(row["parent_id"]), []).append(pk)
        return {pk: list(self._children.get(pk, ())) for pk in parent_ids}

    def requirements_for(
        self, organisation_id: int, grade_level: str, term_id: int
    ) -> RequirementSet:
        if self.live:
            return requirements_for(organisation_id, grade_level, term_id)
        lineage = set(self.lineage(organisation_id))
        wanted = [
            (pk, row)
            for pk, row in self.rows("standards_requirement").items()
            if row["organisation_id"] in lineage
            and row["term_id"] == term_id
            and row["grade_level"] == grade_level
            and self._active(int(row["standard_id"]))
        ]
        names = _names({int(row["standard_id"]) for _pk, row in wanted})
        standards = self.rows("standards_standard")
        candidates = [
            (
                RequiredStandard(
                    standard_id=row["standard_id"],
                    identifier=names[row["standard_id"]][0],
                    human_code=names[row["standard_id"]][1],
                    framework_id=int(standards[row["standard_id"]]["framework_id"]),
                    priority=str(row["priority"]),
                    organisation_id=int(row["organisation_id"]),
                    requirement_id=pk,
                ),
                self._rank(int(row["organisation_id"])),
            )
            for pk, row in sorted(wanted)
            if row["standard_id"] in names
        ]
        members: dict[int, list[int]] = {}
        for row in self.rows("standards_electivegroup_standards").values():
            members.setdefault(int(row["electivegroup_id"]), []).append(int(row["standard_id"]))
        groups = sorted(
            (
                (int(row["organisation_id"]), str(row["title"]), pk, row)
                for pk, row in self.rows("standards_electivegroup").items()
                if row["organisation_id"] in lineage
                and row["term_id"] == term_id
                and row["grade_level"] == grade_level
            ),
            key=lambda item: item[:3],
        )
        electives = [
            ElectiveGroupInfo(
                group_id=pk,
                title=title,
                choose=int(row["choose"]),
                priority=str(row["priority"]),
                organisation_id=organisation,
                standard_ids=tuple(sorted(members.get(pk, []))),
            )
            for organisation, title, pk, row in groups
        ]
        return _requirement_set(candidates, electives)

    def approved_choices(
        self, learner_ids: Iterable[int], decided_by: datetime.datetime
    ) -> dict[int, list[tuple[int, int]]]:
        """Learner id -> (group id, standard id) of their choices approved then, of standards
        active then (a decision dated after ``decided_by`` does not count yet). One query for
        the learners' choices (the versions' learner index)."""
        chosen = history.rows_as_of(CHOICES_TABLE, self.at, learner_ids=learner_ids)
        out: dict[int, list[tuple[int, int]]] = {}
        for row in chosen.values():
            decided = history.as_datetime(row.get("decided_at"))
            if (
                row["status"] == ChoiceStatus.APPROVED
                and (decided is None or decided <= decided_by)
                and self._active(int(row["standard_id"]))
            ):
                out.setdefault(int(row["learner_id"]), []).append(
                    (int(row["group_id"]), int(row["standard_id"]))
                )
        return out


type Moment = datetime.datetime | SettingsAsOf


def settings_as_of(at: Moment) -> SettingsAsOf:
    """The settings as they stood at ``at`` (see :class:`SettingsAsOf`; one given is kept)."""
    return at if isinstance(at, SettingsAsOf) else SettingsAsOf(at)


def _names(ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Standard id -> (identifier, human code), live (they name a standard)."""
    return {
        pk: (identifier, code)
        for pk, identifier, code in Standard.objects.filter(pk__in=set(ids)).values_list(
            "pk", "identifier", "human_code"
        )
    }


@dataclass(frozen=True)
class StandardRow:
    """A standard's names (live) and its place in its framework (as it stood, when asked)."""

    id: int
    identifier: str
    human_code: str
    statement: str
    framework_id: int
    parent_id: int | None
    is_grouping: bool
    active: bool


_STANDARD_ROWS_SQL = (
    "SELECT id, identifier, human_code, statement, framework_id, parent_id, is_grouping, status"  # noqa: S608
    f" FROM {Standard._meta.db_table} WHERE id = ANY(%s)"
)


def standard_rows(ids: Iterable[int], *, at: Moment | None = None) -> dict[int, StandardRow]:
    """The standards of ``ids`` (a standard that did not exist at ``at`` is absent). One query
    (``at``: plus the standards' versions, once per :class:`SettingsAsOf`)."""
    wanted = set(ids)
    if not wanted:
        return {}
    # Plain SQL: every learner page reads its requirements' standards here, and the ORM's
    # query cost more CPU than PostgreSQL spends answering it.
    with connection.cursor() as cursor:
        cursor.execute(_STANDARD_ROWS_SQL, [sorted(wanted)])
        rows = cursor.fetchall()
    then = None if at is None else settings_as_of(at)
    out: dict[int, StandardRow] = {}
    for pk, identifier, code, statement, framework_id, parent_id, grouping, status in rows:
        if then is not None and not then.live:
            stood = then.standard(pk)
            if stood is None:
                continue
            framework_id, parent_id = int(stood["framework_id"]), stood["parent_id"]
            grouping, status = bool(stood["is_grouping"]), stood["status"]
        out[pk] = StandardRow(
            pk, identifier, code, statement, framework_id, parent_id, grouping,
            status == StandardStatus.ACTIVE,
        )  # fmt: skip
    return out


def active_children_of(
    parent_ids: Iterable[int], *, at: Moment | None = None
) -> dict[int, list[int]]:
    """Grouping id -> its active children (ids ascending), as they stood at ``at`` when given.
    One query."""
    wanted = sorted(set(parent_ids))
    then = None if at is None else settings_as_of(at)
    if then is not None and not then.live:
        return then.active_children(wanted)
    found: dict[int, list[int]] = {pk: [] for pk in wanted}
    for parent, child in (
        Standard.objects.filter(parent_id__in=wanted, status=StandardStatus.ACTIVE)
        .order_by("pk")
        .values_list("parent_id", "pk")
    ):
        found[parent].append(child)
    return found


def approved_choices(
    learner_ids: Iterable[int],
    group_ids: Iterable[int],
    *,
    decided_by: datetime.datetime | None = None,
    at: Moment | None = None,
) -> dict[int, list[tuple[int, int]]]:
    """Learner id -> (group id, standard id) of the learners' approved elective choices in
    ``group_ids``, of active standards, decided by ``decided_by`` (None: any time), by the
    standard's human code; as they stood at ``at`` when given (a choice withdrawn, or a
    standard retired, after it still counts). One query (two as of a moment)."""
    learners, groups = sorted(set(learner_ids)), set(group_ids)
    if not learners or not groups:
        return {}
    then = None if at is None else settings_as_of(at)
    # (learner, standard's human code, standard, group), ordered here in both cases (Python's
    # order of codes, as ``_requirement_set``'s, not the database's collation).
    rows: list[tuple[int, str, int, int]]
    if then is not None and not then.choices_live:
        stood = then.approved_choices(learners, decided_by or then.at)
        names = _names(s for items in stood.values() for _g, s in items)
        rows = [
            (learner_id, names.get(standard_id, ("", ""))[1], standard_id, group_id)
            for learner_id, items in stood.items()
            for group_id, standard_id in items
            if group_id in groups
        ]
    else:
        query = ElectiveChoice.objects.filter(
            learner_id__in=learners,
            group_id__in=groups,
            status=ChoiceStatus.APPROVED,
            standard__status=StandardStatus.ACTIVE,
        )
        if decided_by is not None:
            query = query.filter(
                Q(decided_at__lte=decided_by)
                | Q(decided_at__isnull=True, chosen_at__lte=decided_by)
            )
        rows = list(
            query.values_list("learner_id", "standard__human_code", "standard_id", "group_id")
        )
    chosen = [(learner_id, group_id, sid) for learner_id, _code, sid, group_id in sorted(rows)]
    out: dict[int, list[tuple[int, int]]] = {}
    for learner_id, group_id, standard_id in chosen:
        out.setdefault(learner_id, []).append((group_id, standard_id))
    return out
