"""Our CASE 1.1 REST provider endpoints, and importing from a CASE provider by URL.

Packages are served from a local HTTP server on loopback (never the internet).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from common.importing import ImportRefused
from learners.models import Organisation
from standards.case_provider import check_url, fetch_package
from standards.exporters import build_case_package, mint_identifier
from standards.importers.case import parse_case_bytes
from standards.models import Framework
from standards.services import import_framework
from tests.factories import UserFactory
from tests.specs import case_errors
from tests.standards.conftest import delete_frameworks_directly
from tests.standards.test_case_conformance import DOC, quirky_package

Serve = Callable[[bytes, int], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serves bytes at http://127.0.0.1:PORT/ims/case/v1p1/CFPackages/{id} (one server per
    test); returns the address."""
    servers: list[http.server.HTTPServer] = []

    def start(body: bytes, status: int = 200) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://example.org/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_port}/ims/case/v1p1/CFPackages/{DOC}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback(settings: Any) -> None:
    settings.CASE_FETCH_ALLOW_PRIVATE = True


def test_a_package_served_by_our_endpoints_imports_into_a_second_organisation_unchanged(
    db: None, client: Client, serve: Serve, loopback: None
) -> None:
    first, second = (Organisation.objects.create(name=n, kind="district") for n in "AB")
    import_framework(parsed=parse_case_bytes(json.dumps(quirky_package()).encode()), actor=None,
                     organisation=first)  # fmt: skip
    # Anyone may read our frameworks (no sign-in): they hold no learner data.
    served = client.get(f"/ims/case/v1p1/CFPackages/{DOC}")
    assert served.status_code == 200
    package = served.json()
    assert case_errors(package) == []
    # Another installation that has never seen it: the framework is not here any more.
    delete_frameworks_directly([Framework.objects.get(identifier=DOC).pk])

    url = serve(served.content, 200)
    report = import_framework(parsed=parse_case_bytes(fetch_package(url)), actor=None,
                              organisation=second)  # fmt: skip

    again = Framework.objects.get(identifier=DOC)
    assert again.organisation == second
    assert (report.created, report.associations_created) == (6, 6)
    assert build_case_package(again) == package


def test_the_provider_answers_documents_items_and_associations(
    small_framework: Framework, client: Client
) -> None:
    documents = client.get("/ims/case/v1p1/CFDocuments").json()["CFDocuments"]
    assert [d["identifier"] for d in documents] == [small_framework.identifier]
    document = client.get(f"/ims/case/v1p1/CFDocuments/{small_framework.identifier}").json()
    assert document["CFPackageURI"]["identifier"] == small_framework.identifier
    item_id = "c0ffee00-0000-4000-8000-000000000011"
    item = client.get(f"/ims/case/v1p1/CFItems/{item_id}").json()
    assert (item["humanCodingScheme"], item["CFDocumentURI"]["identifier"]) == (
        "NS.C",
        small_framework.identifier,
    )
    links = client.get(f"/ims/case/v1p1/CFItemAssociations/{item_id}").json()
    assert links["CFItem"]["identifier"] == item_id
    assert {link["associationType"] for link in links["CFAssociations"]} == {"isChildOf"}
    one = links["CFAssociations"][0]["identifier"]
    assert client.get(f"/ims/case/v1p1/CFAssociations/{one}").json()["identifier"] == one
    missing = client.get("/ims/case/v1p1/CFItems/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["imsx_codeMajor"] == "failure"


def test_minted_identifiers_find_their_records(
    ccss_framework: Framework, db: None, client: Client
) -> None:
    minted = mint_identifier("http://purl.org/ASN/resources/S114344A")
    item = client.get(f"/ims/case/v1p1/CFItems/{minted}").json()
    assert (item["identifier"], item["uri"]) == (minted, "http://purl.org/ASN/resources/S114344A")


def test_the_provider_can_be_closed_to_visitors(
    small_framework: Framework, client: Client, settings: Any
) -> None:
    settings.CASE_PROVIDER_PUBLIC = False
    assert client.get("/ims/case/v1p1/CFDocuments").status_code == 401
    client.force_login(UserFactory())
    assert client.get("/ims/case/v1p1/CFDocuments").status_code == 200


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x", "Give an http or https address of a CASE package."),
        ("https://user:pw@example.org/x", "The address must not carry a user name or password."),
        ("http://127.0.0.1:9/x", "The address points inside this network"),
        ("http://10.1.2.3/x", "The address points inside this network"),
    ],
)
def test_addresses_we_will_not_fetch_are_refused_in_words(url: str, reason: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        check_url(url)
    assert refused.value.problems[0].reason.startswith(reason)


def test_fetching_is_bounded_and_never_follows_redirects(
    serve: Serve, loopback: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import standards.case_provider as provider

    monkeypatch.setattr(provider, "MAX_PACKAGE_BYTES", 1000)
    with pytest.raises(ImportRefused, match="larger than"):
        fetch_package(serve(b"x" * 5000, 200))
    with pytest.raises(ImportRefused, match="answered 302"):
        fetch_package(serve(b"{}", 302))
    with pytest.raises(ImportRefused, match="answered 404"):
        fetch_package(serve(b"{}", 404))


def test_page_api_and_command_import_from_a_provider_address(
    db: None, client: Client, serve: Serve, loopback: None
) -> None:
    url = serve(json.dumps(quirky_package()).encode(), 200)
    root = UserFactory(is_superuser=True, is_staff=True)
    api = APIClient()
    api.force_authenticate(root)
    checked = api.post(
        "/api/v1/frameworks/import/", {"url": url, "dry_run": "true"}, format="multipart"
    )
    assert (checked.status_code, checked.json()["created"]) == (200, 6)
    client.force_login(root)
    page = client.post("/standards/import/", {"format": "case", "url": url, "dry_run": "on"})
    assert page.status_code == 200
    assert not Framework.objects.filter(identifier=DOC).exists()
    call_command("import_case", url, stdout=__import__("io").StringIO())
    assert Framework.objects.filter(identifier=DOC).exists()
