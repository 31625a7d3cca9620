"""Cells of the files people open in a spreadsheet never run as formulas (S16, CSV injection).

A spreadsheet reads a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
as a formula (``=HYPERLINK(...)``, ``@SUM(...)``, DDE payloads), also when the file is a CSV or
the cell was written as text in an XLSX and is later saved as CSV. :func:`neutralise` is the one
rule every CSV and XLSX output applies to its text (reports, exports, downloads): such text gets
a leading apostrophe, which spreadsheets read as "this is text". Numbers are not text and pass
unchanged, so a negative score stays a number. Applying it twice changes nothing more.
"""

from __future__ import annotations

from typing import Final

FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet shows it without running it."""
    return "'" + text if text.startswith(FORMULA_START) else text
