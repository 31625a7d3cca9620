"""Signing keys: one active key per purpose and organisation, rotation, revocation, the JWK set."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet

from audit.models import AuditEntry
from identity import keys, selectors, services
from identity.models import KeyPurpose, SigningKey
from identity.sealing import SealError, seal, unseal
from tests.personas import Cast, _module_cast, shared_cast

__all__ = ["_module_cast", "shared_cast"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


def _published() -> dict[str, Any]:
    response = Client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "public" in response["Cache-Control"]
    return dict(response.json())


def test_a_signature_verifies_against_the_published_key_set() -> None:
    key = services.signing_key_for(purpose=KeyPurpose.LTI)
    token = keys.sign_jwt(key, {"iss": "us", "n": 1})
    published = _published()
    assert [item["kid"] for item in published["keys"]] == [key.kid]
    assert {"d", "p", "q", "dp", "dq", "qi"}.isdisjoint(published["keys"][0])  # no private part
    decoded = jwt.decode(token, KeySet.import_key_set(published), algorithms=["RS256"])
    assert decoded.claims == {"iss": "us", "n": 1}
    assert decoded.header["kid"] == key.kid
    # First use made the key once; the next use finds it.
    assert services.signing_key_for(purpose=KeyPurpose.LTI).pk == key.pk


def test_rotation_retires_the_old_key_which_stays_published_until_revoked(cast: Cast) -> None:
    old = services.signing_key_for(purpose=KeyPurpose.BADGE, organisation=cast.district)
    signed_before = keys.sign_jwt(old, {"credential": 1})
    new = services.rotate_signing_key(
        actor=None, purpose=KeyPurpose.BADGE, organisation=cast.district, algorithm="ES256"
    )
    old.refresh_from_db()
    assert old.retired_at is not None
    assert selectors.active_signing_key(purpose=KeyPurpose.BADGE, organisation=cast.district) == new
    with pytest.raises(ValueError, match="retired"):
        keys.sign_jwt(old, {"credential": 2})
    key_set = KeySet.import_key_set(_published())
    assert jwt.decode(signed_before, key_set, algorithms=["RS256"]).claims == {"credential": 1}
    assert jwt.decode(keys.sign_jwt(new, {"c": 3}), key_set, algorithms=["ES256"]).claims == {
        "c": 3
    }
    services.revoke_signing_key(actor=None, key=old)
    assert [item["kid"] for item in _published()["keys"]] == [new.kid]
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {
        "signing_key.rotate",
        "signing_key.revoke",
    }


def test_the_database_keeps_one_active_key_per_purpose_and_owner(cast: Cast) -> None:
    first = services.signing_key_for(purpose=KeyPurpose.LTI)
    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(
            purpose=KeyPurpose.LTI, kid="x", algorithm="RS256", public_jwk={}, private_key_sealed=""
        )
    # Other owners and purposes have their own active key.
    district = services.signing_key_for(purpose=KeyPurpose.LTI, organisation=cast.district)
    badge = services.signing_key_for(purpose=KeyPurpose.BADGE)
    assert len({first.pk, district.pk, badge.pk}) == 3


def test_only_the_operator_or_the_organisations_admins_rotate_its_keys(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        services.rotate_signing_key(actor=cast.teacher, purpose="badge", organisation=cast.school)
    with pytest.raises(PermissionDenied):
        services.rotate_signing_key(actor=cast.school_admin, purpose="badge")  # the platform's
    key = services.rotate_signing_key(
        actor=cast.district_admin, purpose="badge", organisation=cast.school
    )
    assert key.organisation == cast.school
    with pytest.raises(ValidationError, match="RS256"):
        services.rotate_signing_key(actor=None, purpose="lti", algorithm="ES256")
    with pytest.raises(ValidationError):
        services.rotate_signing_key(actor=None, purpose="nothing")


def test_private_keys_are_sealed_at_rest_and_a_foreign_seal_is_refused(settings: Any) -> None:
    key = services.signing_key_for(purpose=KeyPurpose.LTI)
    assert "PRIVATE KEY" not in key.private_key_sealed
    assert "PRIVATE KEY" in unseal(key.private_key_sealed)
    sealed = seal("secret")
    settings.SECRET_KEY = "another-secret-key-0123456789-0123456789-0123456789"
    with pytest.raises(SealError):
        unseal(sealed)
    settings.SECRET_KEY_FALLBACKS = ["test-only-secret-key-not-for-production-0123456789abcdef"]
    assert unseal(sealed) == "secret"  # the old key still opens what it sealed
    out = StringIO()
    call_command("signing_keys", "reseal", stdout=out)
    settings.SECRET_KEY_FALLBACKS = []
    key.refresh_from_db()
    assert "PRIVATE KEY" in unseal(key.private_key_sealed)


def test_the_command_lists_rotates_and_revokes() -> None:
    out = StringIO()
    call_command("signing_keys", "rotate", "--purpose", "lti", stdout=out)
    kid = out.getvalue().strip()
    listing = StringIO()
    call_command("signing_keys", "list", stdout=listing)
    assert f"{kid}  lti    RS256  active" in listing.getvalue()
    call_command("signing_keys", "revoke", kid, stdout=StringIO())
    assert _published() == {"keys": []}
