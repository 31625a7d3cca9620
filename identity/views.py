"""Pages and endpoints of the identity app: the published key set, the sign-in page with its
single sign-on buttons, the OpenID Connect round trip and the refusal page."""

from __future__ import annotations

import logging
import time
from typing import Any, Final
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.csp import CSP
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import record_access
from identity import keys, lti, oidc, selectors, services, signin
from identity.forms import CourseLinkForm
from identity.models import IdentityProvider, LtiPlatform

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
    "launch": (
        "This launch could not be checked",
        "Your learning platform's launch could not be verified, or it was already used. Open "
        "the tool again from your course.",
        400,
    ),
    "families": (
        "Nothing to open here for families",
        "Families follow their child's mastery by signing in to this site directly with the "
        "account their school gave them.",
        403,
    ),
    "launch_role": (
        "Nothing to open for this role",
        "This tool opens for teachers, administrators and students of the course.",
        403,
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


# --- LTI 1.3 launches ---------------------------------------------------------------------------

LTI_COURSE_KEY: Final = "identity.lti.course"
LTI_DEEP_LINK_KEY: Final = "identity.lti.deep_link"


def _launch_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("identity:lti_launch"))


@csrf_exempt  # a cross-site request from the platform by design; nothing is changed here
@require_http_methods(["GET", "POST"])
def lti_login(request: HttpRequest) -> HttpResponse:
    """LTI login initiation: bind a state and nonce to this browser, go to the platform."""
    params = {key: str(value) for key, value in (request.POST or request.GET).items()}
    try:
        url, cookie = lti.start_login(params, launch_url=_launch_url(request))
    except lti.LaunchRefused as refusal:
        logger.info("lti login refused", extra={"reason": refusal.reason})
        return refuse("launch")
    response = HttpResponseRedirect(url)
    # The launch comes back as a cross-site form post: only a SameSite=None cookie returns.
    response.set_cookie(
        lti.STATE_COOKIE, cookie, max_age=lti.STATE_SECONDS, path=reverse("identity:lti_launch"),
        secure=True, httponly=True, samesite="None",
    )  # fmt: skip
    return response


@csrf_exempt  # the platform's signed ID token and our state cookie are the protection
@require_POST
def lti_launch(request: HttpRequest) -> HttpResponse:
    """The launch: verify it, sign the person in, open what their role opens here."""
    try:
        launch = lti.verify_launch(
            id_token=request.POST.get("id_token", ""),
            state=request.POST.get("state", ""),
            cookie=request.COOKIES.get(lti.STATE_COOKIE),
        )
    except lti.LaunchRefused as refusal:
        logger.info("lti launch refused", extra={"reason": refusal.reason})
        response = refuse("launch")
    else:
        response = _open_launch(request, launch)
    response.delete_cookie(lti.STATE_COOKIE, path=reverse("identity:lti_launch"), samesite="None")
    return response


def _open_launch(request: HttpRequest, launch: lti.Launch) -> HttpResponse:
    platform = launch.platform
    if launch.is_deep_linking and launch.kind not in {"teacher", "admin"}:
        return refuse("launch_role")  # only staff add the tool to a course
    if launch.kind in {"mentor", "none"}:
        # A parent (mentor) or a role we do not serve: nothing opens and nobody is signed in.
        record_access(
            actor=None, action="signin.lti", allowed=False, object_type="identity.ltiplatform",
            object_id=platform.pk, detail={"outcome": launch.kind},
        )  # fmt: skip
        return refuse("families" if launch.kind == "mentor" else "launch_role")
    result = signin.sign_in(
        request,
        organisation=platform.organisation,
        match_on=platform.match_on,
        identifier=launch.person,
        via="lti",
        object_type="identity.ltiplatform",
        source_id=platform.pk,
    )
    if not result.ok:
        return refuse(result.outcome)
    if launch.is_deep_linking:
        settings_claim = launch.claims[lti.DL_SETTINGS]
        request.session[LTI_DEEP_LINK_KEY] = {
            "platform": platform.pk,
            "deployment_id": launch.claims[lti.DEPLOYMENT_ID],
            "return_url": settings_claim["deep_link_return_url"],
            "data": settings_claim.get("data"),
            "context_id": launch.context_id,
            "title": launch.context_title,
        }
        return HttpResponseRedirect(reverse("identity:lti_deep_link"))
    if launch.kind == "learner":
        return HttpResponseRedirect(reverse("mastery:my_mastery"))
    if launch.kind == "admin":
        return HttpResponseRedirect(resolve_url(settings.LOGIN_REDIRECT_URL))
    section = selectors.section_for_course(
        platform=platform,
        context_id=launch.context_id,
        course_section_sourced_id=launch.course_section_sourced_id,
    )
    if section is not None:
        return HttpResponseRedirect(reverse("mastery:section_grid", args=[section.pk]))
    if not launch.context_id:
        return HttpResponseRedirect(resolve_url(settings.LOGIN_REDIRECT_URL))
    request.session[LTI_COURSE_KEY] = {
        "platform": platform.pk,
        "context_id": launch.context_id,
        "title": launch.context_title,
    }
    return HttpResponseRedirect(reverse("identity:lti_course_link"))


def _waiting(request: HttpRequest, key: str) -> tuple[dict[str, Any], LtiPlatform]:
    """What a launch left in the session for the next page, and its platform; 404 without."""
    saved = request.session.get(key)
    pending: dict[str, Any] = saved if isinstance(saved, dict) else {}
    platform = (
        LtiPlatform.objects.filter(pk=int(pending.get("platform") or 0))
        .select_related("organisation")
        .first()
    )
    if platform is None:
        raise Http404("no launch waiting")
    return pending, platform


@login_required
@require_http_methods(["GET", "POST"])
def lti_course_link(request: HttpRequest) -> HttpResponse:
    """Once per course: the teacher says which of their classes the platform's course is."""
    pending, platform = _waiting(request, LTI_COURSE_KEY)
    if not isinstance(request.user, User):  # login_required let only a signed-in user in
        raise Http404("no launch waiting")
    sections = selectors.linkable_sections(request.user, platform).select_related("term")
    form = CourseLinkForm(request.POST or None, sections=sections)
    if request.method == "POST" and form.is_valid():
        section = form.cleaned_data["section"]
        services.link_lti_course(
            actor=request.user, platform=platform, context_id=pending["context_id"], section=section
        )
        del request.session[LTI_COURSE_KEY]
        return HttpResponseRedirect(reverse("mastery:section_grid", args=[section.pk]))
    context = {
        "form": form,
        "course_title": pending.get("title", ""),
        "has_sections": sections.exists(),
    }
    return render(
        request, "identity/lti_course_link.html", context, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def lti_deep_link(request: HttpRequest) -> HttpResponse:
    """A teacher adding the tool to a course (Deep Linking): they say which class the course
    is (kept as the course's link, as on the linking page), and the platform gets a signed
    resource link back through a form they submit."""
    pending, platform = _waiting(request, LTI_DEEP_LINK_KEY)
    context_id = str(pending.get("context_id") or "")
    linked = selectors.section_for_course(platform=platform, context_id=context_id)
    if not isinstance(request.user, User):  # login_required let only a signed-in user in
        raise Http404("no launch waiting")
    sections = selectors.linkable_sections(request.user, platform).select_related("term")
    form = CourseLinkForm(request.POST or None, sections=sections)
    if request.method == "POST" and (linked is not None or form.is_valid()):
        section = linked or form.cleaned_data["section"]
        if linked is None and context_id:
            services.link_lti_course(
                actor=request.user, platform=platform, context_id=context_id, section=section
            )
        del request.session[LTI_DEEP_LINK_KEY]
        token = lti.deep_linking_response(
            platform=platform,
            deployment_id=str(pending["deployment_id"]),
            data=pending.get("data"),
            title=f"Mastery: {section.title}",
            text="Learners' mastery of each standard, with the evidence behind it.",
        )
        return_url = str(pending["return_url"])
        response = render(
            request, "identity/lti_deep_link_return.html",
            {"return_url": return_url, "jwt": token, "section": section},
        )  # fmt: skip
        # This one form posts to the platform: allow its origin, nothing else changes.
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(return_url))
        policy: dict[str, Any] = {**settings.SECURE_CSP, "form-action": [CSP.SELF, origin]}
        return csp_override(policy)(lambda _request: response)(request)
    context = {
        "form": form,
        "course_title": pending.get("title", ""),
        "linked": linked,
        "has_sections": sections.exists(),
    }
    return render(
        request, "identity/lti_deep_link.html", context, status=400 if form.errors else 200
    )
