"""A real OpenID Connect provider for the tests: ``oidc_provider.mjs`` run with the machine's
Node (oidc-provider pinned in package.json, installed by ``npm ci``), on a loopback port."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CLIENT_ID = "mastery-tests"
CLIENT_SECRET = "tests-only-client-secret"


@dataclass(frozen=True)
class LoopbackProvider:
    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET


@contextmanager
def running_provider(
    redirect_uris: list[str], accounts: dict[str, dict[str, Any]]
) -> Iterator[LoopbackProvider]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: the machine's Node 20 runs the test provider")
    if not (ROOT / "node_modules" / "oidc-provider").exists():
        pytest.fail("oidc-provider is missing from node_modules: run `make venv` (npm ci)")
    config = {
        "clients": [
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": redirect_uris}
        ],
        "accounts": accounts,
    }
    process = subprocess.Popen(
        [node, str(SCRIPT)],
        cwd=ROOT,
        env={**os.environ, "OIDC_TEST_CONFIG": json.dumps(config)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until it listens (or exits: empty line)
        if not line:
            pytest.fail(f"the test OpenID Connect provider exited with {process.wait()}")
        yield LoopbackProvider(issuer=json.loads(line)["issuer"])
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sign_in_at_provider(authorization_url: str, login: str, *, back_to: str) -> str:
    """Walks the provider's own sign-in page as a person would (any password) and returns the
    URL it sends the browser back to (``back_to`` is where that URL starts)."""
    session = requests.Session()
    url = authorization_url
    for _ in range(10):
        response = session.get(url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if url.startswith(back_to):
                return url
            continue
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*method="post"', response.text)
        assert form, response.text[:500]
        hidden = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text)
        )
        response = session.post(
            urljoin(url, form.group(1)),
            data={**hidden, "login": login, "password": "any"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.is_redirect, response.text[:500]
        url = urljoin(url, response.headers["Location"])
        if url.startswith(back_to):
            return url
    raise AssertionError("the provider never sent the browser back")
