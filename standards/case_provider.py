"""Our frameworks through the CASE 1.1 REST read endpoints (``/ims/case/v1p1/...``), so a
district can point another CASE consumer (or a second platform) at us, and import from a CASE
provider by URL.

Who may read: anyone, unless ``CASE_PROVIDER_PUBLIC`` is off (then signed-in users only).
Frameworks are published documents and hold no learner data; retired items are not served.
Identifiers are the ones our CASE export writes (UUIDs; a stored identifier that is not a UUID
is served as its minted UUID 5, and found by it). Unknown identifiers answer 404 with the
1EdTech ``imsx_StatusInfo`` body.

Fetching (:func:`fetch_package`): the URL is checked first (``http``/``https`` only, no
credentials in it, and the host must not resolve to a loopback, private, link-local or reserved
address unless ``CASE_FETCH_ALLOW_PRIVATE`` is on), the download is bounded in size
(``MAX_PACKAGE_BYTES``) and time, and redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from common.importing import ImportRefused, Problem
from standards.exporters import build_case_package, mint_identifier
from standards.importers.case import MAX_PACKAGE_BYTES
from standards.models import Association, Framework, Standard, StandardStatus

FETCH_TIMEOUT_SECONDS = 20


def _status(description: str, minor: str, status: int) -> JsonResponse:
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_codeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "sourcedId", "imsx_codeMinorFieldValue": minor}
            ]
        },
    }
    return JsonResponse(body, status=status)


def _not_found(what: str) -> JsonResponse:
    return _status(f"No {what} has this identifier.", "unknownobject", 404)


def _allowed(request: HttpRequest) -> bool:
    return bool(getattr(settings, "CASE_PROVIDER_PUBLIC", True)) or (
        request.user.is_authenticated and request.user.is_active
    )


def _json(data: dict[str, Any]) -> JsonResponse:
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=300"
    return response


def _framework(sourced_id: str) -> Framework | None:
    wanted = sourced_id.strip().lower()
    for framework in Framework.objects.all():
        if mint_identifier(framework.identifier) == wanted:
            return framework
    return None


def _standard(sourced_id: str) -> Standard | None:
    wanted = sourced_id.strip().lower()
    found = (
        Standard.objects.filter(identifier__iexact=wanted, status=StandardStatus.ACTIVE)
        .select_related("framework")
        .first()
    )
    if found is not None:
        return found
    # Minted identifiers cannot be looked up: compare with the stored ones that are not UUIDs.
    for pk, identifier in Standard.objects.filter(status=StandardStatus.ACTIVE).values_list(
        "pk", "identifier"
    ):
        if mint_identifier(identifier) == wanted and identifier.lower() != wanted:
            return Standard.objects.select_related("framework").get(pk=pk)
    return None


def _gate(view: Any) -> Any:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not _allowed(request):
            return _status("Sign in to read frameworks.", "unauthorisedrequest", 401)
        result: JsonResponse = view(request, *args, **kwargs)
        return result

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return require_GET(wrapped)


@_gate
def documents(request: HttpRequest) -> JsonResponse:
    """``GET CFDocuments``: every framework's document."""
    return _json(
        {
            "CFDocuments": [
                _document(framework) for framework in Framework.objects.order_by("title", "pk")
            ]
        }
    )


def _document(framework: Framework) -> dict[str, Any]:
    document = dict(build_case_package_document(framework))
    document["CFPackageURI"] = {
        "title": framework.title,
        "identifier": document["identifier"],
        "uri": document["uri"],
    }
    return document


def build_case_package_document(framework: Framework) -> dict[str, Any]:
    """The CFDocument of the framework as the export writes it (no items read)."""
    identifier = mint_identifier(framework.identifier)
    uri = framework.identifier if identifier != framework.identifier else framework.uri
    document: dict[str, Any] = {
        "identifier": identifier,
        "uri": uri or f"urn:uuid:{identifier}",
        "creator": framework.creator,
        "title": framework.title,
        "lastChangeDateTime": (framework.last_change_at or framework.updated_at).isoformat(),
        "caseVersion": "1.1",
    }
    for key, value in (
        ("publisher", framework.publisher),
        ("description", framework.description),
        ("subject", framework.subjects),
        ("language", framework.language),
        ("version", framework.version),
        ("adoptionStatus", framework.adoption_status),
        ("officialSourceURL", framework.official_source_url),
    ):
        if value:
            document[key] = value
    return document


@_gate
def document(request: HttpRequest, sourced_id: str) -> JsonResponse:
    """``GET CFDocuments/{sourcedId}``."""
    framework = _framework(sourced_id)
    if framework is None:
        return _not_found("framework")
    return _json(_document(framework))


@_gate
def package(request: HttpRequest, sourced_id: str) -> JsonResponse:
    """``GET CFPackages/{sourcedId}``: the whole framework, as the CASE export writes it."""
    framework = _framework(sourced_id)
    if framework is None:
        return _not_found("framework")
    return _json(build_case_package(framework))


def _item_of(standard: Standard) -> tuple[dict[str, Any], dict[str, Any]]:
    package = build_case_package(standard.framework)
    identifier = mint_identifier(standard.identifier)
    item = next(entry for entry in package["CFItems"] if entry["identifier"] == identifier)
    return {**item, "CFDocumentURI": _link(package["CFDocument"])}, package


def _link(document: dict[str, Any]) -> dict[str, str]:
    return {
        "title": document["title"],
        "identifier": document["identifier"],
        "uri": document["uri"],
    }


@_gate
def item(request: HttpRequest, sourced_id: str) -> JsonResponse:
    """``GET CFItems/{sourcedId}``."""
    standard = _standard(sourced_id)
    if standard is None:
        return _not_found("item")
    found, _package = _item_of(standard)
    return _json(found)


@_gate
def item_associations(request: HttpRequest, sourced_id: str) -> JsonResponse:
    """``GET CFItemAssociations/{sourcedId}``: the item and every association it is an end of."""
    standard = _standard(sourced_id)
    if standard is None:
        return _not_found("item")
    found, package = _item_of(standard)
    ends = {found["identifier"]}
    links = [
        {**link, "CFDocumentURI": _link(package["CFDocument"])}
        for link in package["CFAssociations"]
        if link["originNodeURI"]["identifier"] in ends
        or link["destinationNodeURI"]["identifier"] in ends
    ]
    return _json({"CFItem": found, "CFAssociations": links})


@_gate
def association(request: HttpRequest, sourced_id: str) -> JsonResponse:
    """``GET CFAssociations/{sourcedId}``."""
    wanted = sourced_id.strip().lower()
    link = Association.objects.filter(identifier__iexact=wanted).select_related("framework").first()
    if link is None:
        for pk, identifier in Association.objects.values_list("pk", "identifier"):
            if mint_identifier(identifier) == wanted:
                link = Association.objects.select_related("framework").get(pk=pk)
                break
    if link is None:
        return _not_found("association")
    package = build_case_package(link.framework)
    identifier = mint_identifier(link.identifier)
    entry = next(e for e in package["CFAssociations"] if e["identifier"] == identifier)
    return _json({**entry, "CFDocumentURI": _link(package["CFDocument"])})


# --- importing from a provider -------------------------------------------------------------------


def _url_problem(reason: str) -> ImportRefused:
    return ImportRefused([Problem("request", "url", reason)])


def check_url(url: str) -> str:
    """The URL, if it is one we may fetch a package from; else :class:`ImportRefused`."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _url_problem("Give an http or https address of a CASE package.")
    if parts.username or parts.password:
        raise _url_problem("The address must not carry a user name or password.")
    if len(text) > 2000:
        raise _url_problem("The address is longer than 2,000 characters.")
    if not getattr(settings, "CASE_FETCH_ALLOW_PRIVATE", False):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port)}
        except (socket.gaierror, UnicodeError) as error:
            raise _url_problem(f"The host {parts.hostname!r} cannot be found.") from error
        for address in addresses:
            ip = ipaddress.ip_address(str(address).split("%", 1)[0])
            if not ip.is_global:
                raise _url_problem(
                    "The address points inside this network; only public CASE providers are "
                    "fetched."
                )
    return text


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch_package(url: str) -> bytes:
    """The bytes of a CASE package at ``url`` (a ``.../CFPackages/{id}`` address), bounded in
    size and time; :class:`ImportRefused` with a plain reason when it cannot be had."""
    checked = check_url(url)
    opener = urllib.request.build_opener(_NoRedirects)
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        checked, headers={"Accept": "application/json", "User-Agent": "mastery-platform"}
    )
    deadline = time.monotonic() + FETCH_TIMEOUT_SECONDS
    chunks: list[bytes] = []
    size = 0
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            while size <= MAX_PACKAGE_BYTES:
                chunk = response.read(64 * 1024)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise _url_problem(
                        f"The provider took longer than {FETCH_TIMEOUT_SECONDS} s to send it."
                    )
    except urllib.error.HTTPError as error:
        raise _url_problem(f"The provider answered {error.code}: no package there.") from error
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        raise _url_problem(f"The provider could not be reached ({error}).") from error
    if size > MAX_PACKAGE_BYTES:
        raise _url_problem(f"The package is larger than {MAX_PACKAGE_BYTES // 2**20} MB.")
    return b"".join(chunks)
