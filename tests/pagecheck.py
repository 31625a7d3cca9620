"""What every browser test asserts on every page it opens: the page does not scroll sideways and
axe-core finds no serious or critical violation.

axe-core comes pinned from the npm registry (package.json, installed by ``make venv``) and is
injected from ``node_modules``: nothing is fetched at run time.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# Where browser tests keep their screenshots: ``screenshots/`` (ignored by git), or the folder
# SCREENSHOTS_DIR names (e.g. to attach a walk's screenshots to a note outside the repository).
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(__file__).resolve().parent.parent / "screenshots"
)
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
SIZES = {"phone": PHONE, "laptop": LAPTOP}


@cache
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make venv` (npm ci installs it)")
    return AXE.read_text(encoding="utf-8")


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0 when nothing scrolls sideways)."""
    return int(
        page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations of the page, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's CSP (script-src 'self') stays on.
        page.evaluate(axe_source())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}: `"
        " + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ') + ')')"
    )
    return list(result)


def check_page(page: Any, *, what: str = "") -> None:
    """Asserts the open page does not scroll sideways and has 0 serious/critical axe violations."""
    label = what or page.url
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{label} scrolls sideways by {overflow}px at {page.viewport_size}"
    violations = serious_violations(page)
    assert violations == [], f"{label} at {page.viewport_size}: " + "; ".join(violations)
