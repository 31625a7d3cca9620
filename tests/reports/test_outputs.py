"""The state export's pieces: days and digests as text, whatever the order of the pages."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mastery import core
from mastery.core import NO_DAY
from reports import outputs
from reports.outputs import Pieces


def _pieces() -> Pieces:
    return Pieces(str, str, lambda day: f"[{outputs.date_text(day)}]")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.just(NO_DAY), st.integers(-40_000, 40_000)), min_size=0, max_size=30),
        min_size=1,
        max_size=6,
    )
)
def test_dates_give_each_day_its_text_as_the_table_grows_page_by_page(
    pages: list[list[int]],
) -> None:
    """Pages whose days lie before, after, around or far from the days seen so far (the table
    grows, or a span too wide is looked up by itself), and pages with no day at all."""
    pieces = _pieces()
    for page in pages:
        days = np.array(page, np.int64)
        got = pieces.dates(days)
        assert got.dtype == object
        assert got.tolist() == [f"[{outputs.date_text(day)}]" for day in page]


def test_a_date_before_2000_and_none_at_all_are_written_as_the_date_and_blank() -> None:
    pieces = _pieces()
    got = pieces.dates(np.array([NO_DAY, -1, 0, 366, NO_DAY], np.int64)).tolist()
    assert got == ["[]", "[1999-12-31]", "[2000-01-01]", "[2001-01-01]", "[]"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
    st.sampled_from(["", ',"ratingsDigest":"', "x"]),
    st.sampled_from(["", "\r\n", '"}}}\n']),
)
def test_digest_texts_are_each_digest_in_hex_between_its_prefix_and_suffix(
    digests: list[int], prefix: str, suffix: str
) -> None:
    got = core.digest_texts(np.array(digests, np.int64), prefix, suffix)
    assert got.dtype == object
    assert got.tolist() == [prefix + core.digest_text(value) + suffix for value in digests]
