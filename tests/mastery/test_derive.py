"""The bulk derivation (numpy, every prefix at once) equals the per-record derivation."""

from __future__ import annotations

import datetime
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mastery import derive, rules
from mastery.derive import EPOCH, BulkGroups, Rules

POLICIES = st.sampled_from(
    [
        rules.Policy("average"),
        rules.Policy("highest", min_evidence=2),
        rules.Policy("latest"),
        rules.Policy("mode"),
        rules.Policy("n_times", {"n": 2}),
        rules.Policy("weighted_average", {"weight": 65}),
        rules.Policy("decaying_average", {"weight": 65}, min_evidence=3),
        rules.Policy("power_law"),
        rules.Policy("bkt"),
    ]
)
SCORES = st.sampled_from(["1", "1.5", "2", "2.25", "2.5", "3", "3.5", "4"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(SCORES, min_size=1, max_size=8), min_size=1, max_size=10), POLICIES)
def test_bulk_derivation_equals_the_per_record_one(
    groups: list[list[str]], policy: rules.Policy
) -> None:
    settings_ = Rules(policy, rules.DEFAULT_SCALE)
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    hours = [h for g in groups for h in range(len(g))]
    bulk = derive.derive_bulk(
        BulkGroups(
            starts=np.cumsum(counts) - counts,
            counts=counts,
            scores=np.array([float(x) for g in groups for x in g]),
            demonstrated_us=np.array([h * 3_600_000_000 for h in hours], dtype=np.int64),
            ids=np.array([h + 1 for h in hours], dtype=np.int64),
        ),
        settings_,
    )
    for group, result in zip(groups, bulk, strict=True):
        ratings = [
            rules.Rating(Decimal(x), EPOCH + datetime.timedelta(hours=h), None, h + 1)
            for h, x in enumerate(group)
        ]
        assert result.key() == derive.derive_record(ratings, settings_).key(), (group, policy)
