"""What a blind reviewer may see of a piece of evidence: its work, never who or how it was rated.

``LearnerNames.text`` turns sanitised HTML (descriptions, reflections) into plain text with the
learner's names replaced by "the learner" (each of their given, preferred and family names,
whole words, any case), so a reflection that signs its name does not give it away. Working on
plain text (never inside markup) keeps a name like "Strong" from touching a tag. A link whose
address contains a name anywhere is withheld (``in_address``). Files are served as they were
submitted: a name written inside a file cannot be hidden, and the page says so.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Final

import nh3

HIDDEN: Final = "the learner"
_MIN_NAME: Final = 2


class LearnerNames:
    """The parts of a learner's names, and what hides them."""

    def __init__(self, names: Iterable[str]) -> None:
        self.parts = sorted(
            {
                part.casefold()
                for name in names
                for part in re.split(r"[\s\-'.]+", name or "")
                if len(part) >= _MIN_NAME
            },
            key=len,
            reverse=True,
        )
        alternatives = "|".join(re.escape(part) for part in self.parts)
        self.pattern = (
            re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if self.parts else None
        )

    def text(self, value: str) -> str:
        """Plain text of sanitised HTML, with the learner's names replaced."""
        plain = html.unescape(nh3.clean(value or "", tags=set()))
        return self.pattern.sub(HIDDEN, plain) if self.pattern is not None else plain

    def in_address(self, value: str) -> bool:
        """Whether an address (a link) contains one of the names anywhere, in any case."""
        folded = (value or "").casefold()
        return any(part in folded for part in self.parts)
