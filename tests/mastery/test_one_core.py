"""One mastery core (ADR 8): no module outside it computes counted ratings, first-mastered dates,
levels or evaluations, or imports the engine's internals. Other apps (and the mastery pages) read
through ``mastery.core``.

An AST lint over the project's modules (not tests, benches or migrations), with a test that it
fails on deliberately bad snippets, so it cannot pass vacuously.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "audit",
    "badges",
    "common",
    "config",
    "evidence",
    "identity",
    "learners",
    "mastery",
    "moderation",
    "notifications",
    "portal",
    "privacy",
    "reports",
    "standards",
)
# The core: the facade and what stands behind it (and the writes, which use it).
CORE = frozenset(
    f"mastery/{name}.py"
    for name in (
        "agreement",
        "asof",
        "bkt",
        "bulk",
        "core",
        "derive",
        "estimators",
        "policy",
        "recorded",
        "requirements",
        "rules",
        "selectors",
        "services",
        "sql",
    )
)
INTERNALS = frozenset(
    f"mastery.{name}"
    for name in (
        "agreement",
        "asof",
        "bkt",
        "bulk",
        "derive",
        "estimators",
        "policy",
        "recorded",
        "requirements",
        "rules",
        "sql",
    )
)
# Calls that evaluate ratings, compute a level or a first-mastered date: the core's alone.
ENGINE_CALLS = frozenset(
    {
        "apply_override",
        "calculate",
        "calculate_with",
        "derive_bulk",
        "derive_bulk_columns",
        "derive_pairs",
        "derive_record",
        "derive_rollup",
        "evaluate_bulk",
        "first_mastered_at",
        "first_mastered_length",
        "first_mastered_lengths",
        "is_mastered",
        "level_and_mastery",
        "level_for",
        "order_ratings",
        "rollup_all_mastered",
        "rollup_lowest_level",
        "rollup_points",
        "rollup_share_mastered",
    }
)
# Definitions that would be a second implementation of a core rule.
CORE_DEFINITIONS = frozenset(
    {
        "counted_ratings",
        "counted_predicate",
        "first_mastered_at",
        "is_mastered",
        "level_and_mastery",
        "level_for",
        "required_standards",
        "requirement_counts",
    }
)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _texts(node: ast.AST) -> Iterator[str]:
    """Every string constant and name under ``node`` (lower case)."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value.lower()
        elif isinstance(child, ast.Name):
            yield child.id.lower()
        elif isinstance(child, ast.Attribute):
            yield child.attr.lower()
        elif isinstance(child, ast.keyword) and child.arg:
            yield child.arg.lower()


def _writes_counted_rule(node: ast.AST) -> bool:
    """The counted predicate written out: self-ratings left out *and* supersessions *and*
    removals, in one function (SQL text or ORM), or current ratings with self-ratings left out."""
    texts = list(_texts(node))
    joined = " ".join(texts)
    supersession = "supersedes" in joined
    removal = "ratingremoval" in joined or "rating_removal" in joined or "removed_at" in joined
    self_source = (
        "'self'" in joined
        or "self_source" in joined
        or any(t == "self" for t in texts if t)  # RatingSource.SELF / "self" as a value
    )
    if supersession and removal and self_source:
        return True
    for child in ast.walk(node):
        # current_ratings()...exclude(source=RatingSource.SELF): counted ratings by another road
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr == "exclude"
            and any(k.arg == "source" for k in child.keywords)
            and "current_ratings" in {t for t in _texts(child.func.value)}
        ):
            return True
    return False


def lint(source: str, path: str) -> list[Problem]:
    """The problems of one module at ``path`` (relative to the repository root)."""
    if path in CORE:
        return []
    tree = ast.parse(source, filename=path)
    problems: list[Problem] = []
    from_core: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "mastery.core":
                from_core.update(alias.asname or alias.name for alias in node.names)
            if node.module in INTERNALS:
                problems.append(Problem(path, node.lineno, f"imports {node.module} (use core)"))
            if node.module == "mastery":
                for alias in node.names:
                    if f"mastery.{alias.name}" in INTERNALS:
                        problems.append(
                            Problem(path, node.lineno, f"imports mastery.{alias.name} (use core)")
                        )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in INTERNALS:
                    problems.append(Problem(path, node.lineno, f"imports {alias.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ENGINE_CALLS:
                owner = func.value
                if not (isinstance(owner, ast.Name) and owner.id == "core"):
                    problems.append(Problem(path, node.lineno, f"computes .{func.attr}()"))
            elif (
                isinstance(func, ast.Name) and func.id in ENGINE_CALLS and func.id not in from_core
            ):
                problems.append(Problem(path, node.lineno, f"computes {func.id}()"))
        elif (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name in CORE_DEFINITIONS
        ):
            problems.append(Problem(path, node.lineno, f"defines {node.name}()"))
    scopes: list[ast.AST] = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    module_level = ast.Module(
        body=[n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)],
        type_ignores=[],
    )
    for scope in [*scopes, module_level]:
        if _writes_counted_rule(scope):
            line = getattr(scope, "lineno", 1)
            problems.append(Problem(path, line, "writes the counted-ratings rule"))
    return problems


def project_modules() -> Iterator[tuple[str, str]]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            yield relative, path.read_text(encoding="utf-8")


def test_no_module_outside_the_core_computes_what_the_core_does() -> None:
    problems = [str(p) for path, text in project_modules() for p in lint(text, path)]
    assert problems == []


def test_the_core_is_there() -> None:
    missing = [path for path in CORE if not (ROOT / path).exists()]
    assert missing == []
    assert sum(1 for _ in project_modules()) > 100


BAD = {
    "counted rule in SQL": """
def mine(cursor):
    cursor.execute(
        "SELECT * FROM evidence_rating r WHERE r.source <> 'self'"
        " AND NOT EXISTS (SELECT 1 FROM evidence_rating s WHERE s.supersedes_id = r.id)"
        " AND NOT EXISTS (SELECT 1 FROM evidence_ratingremoval x WHERE x.rating_id = r.id)"
    )
""",
    "counted rule in the ORM": """
from django.db.models import Exists, OuterRef
from evidence.models import Rating, RatingRemoval, RatingSource

def mine():
    return Rating.objects.exclude(source=RatingSource.SELF).filter(
        ~Exists(Rating.objects.filter(supersedes_id=OuterRef("pk"))),
        ~Exists(RatingRemoval.objects.filter(rating_id=OuterRef("pk"))),
    )
""",
    "counted by current ratings": """
from evidence.selectors import current_ratings

def mine():
    return current_ratings().exclude(source="self")
""",
    "a level": """
def label(scale, score):
    return scale.level_for(score).label
""",
    "an evaluation": """
from mastery import rules

def mine(ratings, policy, scale):
    return rules.evaluate(ratings, policy, scale)
""",
    "first mastered": """
from mastery.derive import first_mastered_at

def mine(ordered, params, scale):
    return first_mastered_at(ordered, params, scale)
""",
    "a bulk evaluation": """
import mastery.bulk

def mine(groups, scores, policy, scale):
    return mastery.bulk.evaluate_bulk(groups, scores, policy, scale)
""",
    "a second level rule": """
class Scale:
    def level_for(self, score):
        return max(level for level in self.levels if level.cut <= score)
""",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_lint_catches_a_deliberately_bad_module(name: str) -> None:
    assert lint(BAD[name], "reports/bad.py") != []


def test_the_lint_lets_the_core_be_used() -> None:
    good = """
from mastery import core
from mastery.core import counted_ratings, level_for
from evidence.selectors import current_ratings

def mine(scale, score, learner):
    ratings = counted_ratings(learner_ids=[learner.pk])
    mine = current_ratings().filter(source="self", learner_id=learner.pk)
    return core.level_for(scale, score), level_for(scale, score), ratings, mine
"""
    assert lint(good, "reports/good.py") == []
    # The same text inside the core is the core's business.
    assert lint(BAD["a level"], "mastery/derive.py") == []
