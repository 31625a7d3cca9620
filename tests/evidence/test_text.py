"""Descriptions and reflections never carry script (RELIABILITY.md S11)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.text import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, clean_line, clean_text, sanitise_html

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="x:expression(alert(1))">x</p>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<form action="https://evil.example"><input name=q></form>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    '<base href="https://evil.example/">',
    "<!--<script>alert(1)</script>-->",
    "<scr<script>ipt>alert(1)</script>",
    "<<script>alert(1);//<</script>",
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    "<details open ontoggle=alert(1)>",
    '<video><source onerror="alert(1)"></video>',
    "<strong onmouseover=alert(1)>bold</strong>",
    "<template><script>alert(1)</script></template>",
    '"><script>alert(1)</script>',
]


class _Inspector(HTMLParser):
    """Collects every tag, attribute and URL of sanitised output."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag {tag}")
        for name, value in attrs:
            if (name == "rel" and tag == "a") or name in {"title", "lang"}:
                continue  # nh3's link_rel, and its harmless generic attributes
            if name not in ALLOWED_ATTRIBUTES.get(tag, set()):
                self.problems.append(f"attribute {tag}.{name}")
            if name == "href" and value is not None:
                scheme = urlparse(value.strip()).scheme.lower()
                if scheme not in {"", "http", "https", "mailto"}:
                    self.problems.append(f"href {value}")


def _problems(html: str) -> list[str]:
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.problems


@pytest.mark.parametrize("payload", PAYLOADS)
def test_known_xss_payloads_come_out_inert(payload: str) -> None:
    cleaned = clean_text(payload)
    assert _problems(cleaned) == []
    assert "<script" not in cleaned.lower()
    assert sanitise_html(cleaned) == cleaned


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(PAYLOADS)
        | st.text(max_size=40)
        | st.sampled_from(
            ["<", ">", '"', "'", "=", "/", "&", "on", "href", "<a ", "<p>", "javascript:"]
        ),
        max_size=12,
    ).map("".join)
)
def test_any_mix_of_text_and_payloads_comes_out_inert(text: str) -> None:
    cleaned = clean_text(text)
    assert _problems(cleaned) == []
    assert sanitise_html(cleaned) == cleaned


def test_plain_text_keeps_its_paragraphs_and_is_escaped() -> None:
    assert clean_text("a < b & c\r\n\r\nnext line\nsame para") == (
        "<p>a &lt; b &amp; c</p>\n\n<p>next line<br>same para</p>"
    )


def test_simple_formatting_and_safe_links_are_kept() -> None:
    assert clean_text('<p><strong>Yes</strong> <a href="https://example.org">link</a></p>') == (
        '<p><strong>Yes</strong> <a href="https://example.org" '
        'rel="noopener noreferrer nofollow">link</a></p>'
    )


def test_titles_are_one_plain_line() -> None:
    assert clean_line("  Quiz\n\t 1\x00 ") == "Quiz 1"
