"""Open Badges 3.0 credentials: one ``AchievementCredential`` per learner per mastered standard.

- The achievement is the standard, aligned to its CASE item (``targetType`` ``CFItem``, the
  item's CASE identifier and URI); the evidence behind the mastery is linked; the issuer is the
  learner's school (``Profile``).
- The proof is a VC-JWT (Open Badges 3.0 §8.2, "JSON Web Token Proof Format"): the credential is
  the JWT payload with ``iss``, ``jti``, ``sub``, ``nbf`` and ``iat``; the header names the
  school's badge key (``kid``), whose public half is in the published key set
  (``/.well-known/jwks.json``, ``identity``). Verifying needs only that key set.
- Issued once and kept (``Credential``): the same credential (id, bytes) on every download.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from badges.models import Credential
from identity import keys
from identity.models import KeyPurpose
from identity.services import signing_key_for
from learners.models import Learner, Organisation
from learners.selectors import AnyUser, visible_learners
from mastery.core import counted_ratings
from mastery.models import MasteryRecord
from standards.models import Standard

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# The algorithms a verifier of our credentials accepts (the ones identity signs with).
ALGORITHMS = ["RS256", "ES256"]
MEDIA_TYPE = "application/vc+jwt"
MAX_EVIDENCE = 20


class CredentialInvalid(Exception):
    """A credential whose signature does not verify with the key set, or that is malformed."""


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issuer_profile(organisation: Organisation) -> dict[str, Any]:
    """The issuing school as an Open Badges ``Profile`` (public: a school's name)."""
    return {
        "id": _site(reverse("badges:issuer", args=[organisation.pk])),
        "type": ["Profile"],
        "name": organisation.name,
    }


def _subject_id(learner: Learner) -> str:
    # A stable, opaque id: nothing in it names or counts the learner.
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:learner:{learner.pk}".encode()).hexdigest()
    return f"urn:uuid:{uuid.UUID(digest[:32])}"


def _achievement(standard: Standard) -> dict[str, Any]:
    framework = standard.framework
    item_uri = standard.uri or _site(f"/ims/case/v1p1/CFItems/{standard.identifier}")
    code = standard.human_code or standard.identifier
    return {
        "id": item_uri,
        "type": ["Achievement"],
        "achievementType": "Competency",
        "name": code,
        "humanCode": code,
        "description": standard.statement,
        "criteria": {
            "narrative": (
                "Mastered: the learner's counted evidence on this standard reached the mastery "
                "threshold of their school's proficiency scale."
            )
        },
        "alignment": [
            {
                "type": ["Alignment"],
                "targetName": code,
                "targetDescription": standard.statement,
                "targetUrl": item_uri,
                "targetCode": standard.identifier,
                "targetFramework": framework.title,
                "targetType": "CFItem",
            }
        ],
    }


def _evidence(learner: Learner, standard: Standard) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for rating in counted_ratings(
        learner_ids=[learner.pk], standard_ids=[standard.pk]
    ).select_related("evidence"):
        item = rating.evidence
        if item.pk in seen:
            continue
        seen[item.pk] = {
            "id": _site(reverse("evidence:detail", args=[item.pk])),
            "type": ["Evidence"],
            "name": item.title,
            "genre": item.get_kind_display(),
        }
    return list(seen.values())[-MAX_EVIDENCE:]


def build_credential(
    *, credential_id: uuid.UUID, learner: Learner, standard: Standard, record: MasteryRecord
) -> dict[str, Any]:
    """The ``AchievementCredential`` (without proof: the VC-JWT is the proof)."""
    issued = record.first_mastered_at or record.computed_at or timezone.now()
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"urn:uuid:{credential_id}",
        "type": ["VerifiableCredential", "AchievementCredential"],
        "name": f"{standard.human_code or standard.identifier}: mastered",
        "issuer": issuer_profile(learner.school),
        "validFrom": _iso(issued),
        "credentialSubject": {
            "id": _subject_id(learner),
            "type": ["AchievementSubject"],
            "achievement": _achievement(standard),
            "identifier": [_name_identity(learner)],
        },
        "evidence": _evidence(learner, standard),
    }


def _name_identity(learner: Learner) -> dict[str, Any]:
    """The learner's name, hashed with a salt (Open Badges' ``IdentityObject``): whoever the
    learner shows the credential to can check it is theirs, nobody else can read it."""
    salt = hashlib.sha256(f"{settings.SECRET_KEY}:salt:{learner.pk}".encode()).hexdigest()[:16]
    name = f"{learner.given_name} {learner.family_name}".strip().lower()
    return {
        "type": "IdentityObject",
        "hashed": True,
        "identityHash": "sha256$" + hashlib.sha256((name + salt).encode()).hexdigest(),
        "identityType": "name",
        "salt": salt,
    }


def _jwt_claims(credential: dict[str, Any], issued: datetime.datetime) -> dict[str, Any]:
    return {
        **credential,
        "iss": credential["issuer"]["id"],
        "jti": credential["id"],
        "sub": credential["credentialSubject"]["id"],
        "nbf": int(issued.timestamp()),
        "iat": int(timezone.now().timestamp()),
    }


def mastered_record(learner: Learner, standard: Standard) -> MasteryRecord | None:
    return MasteryRecord.objects.filter(
        learner_id=learner.pk, standard_id=standard.pk, mastered=True
    ).first()


def mastered_standards(learner: Learner) -> list[tuple[Standard, MasteryRecord]]:
    """The assessable standards the learner has mastered, with their records, by code."""
    records = MasteryRecord.objects.filter(
        learner_id=learner.pk, mastered=True, standard__is_grouping=False
    ).select_related("standard", "standard__framework")
    return sorted(
        ((record.standard, record) for record in records),
        key=lambda pair: (pair[0].human_code, pair[0].pk),
    )


def issue_credential(*, actor: AnyUser, learner: Learner, standard: Standard) -> Credential:
    """The learner's credential for a mastered standard: issued and signed by the school's badge
    key the first time, the same one afterwards. Anyone who may see the learner may fetch it
    (``PermissionDenied`` otherwise); ``ValidationError`` when the standard is not mastered."""
    if not visible_learners(actor).filter(pk=learner.pk).exists():
        raise PermissionDenied("Not your learner.")
    existing = Credential.objects.filter(learner_id=learner.pk, standard_id=standard.pk).first()
    if existing is not None:
        return existing
    record = mastered_record(learner, standard)
    if record is None:
        raise ValidationError({"standard": "This standard is not mastered yet."})
    school = Organisation.objects.get(pk=learner.school_id)
    learner.school = school
    credential_id = uuid.uuid4()
    credential = build_credential(
        credential_id=credential_id, learner=learner, standard=standard, record=record
    )
    key = signing_key_for(purpose=KeyPurpose.BADGE, organisation=school)
    issued = record.first_mastered_at or timezone.now()
    token = keys.sign_jwt(key, _jwt_claims(credential, issued), header={"typ": "JWT"})
    try:
        with transaction.atomic():
            return Credential.objects.create(
                learner=learner,
                standard=standard,
                issuer=school,
                uuid=credential_id,
                credential=credential,
                jwt=token,
                kid=key.kid,
            )
    except IntegrityError:  # issued by a concurrent request: that one stands
        return Credential.objects.get(learner_id=learner.pk, standard_id=standard.pk)


def verify_credential(token: str, key_set: dict[str, Any]) -> dict[str, Any]:
    """The credential's claims when its VC-JWT signature verifies with a key of ``key_set`` (a
    JWK set as published at ``/.well-known/jwks.json``); ``CredentialInvalid`` otherwise.
    Offline: nothing is fetched."""
    try:
        keys_ = KeySet.import_key_set(key_set)  # type: ignore[arg-type]
        decoded = jwt.decode(token.strip(), keys_, algorithms=ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise CredentialInvalid(f"The credential does not verify: {exc}") from exc
    claims = dict(decoded.claims)
    if claims.get("iss") != (claims.get("issuer") or {}).get("id"):
        raise CredentialInvalid("The credential's issuer does not match its signer.")
    return claims
