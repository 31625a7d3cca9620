"""Open Badges 3.0 credentials: valid against 1EdTech's schema, verifiable offline with the
published key set, and a credential altered by one character fails verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from jsonschema import Draft201909Validator

from badges.models import Credential
from badges.services import CredentialInvalid, verify_credential
from evidence import services as evidence_services
from tests.journeys.helpers import make_tree, run_worker
from tests.personas import Cast, _module_cast, shared_cast

__all__ = ["_module_cast", "shared_cast"]

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT.parent / "shared" / "data" / "specs" / "open-badges-3.0"


@pytest.fixture
def schema() -> dict[str, Any]:
    path = SPECS / "achievementcredential.schema.json"
    if not path.exists():
        pytest.skip(f"the Open Badges 3.0 schema is not at {path} (../shared/data/specs)")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.fixture
def mastered(shared_cast: Cast) -> tuple[Cast, Any, Any]:
    cast = shared_cast
    tree = make_tree(domains=1, per_domain=2)
    standard, other = tree.standards
    evidence = evidence_services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind="project",
        title="Fraction wall",
        demonstrated_at=timezone.now(),
        section=cast.section,
        scores={standard.pk: 4, other.pk: 1},
    )
    run_worker()
    return cast, standard, (other, evidence)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _swap(char: str) -> str:
    return "B" if char != "B" else "C"


def test_a_credential_validates_verifies_and_fails_when_altered(
    mastered: tuple[Cast, Any, Any], schema: dict[str, Any]
) -> None:
    cast, standard, (_other, evidence) = mastered
    student = _client(cast.student)
    url = f"/badges/learners/{cast.own.pk}/standards/{standard.pk}.jwt"
    response = student.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vc+jwt"
    assert response["Content-Disposition"].startswith("attachment;")
    token = response.content.decode()

    key_set = Client().get("/.well-known/jwks.json").json()  # public, as a verifier gets it
    claims = verify_credential(token, key_set)
    Draft201909Validator.check_schema(schema)
    errors = sorted(
        error.message
        for error in Draft201909Validator(
            schema, format_checker=Draft201909Validator.FORMAT_CHECKER
        ).iter_errors(claims)
    )
    assert errors == []
    assert claims["type"] == ["VerifiableCredential", "AchievementCredential"]
    achievement = claims["credentialSubject"]["achievement"]
    assert achievement["alignment"][0]["targetCode"] == standard.identifier
    assert achievement["alignment"][0]["targetType"] == "CFItem"
    assert achievement["humanCode"] == standard.human_code
    assert [item["id"] for item in claims["evidence"]] == [
        f"http://127.0.0.1:8000/evidence/{evidence.pk}/"
    ]
    # No name in clear: the learner's name only as a salted hash.
    assert cast.own.family_name not in token
    assert cast.own.family_name not in json.dumps(claims)

    # One character changed anywhere (payload or signature) and it no longer verifies.
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    altered_payload = payload[:middle] + _swap(payload[middle]) + payload[middle + 1 :]
    altered_signature = signature[:10] + _swap(signature[10]) + signature[11:]
    for altered in (
        f"{header}.{altered_payload}.{signature}",
        f"{header}.{payload}.{altered_signature}",
    ):
        with pytest.raises(CredentialInvalid):
            verify_credential(altered, key_set)

    # The same credential on every download; the guardian may fetch it too.
    assert student.get(url).content == response.content
    assert _client(cast.guardian).get(url).content == response.content
    assert Credential.objects.filter(learner=cast.own).count() == 1


def test_only_mastered_standards_and_visible_learners_get_a_credential(
    mastered: tuple[Cast, Any, Any],
) -> None:
    cast, standard, (other, _evidence) = mastered
    student = _client(cast.student)
    assert (
        student.get(f"/badges/learners/{cast.own.pk}/standards/{other.pk}.jwt").status_code == 404
    )
    outsider = _client(cast.other_student)
    url = f"/badges/learners/{cast.own.pk}/standards/{standard.pk}.jwt"
    assert outsider.get(url).status_code == 404
    assert not Credential.objects.exists()
    page = student.get(f"/badges/learners/{cast.own.pk}/")
    assert page.status_code == 200
    assert f"/standards/{standard.pk}.jwt" in page.content.decode()
    assert f"/standards/{other.pk}.jwt" not in page.content.decode()


def test_the_issuer_profile_is_public(mastered: tuple[Cast, Any, Any]) -> None:
    cast, _standard, _rest = mastered
    profile = Client().get(f"/badges/issuers/{cast.school.pk}/").json()
    assert profile["type"] == ["Profile"]
    assert profile["name"] == cast.school.name
