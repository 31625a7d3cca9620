"""Forms of the learners pages: the learner profile and the roster upload."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from common.pickers import PickerField
from learners.models import Learner, Organisation, Section, Term
from learners.selectors import pick_learner
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


# --- people and classes (school administrators) -------------------------------------------------

GRADE_CHOICES = [("", "—")] + [
    (code, code)
    for code in (
        "IT",
        "PR",
        "PK",
        "TK",
        "KG",
        *(f"{n:02d}" for n in range(1, 14)),
        "PS",
        "UG",
        "Other",
    )
]


class SchoolChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class SectionChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} ({obj.school.name}, {obj.term.title})"


class TermChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} ({obj.start_date:%-d %b %Y} to {obj.end_date:%-d %b %Y})"


class LearnerForm(forms.Form):
    """A learner's record: on adding, the school and the sections to enroll them in."""

    school = SchoolChoiceField(queryset=Organisation.objects.none(), empty_label="Choose a school")
    given_name = forms.CharField(max_length=100)
    family_name = forms.CharField(max_length=100)
    preferred_name = forms.CharField(
        max_length=100, required=False, help_text="Shown instead of the given name."
    )
    local_id = forms.CharField(
        label="Local id", max_length=64, required=False, help_text="The school's own number."
    )
    state_student_id = forms.CharField(label="State student id", max_length=64, required=False)
    grade_level = forms.ChoiceField(label="Grade level", choices=GRADE_CHOICES, required=False)
    sections = SectionChoiceField(
        queryset=Section.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Enroll in these sections (from today)",
    )
    active = forms.BooleanField(
        required=False, initial=True, help_text="An inactive learner is kept but not listed."
    )

    def __init__(
        self,
        *args: Any,
        schools: QuerySet[Organisation],
        sections: QuerySet[Section] | None = None,
        adding: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        school = self.fields["school"]
        assert isinstance(school, forms.ModelChoiceField)
        school.queryset = schools
        if adding:
            del self.fields["active"]
            chosen = self.fields["sections"]
            assert isinstance(chosen, forms.ModelMultipleChoiceField)
            chosen.queryset = sections if sections is not None else Section.objects.none()
        else:
            del self.fields["school"]
            del self.fields["sections"]


class SectionForm(forms.Form):
    school = SchoolChoiceField(queryset=Organisation.objects.none(), empty_label="Choose a school")
    term = TermChoiceField(queryset=Term.objects.none(), empty_label="Choose a term")
    title = forms.CharField(max_length=200, help_text="e.g. Maths 5A")
    course_code = forms.CharField(max_length=64, required=False)
    section_code = forms.CharField(max_length=64, required=False)
    subject = forms.CharField(max_length=255, required=False)
    grade_levels = forms.MultipleChoiceField(
        choices=GRADE_CHOICES[1:],
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text="The grades taught.",
    )
    teachers = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Usernames of the teachers, separated by commas (on adding a section).",
    )

    def __init__(
        self,
        *args: Any,
        schools: QuerySet[Organisation],
        terms: QuerySet[Term],
        adding: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        school = self.fields["school"]
        term = self.fields["term"]
        assert isinstance(school, forms.ModelChoiceField)
        assert isinstance(term, forms.ModelChoiceField)
        school.queryset = schools
        term.queryset = terms
        if not adding:
            del self.fields["school"]
            del self.fields["teachers"]

    def clean_teachers(self) -> list[User]:
        names = [
            n for n in (self.cleaned_data.get("teachers") or "").replace(",", " ").split() if n
        ]
        users = {
            u.username.lower(): u for u in User.objects.filter(username__in=names, is_active=True)
        }
        missing = [name for name in names if name.lower() not in users]
        if missing:
            raise forms.ValidationError(f"No active login is called {', '.join(missing)}.")
        return [users[name.lower()] for name in names]


class TermForm(forms.Form):
    organisation = SchoolChoiceField(
        queryset=Organisation.objects.none(),
        empty_label="Choose an organisation",
        help_text="Whose calendar it is (usually the district).",
    )
    title = forms.CharField(max_length=200)
    start_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(
        self, *args: Any, organisations: QuerySet[Organisation], adding: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organisations
        if not adding:
            del self.fields["organisation"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "The end date is before the start date.")
        return data


class EnrollForm(forms.Form):
    learner = PickerField(
        label="Learner to enroll",
        search_url=reverse_lazy("learners:learner_search"),
        help_text="Type the learner's name or local id and choose from the list.",
    )

    def __init__(self, *args: Any, learners: QuerySet[Learner], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["learner"]
        assert isinstance(field, PickerField)
        field.resolver = partial(pick_learner, learners.select_related("school"))
