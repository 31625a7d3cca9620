"""Pages and endpoints of the identity app: the published key set, the sign-in page with its
single sign-on buttons, the OpenID Connect round trip and the refusal page."""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from identity import keys, oidc, selectors, signin
from identity.models import IdentityProvider

logger = logging.getLogger(__name__)

# Verifiers (LTI platforms, badge verifiers) fetch the set often; a rotation shows within this.
JWKS_MAX_AGE: Final = 300
PENDING_KEY: Final = "identity.oidc.pending"
PENDING_MAX: Final = 5  # sign-ins started in other tabs and not finished
PENDING_SECONDS: Final = 600

REFUSALS: Final[dict[str, tuple[str, str, int]]] = {
    "unknown": (
        "We could not find you",
        "Your school account signed in, but this school's roster has nobody with it. Ask your "
        "school office to check the roster; we never create accounts from a sign-in.",
        403,
    ),
    "deactivated": (
        "This account is turned off",
        "Your school has turned this account off. If that is a mistake, ask your school office.",
        403,
    ),
    "ambiguous": (
        "We could not tell who you are",
        "More than one person in the roster has this school account. Ask your school office to "
        "correct the roster.",
        403,
    ),
    "expired": (
        "This sign-in expired",
        "The sign-in took too long or was already used. Start again from the sign-in page.",
        400,
    ),
    "provider": (
        "Sign-in did not complete",
        "Your school's sign-in service did not confirm who you are. Start again; if it keeps "
        "happening, tell your school office.",
        400,
    ),
    "unavailable": (
        "Sign-in is not available right now",
        "We could not reach your school's sign-in service. Try again in a few minutes, or use "
        "a username and password if your school gave you one.",
        502,
    ),
}


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Our public keys (RFC 7517 JWK set): every active and retired key, no revoked one."""
    response = JsonResponse(keys.key_set(selectors.published_signing_keys()))
    patch_cache_control(response, public=True, max_age=JWKS_MAX_AGE)
    return response


class SignInView(auth_views.LoginView):
    """Django's sign-in form, with a button for each school's single sign-on."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["providers"] = list(selectors.sign_in_providers())
        return context


def refuse(reason: str) -> HttpResponse:
    """Sends the browser to the refusal page: the callback's address (with its code and
    state) leaves the address bar, the history and the request logs of the 4xx answer."""
    return HttpResponseRedirect(reverse("identity:refused", args=[reason]))


@require_GET
def refused(request: HttpRequest, reason: str) -> HttpResponse:
    """The page that says plainly why nobody was signed in."""
    if reason == signin.LOCKED:
        return render(request, settings.AXES_LOCKOUT_TEMPLATE, {}, status=429)
    if reason not in REFUSALS:
        raise Http404("no such refusal")
    title, message, status = REFUSALS[reason]
    context = {"title": title, "message": message}
    return render(request, "identity/refused.html", context, status=status)


def _safe_next(request: HttpRequest, candidate: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _callback_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(resolve_url("identity:sso_callback"))


@require_GET
def sso_start(request: HttpRequest, provider_id: int) -> HttpResponse:
    """Sends the browser to the provider with a fresh state, nonce and PKCE challenge."""
    provider = get_object_or_404(IdentityProvider, pk=provider_id, enabled=True)
    try:
        url, pending = oidc.start(
            provider,
            redirect_uri=_callback_uri(request),
            next_url=_safe_next(request, request.GET.get("next", "")),
            now=int(time.time()),
        )
    except oidc.SignInFailed:
        return refuse("unavailable")
    started = dict(request.session.get(PENDING_KEY, {}))
    started[pending.state] = pending.as_dict()
    # Keep the newest few: a tab left open does not grow the session without bound.
    newest = sorted(started.items(), key=lambda item: item[1]["started_at"])[-PENDING_MAX:]
    request.session[PENDING_KEY] = dict(newest)
    return HttpResponseRedirect(url)


@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the browser back here: check the state, exchange the code, verify
    the ID token, match the roster, sign in (or say plainly why not)."""
    started = dict(request.session.get(PENDING_KEY, {}))
    saved = started.pop(request.GET.get("state", ""), None)
    request.session[PENDING_KEY] = started  # a state is used once, whatever happens next
    if saved is None or int(time.time()) - int(saved["started_at"]) > PENDING_SECONDS:
        return refuse("expired")
    pending = oidc.Pending(**saved)
    provider = IdentityProvider.objects.filter(pk=pending.provider_id, enabled=True).first()
    code = request.GET.get("code", "")
    if provider is None or request.GET.get("error") or not code:
        return refuse("provider")
    try:
        claims = oidc.finish(provider, pending, code=code, redirect_uri=_callback_uri(request))
    except oidc.SignInFailed as failure:
        logger.info("sso refused by the protocol", extra={"provider": provider.pk,
                                                          "reason": failure.reason})  # fmt: skip
        return refuse("provider")
    identifier = claims.get(provider.claim)
    if provider.claim == "email" and claims.get("email_verified") is False:
        identifier = None  # an address the provider has not verified identifies nobody
    result = signin.sign_in(
        request,
        organisation=provider.organisation,
        match_on=provider.match_on,
        identifier=identifier,
        via="sso",
        object_type="identity.identityprovider",
        source_id=provider.pk,
    )
    if not result.ok:
        return refuse(result.outcome)
    return HttpResponseRedirect(pending.next_url)
