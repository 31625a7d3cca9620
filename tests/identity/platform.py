"""A test LTI 1.3 platform (the side we do not own): its key, its key set served on loopback,
and its authentication endpoint, which answers our login redirect with a signed launch posted
back by the browser (an auto-submitting form, as Canvas or Moodle send it)."""

from __future__ import annotations

import html
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
ISSUER = "https://lms.example.test"
CLIENT_ID = "tool-client-1"
DEPLOYMENT = "deployment-1"


@dataclass
class LoopbackPlatform:
    """The platform: ``people`` maps a login hint to what the platform says of that person."""

    url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048))
    kid: str = "platform-key-1"
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Other answers by path: (status, headers, body), e.g. a redirect or an oversized document.
    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)

    @property
    def key_set_url(self) -> str:
        return f"{self.url}/jwks.json"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth"

    def claims(
        self,
        *,
        nonce: str,
        roles: list[str],
        person: str,
        context_id: str = "course-1",
        course_section_sourced_id: str = "",
        **changes: Any,
    ) -> dict[str, Any]:
        now = int(time.time())
        lis = {"person_sourcedid": person}
        if course_section_sourced_id:
            lis["course_section_sourcedid"] = course_section_sourced_id
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": CLIENT_ID, "sub": f"lms-user-{person}", "iat": now,
            "exp": now + 300, "nonce": nonce,
            CLAIM + "message_type": "LtiResourceLinkRequest", CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT, CLAIM + "roles": roles,
            CLAIM + "resource_link": {"id": "link-1", "title": "Mastery"},
            CLAIM + "context": {"id": context_id, "label": "MATH5", "title": "Grade 5 maths"},
            CLAIM + "target_link_uri": "https://tool.example.test/",
            CLAIM + "lis": lis,
        }  # fmt: skip
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], *, key: RSAKey | None = None, kid: str = "") -> str:
        header = {"alg": "RS256", "kid": kid or self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key or self.key)

    def key_set(self) -> dict[str, Any]:
        return {"keys": [{**self.key.as_dict(private=False), "kid": self.kid, "alg": "RS256"}]}


def _handler(platform: LoopbackPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path in platform.answers:
                status, headers, body = platform.answers[parts.path]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if parts.path == "/jwks.json":
                self._send(200, json.dumps(platform.key_set()).encode(), "application/json")
                return
            if parts.path != "/auth":
                self._send(404, b"not found", "text/plain")
                return
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            person = platform.people[query["login_hint"]]
            token = platform.sign(platform.claims(nonce=query["nonce"], **person))
            page = (
                "<!doctype html><html lang='en'><title>Launching</title><body>"
                f"<form method='post' action='{html.escape(query['redirect_uri'])}'>"
                f"<input type='hidden' name='id_token' value='{token}'>"
                f"<input type='hidden' name='state' value='{html.escape(query['state'])}'>"
                "</form><script>document.forms[0].submit()</script></body></html>"
            )
            self._send(200, page.encode(), "text/html; charset=utf-8")

    return Handler


@contextmanager
def running_platform() -> Iterator[LoopbackPlatform]:
    platform = LoopbackPlatform()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(platform))
    platform.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name=f"lms-{uuid.uuid4().hex[:6]}")
    thread.daemon = True
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()
