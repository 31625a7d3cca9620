"""Forms of the learners pages: the learner profile and the roster upload."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from learners.services import PROFILE_MAX_CHARS

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _answer(label: StrOrPromise, help_text: StrOrPromise) -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=False,
        max_length=PROFILE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class LearnerProfileForm(forms.Form):
    # Lazy: the labels are read in the language of each request.
    strengths = _answer(_("My strengths"), _("What am I good at?"))
    interests = _answer(_("My interests"), _("What do I enjoy, in school and out of it?"))
    how_i_learn_best = _answer(_("How I learn best"), _("What helps me learn?"))
    goals = _answer(_("My goals"), _("What do I want to get better at next?"))


class RosterUploadForm(forms.Form):
    roster = forms.FileField(
        label="OneRoster 1.1 CSV roster (zip)",
        help_text=(
            "A zip of orgs.csv, academicSessions.csv, courses.csv, classes.csv, users.csv and "
            "enrollments.csv (demographics.csv optional)."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )

    dry_run = forms.BooleanField(
        label="Only check it (write nothing)",
        required=False,
        help_text="Shows what the import would create, update, skip and deactivate.",
    )

    def clean_roster(self) -> object:
        upload = self.cleaned_data["roster"]
        limit = int(settings.UPLOAD_MAX_BYTES)
        if upload.size > limit:
            raise forms.ValidationError(f"The file is larger than {limit:,} bytes.")
        return upload
