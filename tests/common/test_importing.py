"""The import framework's pieces: problems, the bounded collector, the streaming CSV reader."""

from __future__ import annotations

import io

import pytest

from common.importing import (
    CsvReader,
    ImportRefused,
    Location,
    Problem,
    Problems,
    problems_payload,
    warning,
)


def _read(
    data: bytes, max_bytes: int = 10_000
) -> tuple[list[tuple[int, dict[str, str]]], Problems]:
    problems = Problems()
    reader = CsvReader(io.BytesIO(data), file="users.csv", problems=problems, max_bytes=max_bytes)
    return [(row.number, row.values) for row in reader], problems


def test_rows_stream_with_their_spreadsheet_numbers_and_blank_rows_skipped() -> None:
    rows, problems = _read(b'\xef\xbb\xbfid,name\r\n1,Ada\r\n\r\n2,"Ben\nBo"\n3,Cy\n')
    assert rows == [(2, {"id": "1", "name": "Ada"}), (4, {"id": "2", "name": "Ben\nBo"}),
                    (5, {"id": "3", "name": "Cy"})]  # fmt: skip
    assert not problems


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "users.csv: The file is empty (no header row)."),
        (b"id,name\n1,caf\xe9\n", "users.csv row 2: The file is not UTF-8 text (byte 0xe9); "
         "save it as UTF-8."),
        (b"id\n1\x002\n", "users.csv: The file holds NUL bytes: it is not a CSV file."),
        (b"id,name\n" + b"1,x\n" * 50,
         "users.csv: The file is larger than the limit of 100 bytes."),
        (b"id,name\n1,x,extra\n", "users.csv row 2: The row has 3 fields; the header has 2."),
    ],
)  # fmt: skip
def test_whole_file_and_row_problems_are_named(data: bytes, expected: str) -> None:
    _rows, problems = _read(data, max_bytes=100)
    assert [str(p) for p in problems.errors] == [expected]


def test_the_collector_keeps_a_bounded_number_and_counts_them_all() -> None:
    problems = Problems(limit=3)
    for number in range(10):
        problems.error("f.csv", "c", "bad", row=number + 2)
    problems.warn("f.csv", "c", "note")
    problems.error("f.csv", "c", "bad", row=2)  # an exact repeat is kept once
    assert (len(problems.errors), problems.error_count, problems.warning_count) == (3, 10, 1)
    with pytest.raises(ImportRefused) as refused:
        problems.refuse_if_errors()
    assert refused.value.total_errors == 10
    assert [p.severity for p in refused.value.problems] == ["error"] * 3 + ["warning"]


def test_warnings_alone_never_refuse() -> None:
    problems = Problems()
    problems.add(warning("CFItems", "sequenceNumber", "'1' is text", row=3))
    assert not problems
    problems.refuse_if_errors()


def test_one_api_format_and_one_wording() -> None:
    where = Location("CFItems", 4, "abc")
    refused = ImportRefused([where.warning("x", "note"), where.error("fullStatement", "empty")])
    assert problems_payload(refused) == {
        "problems": [
            {"file": "CFItems", "row": 4, "column": "fullStatement", "reason": "empty",
             "severity": "error", "record": "abc"},
            {"file": "CFItems", "row": 4, "column": "x", "reason": "note",
             "severity": "warning", "record": "abc"},
        ],
        "error_count": 1,
    }  # fmt: skip
    assert str(refused.problems[0]) == "CFItems item 4 (abc): fullStatement: empty"
    assert str(Problem("request", "levels[0]", "must be a colour")) == (
        "request: levels[0]: must be a colour"
    )
