"""Free text written by people (descriptions, reflections, comments) made safe to show as HTML.

Input is either plain text or HTML. Plain text is escaped and its line breaks kept; HTML keeps a
small set of formatting tags, links only to http(s) and mailto, and loses everything else
(scripts, event handlers, styles, images, forms). The result is stored and sanitised again when
rendered, so a row written before a rule tightened is still shown safely.
"""

from __future__ import annotations

import re

import nh3
from django.utils.html import escape, linebreaks

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "br",
        "code",
        "em",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "strong",
        "u",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

# Something that looks like a tag: the text is then treated as HTML rather than plain text.
_LOOKS_LIKE_HTML = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def sanitise_html(value: str) -> str:
    """The value, as HTML that runs no script and loads nothing (idempotent). Besides the tags
    and attributes above, nh3 keeps the harmless ``title`` and ``lang`` on any tag."""
    return nh3.clean(
        value,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def clean_text(value: str) -> str:
    """Plain text or HTML from a person, as sanitised HTML ready to store.

    Plain text keeps its paragraphs and line breaks; control characters are dropped.
    """
    text = _CONTROL.sub("", value.replace("\r\n", "\n")).strip()
    if not text:
        return ""
    if not _LOOKS_LIKE_HTML.search(text):
        text = linebreaks(escape(text))
    return sanitise_html(text)


def clean_line(value: str) -> str:
    """A one-line plain value (a title): control characters and line breaks become spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())
