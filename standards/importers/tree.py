"""Graph checks shared by every importer: duplicates, cycles, and the tree from ``isChildOf``.

Pure Python over a :class:`ParsedFramework`; no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from standards.importers.base import (
    IS_CHILD_OF,
    ParsedAssociation,
    ParsedFramework,
    ParsedItem,
    Problem,
)

# Item types that name a grouping (domain, cluster, strand...) rather than an assessable statement.
GROUPING_TYPES = frozenset(
    {
        "anchor",
        "category",
        "cluster",
        "conceptual category",
        "content area",
        "course",
        "discipline",
        "domain",
        "grade",
        "grade level",
        "grouping",
        "heading",
        "progression",
        "section",
        "standard category",
        "strand",
        "sub-strand",
        "substrand",
        "subject",
        "topic",
        "unit",
    }
)


@dataclass(frozen=True)
class TreePlace:
    """Where one item sits: its parent's identifier (``None``: top level), rank and depth."""

    parent_identifier: str | None
    position: int
    depth: int
    is_grouping: bool


@dataclass(frozen=True)
class Tree:
    places: dict[str, TreePlace]
    warnings: list[Problem]


def _sort_key(association: ParsedAssociation, index: int) -> tuple[bool, int, int]:
    sequence = association.sequence_number
    return (sequence is None, sequence if sequence is not None else 0, index)


def check_and_build_tree(parsed: ParsedFramework) -> Tree:
    """Validates the whole graph and places every item in the tree.

    Problems (raised by the caller as a refusal): duplicate item or association identifiers,
    an item reusing the document's identifier, the document as the child in ``isChildOf``, and
    any cycle of ``isChildOf`` links among the items. Warnings (the import goes on): an item
    with several parents (the first by ``sequenceNumber``, then file order, is the tree parent;
    all links are kept), and a parent outside the framework (the item goes to the top level and
    the link is kept by URI).

    Callers must check :func:`graph_problems` first: the walk assumes there is no cycle.
    """
    document_id = parsed.document.identifier
    item_index = {item.identifier: index for index, item in enumerate(parsed.items)}
    warnings: list[Problem] = []

    candidates: dict[str, list[tuple[tuple[bool, int, int], ParsedAssociation]]] = {}
    for index, association in enumerate(parsed.associations):
        if association.association_type != IS_CHILD_OF:
            continue
        if association.origin_identifier not in item_index:
            continue
        candidates.setdefault(association.origin_identifier, []).append(
            (_sort_key(association, index), association)
        )

    chosen: dict[str, tuple[str | None, tuple[bool, int, int]]] = {}
    by_identifier = {item.identifier: item for item in parsed.items}
    has_children: set[str] = set()
    for identifier, links in candidates.items():
        links.sort(key=lambda pair: pair[0])
        internal = [
            (key, link)
            for key, link in links
            if link.destination_identifier in item_index
            or link.destination_identifier == document_id
        ]
        item = by_identifier[identifier]
        if not internal:
            warnings.append(
                item.where.warning(
                    IS_CHILD_OF,
                    "its parent is outside this framework: placed at the top level, "
                    "the link is kept by URI",
                )
            )
            continue
        if len(links) > 1:
            warnings.append(
                item.where.warning(
                    IS_CHILD_OF,
                    f"has {len(links)} parents: the tree uses the first, every link is kept",
                )
            )
        key, link = internal[0]
        parent = None if link.destination_identifier == document_id else link.destination_identifier
        chosen[identifier] = (parent, key)
        if parent is not None:
            has_children.add(parent)

    siblings: dict[str | None, list[tuple[tuple[bool, int, int], int, str]]] = {}
    for identifier, index in item_index.items():
        parent, key = chosen.get(identifier, (None, (True, 0, len(parsed.associations))))
        siblings.setdefault(parent, []).append(((*key[:2], index), index, identifier))
    positions: dict[str, int] = {}
    for members in siblings.values():
        members.sort(key=_sibling_order(members, by_identifier, parsed.order_by_code))
        for rank, (_key, _index, identifier) in enumerate(members):
            positions[identifier] = rank

    depths: dict[str, int] = {}
    for identifier in item_index:
        trail: list[str] = []
        current: str | None = identifier
        while current is not None and current not in depths:
            trail.append(current)
            current = chosen.get(current, (None, None))[0]
        base = depths[current] if current is not None else 0
        for offset, member in enumerate(reversed(trail), start=1):
            depths[member] = base + offset

    places: dict[str, TreePlace] = {}
    for identifier, item in by_identifier.items():
        item_type = item.item_type.strip().lower()
        grouping = item_type in GROUPING_TYPES or (
            not item_type and not item.human_code and identifier in has_children
        )
        places[identifier] = TreePlace(
            parent_identifier=chosen.get(identifier, (None, None))[0],
            position=positions[identifier],
            depth=depths[identifier],
            is_grouping=grouping,
        )
    return Tree(places=places, warnings=warnings)


_RUNS = re.compile(r"(\d+)")


def natural_key(code: str) -> tuple[tuple[int, int, str], ...]:
    """Sorts human codes as people read them: ``L1.2`` before ``L1.10``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in _RUNS.split(code)
        if part
    )


def _sibling_order(
    members: list[tuple[tuple[bool, int, int], int, str]],
    items: dict[str, ParsedItem],
    by_code: bool,
) -> Any:
    """Siblings by ``sequenceNumber``; those without one after them, in the natural order of
    their human codes when ``by_code`` and every one has a code (``L1.1, L1.2 ... L1.10``),
    else in file order."""
    unnumbered = [identifier for key, _index, identifier in members if key[0]]
    natural = by_code and bool(unnumbered) and all(items[i].human_code for i in unnumbered)

    def key(member: tuple[tuple[bool, int, int], int, str]) -> tuple[Any, ...]:
        (no_sequence, sequence, index), _index, identifier = member
        if no_sequence and natural:
            return (True, 0, natural_key(items[identifier].human_code), index)
        return (no_sequence, sequence, (), index)

    return key


def graph_problems(parsed: ParsedFramework) -> list[Problem]:
    """Every reason the graph cannot be stored (see :func:`check_and_build_tree`)."""
    problems: list[Problem] = []
    document_id = parsed.document.identifier
    seen_items: dict[str, str] = {}
    for item in parsed.items:
        if item.identifier == document_id:
            problems.append(
                item.where.error("identifier", "is the framework document's identifier")
            )
        elif item.identifier in seen_items:
            problems.append(
                item.where.error(
                    "identifier", f"is used again (first at {seen_items[item.identifier]})"
                )
            )
        else:
            seen_items[item.identifier] = str(item.where)
    seen_links: dict[str, str] = {}
    parents: dict[str, list[str]] = {}
    for association in parsed.associations:
        if association.identifier in seen_links:
            problems.append(
                association.where.error(
                    "identifier", f"is used again (first at {seen_links[association.identifier]})"
                )
            )
        else:
            seen_links[association.identifier] = str(association.where)
        if association.association_type != IS_CHILD_OF:
            continue
        if association.origin_identifier == document_id:
            problems.append(
                association.where.error(
                    "originNodeURI", "the framework document cannot be the child in isChildOf"
                )
            )
        elif (
            association.origin_identifier in seen_items
            and association.destination_identifier in seen_items
        ):
            parents.setdefault(association.origin_identifier, []).append(
                association.destination_identifier
            )
    problems.extend(_cycle_problems(parents, {item.identifier: item for item in parsed.items}))
    return problems


def _cycle_problems(parents: dict[str, list[str]], where: dict[str, ParsedItem]) -> list[Problem]:
    """One problem per cycle of ``isChildOf`` links (iterative depth-first search)."""
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in parents:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, next_edge = stack.pop()
            if next_edge == 0:
                state[node] = 1
                path.append(node)
            edges = parents.get(node, [])
            if next_edge < len(edges):
                stack.append((node, next_edge + 1))
                target = edges[next_edge]
                if state.get(target) == 1:
                    cycle = [*path[path.index(target) :], target]
                    problems.append(
                        where[target].where.error(
                            IS_CHILD_OF, "forms a cycle: " + " -> ".join(cycle)
                        )
                    )
                elif not state.get(target):
                    stack.append((target, 0))
            else:
                state[node] = 2
                path.pop()
    return problems
