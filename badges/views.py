"""Pages of the badges app: a learner's credentials, one credential's download, the issuer."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from badges import services
from learners.models import Organisation
from learners.selectors import get_visible_learner_or_404
from standards.models import Standard


@never_cache
@login_required
@require_GET
def learner_credentials(request: HttpRequest, learner_pk: int) -> HttpResponse:
    """The learner's mastered standards, each downloadable as an Open Badges credential."""
    learner = get_visible_learner_or_404(request.user, learner_pk)
    context = {"learner": learner, "mastered": services.mastered_standards(learner)}
    return render(request, "badges/credentials.html", context)


@never_cache
@login_required
@require_GET
def download_credential(request: HttpRequest, learner_pk: int, standard_pk: int) -> HttpResponse:
    """The signed credential (VC-JWT) as a file to keep: issued on first download."""
    learner = get_visible_learner_or_404(request.user, learner_pk)
    standard = get_object_or_404(Standard, pk=standard_pk)
    try:
        credential = services.issue_credential(
            actor=request.user, learner=learner, standard=standard
        )
    except ValidationError as exc:
        raise Http404("Not mastered.") from exc
    response = HttpResponse(credential.jwt, content_type=services.MEDIA_TYPE)
    code = "".join(c if c.isalnum() or c in ".-" else "_" for c in standard.human_code)
    response["Content-Disposition"] = f'attachment; filename="mastered-{code or standard.pk}.jwt"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def issuer(request: HttpRequest, organisation_pk: int) -> JsonResponse:
    """The issuing school's Open Badges profile (public: a verifier reads it)."""
    organisation = get_object_or_404(Organisation, pk=organisation_pk)
    response = JsonResponse(
        {
            "@context": [services.VC_CONTEXT, services.OB_CONTEXT],
            **services.issuer_profile(organisation),
        }
    )
    patch_cache_control(response, public=True, max_age=3600)
    return response
