"""The moderation sample and the reviewers: pure functions, seeded and reproducible.

No Django: ``moderation.services`` reads the population and the reviewers and calls these.

- ``draw_sample(candidates, size, seed)``: a stratified random sample (strata: the school and
  section each piece was scored in). Every stratum gets one piece before any gets a second
  (while the size allows), the rest is shared in proportion to what each stratum has left
  (largest remainders, ties to the earlier stratum), and each stratum's pieces are drawn at
  random. The result is in a seeded random order (a reviewer's queue is not grouped by class).
  The same candidates, size and seed always give the same sample, whatever the input order.
- ``assign_reviewers(pieces, reviewers, seed)``: each piece, in order, to the reviewer with the
  fewest pieces so far among those allowed for it (not its first rater, not a teacher of the
  learner's sections), ties broken in a seeded random order. ``NoReviewer`` names the first
  piece nobody may review.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, order=True)
class Candidate:
    """A scored piece that may be drawn: its id and its stratum (e.g. (school, section))."""

    stratum: tuple[int, int]
    id: int


class NoReviewer(ValueError):
    """No reviewer may take a piece (all are its first rater or teach the learner)."""

    def __init__(self, piece: Hashable) -> None:
        super().__init__(piece)
        self.piece = piece


def _rng(seed: int, purpose: str) -> random.Random:
    # One stream per purpose, so drawing and assigning never shift each other.
    return random.Random(f"{purpose}:{seed}")  # noqa: S311  (reproducible, not secret)


def allocate(sizes: Mapping[tuple[int, int], int], size: int) -> dict[tuple[int, int], int]:
    """How many pieces each stratum gives, for a sample of ``size`` (at most all of them)."""
    strata = sorted(key for key, count in sizes.items() if count > 0)
    total = sum(sizes[key] for key in strata)
    if size >= total:
        return {key: sizes[key] for key in strata}
    if size < len(strata):
        return {}  # the caller picks ``size`` strata at random, one piece each
    quota = dict.fromkeys(strata, 1)
    spare = {key: sizes[key] - 1 for key in strata}
    left = size - len(strata)
    room = sum(spare.values())
    shares = {key: Fraction(left * spare[key], room) for key in strata}
    for key in strata:
        quota[key] += int(shares[key])
    remainder = left - sum(int(share) for share in shares.values())
    by_fraction = sorted(strata, key=lambda key: (-(shares[key] - int(shares[key])), key))
    for key in by_fraction[:remainder]:
        quota[key] += 1
    return quota


def draw_sample(candidates: Sequence[Candidate], size: int, seed: int) -> list[Candidate]:
    """A stratified random sample of ``size`` candidates (all of them when fewer)."""
    if size < 0:
        raise ValueError("size: must be at least 0")
    rng = _rng(seed, "sample")
    by_stratum: dict[tuple[int, int], list[Candidate]] = {}
    for candidate in sorted(set(candidates)):
        by_stratum.setdefault(candidate.stratum, []).append(candidate)
    strata = sorted(by_stratum)
    quota = allocate({key: len(items) for key, items in by_stratum.items()}, size)
    if not quota and size:
        quota = dict.fromkeys(rng.sample(strata, size), 1)
    chosen: list[Candidate] = []
    for key in strata:
        wanted = quota.get(key, 0)
        if wanted:
            chosen.extend(rng.sample(by_stratum[key], wanted))
    rng.shuffle(chosen)
    return chosen


def assign_reviewers[P: Hashable](
    pieces: Sequence[tuple[P, frozenset[int]]], reviewers: Sequence[int], seed: int
) -> dict[P, int]:
    """Each piece (with the reviewers it excludes) to an allowed reviewer, load balanced."""
    order = sorted(set(reviewers))
    _rng(seed, "reviewers").shuffle(order)
    rank = {reviewer: index for index, reviewer in enumerate(order)}
    load = dict.fromkeys(order, 0)
    out: dict[P, int] = {}
    for piece, excluded in pieces:
        allowed = [reviewer for reviewer in order if reviewer not in excluded]
        if not allowed:
            raise NoReviewer(piece)
        chosen = min(allowed, key=lambda reviewer: (load[reviewer], rank[reviewer]))
        load[chosen] += 1
        out[piece] = chosen
    return out
