"""Pages and endpoints of the identity app: the published key set, sign-in, LTI launches."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from identity import keys, selectors

# Verifiers (LTI platforms, badge verifiers) fetch the set often; a rotation shows within this.
JWKS_MAX_AGE = 300


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Our public keys (RFC 7517 JWK set): every active and retired key, no revoked one."""
    response = JsonResponse(keys.key_set(selectors.published_signing_keys()))
    patch_cache_control(response, public=True, max_age=JWKS_MAX_AGE)
    return response
