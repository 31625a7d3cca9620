"""Helpers of the role walks in chromium: sign in, check every page at both sizes, screenshots.

Every page a walk opens goes through :func:`look`: it is checked (no sideways scrolling, no
serious or critical axe-core violation) at 1366x768 and at 390x844, and screenshots of it can be
kept in ``screenshots/`` (ignored by git).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from tests.pagecheck import LAPTOP, PHONE, SCREENSHOTS, check_page

PASSWORD = "Journey-pass-2026"


class Keys:
    """Key presses sent to the page, counted (the grid's entry is measured in key presses)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.count += 1


def serve_static_from_source(settings: Any) -> None:
    """Plain static URLs served by the live server from the source folders (the manifest
    storage of the test settings needs a collectstatic run the live server does not read)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def set_password(*users: User) -> None:
    for user in users:
        user.set_password(PASSWORD)
        user.save()


def sign_in(page: Any, site_url: str, user: User, next_url: str = "/") -> None:
    page.context.clear_cookies()
    page.set_viewport_size(LAPTOP)
    page.goto(f"{site_url}/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site_url}{next_url}")


def look(page: Any, what: str, *, shots: bool = False) -> None:
    """Check the open page at the laptop and the phone size (back to the laptop after);
    ``shots``: keep a screenshot at each size as ``screenshots/<what>-<size>.png``."""
    for name, size in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        wide = too_wide(page)
        check_page(page, what=f"{what} ({name}; wider than the page: {wide})")
        if shots:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{what}-{name}.png"), full_page=True)
    page.set_viewport_size(LAPTOP)


def too_wide(page: Any) -> list[str]:
    """The outermost elements reaching past the right edge of the page (why it scrolls)."""
    return list(
        page.evaluate(
            """() => {
              const width = document.documentElement.clientWidth, out = [];
              for (const el of document.body.querySelectorAll('*')) {
                const box = el.getBoundingClientRect();
                if (box.right > width + 1 && !(el.parentElement &&
                    el.parentElement.getBoundingClientRect().right > width + 1)) {
                  out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                    (el.className && el.className.baseVal === undefined ? '.' + el.className : '')
                    + ' ' + Math.round(box.right));
                }
              }
              return out.slice(0, 8);
            }"""
        )
    )


def visit(page: Any, site_url: str, path: str, what: str, *, shots: bool = False) -> None:
    """Open ``path`` and :func:`look` at it."""
    response = page.goto(f"{site_url}{path}")
    assert response is not None, path
    assert response.status == 200, f"{path}: {response.status}"
    look(page, what, shots=shots)
