"""The home page panels of teachers and administrators (``common.home`` dispatches to them).

- A teacher sees their current sections, each with what needs attention: submissions to review,
  learners without evidence lately, learners with power standards not yet mastered.
- An administrator sees the set-up checklist of each organisation they administer (framework,
  scale and policy, requirements, roster) and the status of their recent reports and bulk
  recomputes.

Each panel reads in a fixed number of queries whatever the number of sections or learners
(``tests/mastery/test_home.py``). Scoping goes through ``learners.selectors``.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from django.db.models import Count, Exists, Max, OuterRef, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from common.home import HomePanel
from evidence.models import Evidence, EvidenceRemoval
from evidence.selectors import review_queue
from learners.models import (
    Enrollment,
    Learner,
    Organisation,
    OrganisationKind,
    Section,
)
from learners.selectors import (
    AnyUser,
    administered_organisations,
    current_q,
    list_roster_imports,
    taught_sections,
    today,
)
from mastery.grid import sections_priorities
from mastery.models import BulkRecompute, MasteryRecord
from mastery.selectors import BulkProgress, bulk_progress, visible_bulk_recomputes
from reports.models import ReportRequest
from reports.selectors import own_reports
from standards.models import Framework, Requirement
from standards.selectors import policy_for, scale_for

# A learner with no evidence shown in this many days needs a look.
QUIET_DAYS: Final = 14
# Names listed per section before "and N more".
NAMES_SHOWN: Final = 5
RECENT: Final = 5


# --- the teacher --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SectionAttention:
    """One current section of the teacher and what needs their attention in it."""

    section: Section
    learner_count: int
    waiting: int  # submissions waiting for a review in this section
    quiet: list[Learner]  # learners without evidence shown in the last QUIET_DAYS days
    power_standards: int  # power standards of the section
    power_open: list[Learner]  # learners with a power standard not yet mastered

    @property
    def quiet_more(self) -> int:
        return max(0, len(self.quiet) - NAMES_SHOWN)

    @property
    def power_open_more(self) -> int:
        return max(0, len(self.power_open) - NAMES_SHOWN)

    @property
    def needs_attention(self) -> bool:
        return bool(self.waiting or self.quiet or self.power_open)


@dataclass(frozen=True)
class TeacherHome:
    sections: list[SectionAttention]
    waiting_total: int
    quiet_days: int = QUIET_DAYS


def teacher_home(user: AnyUser) -> TeacherHome:
    """The teacher's current sections with what needs attention. Six queries whatever the number
    of sections and learners: the sections, their rosters, the latest evidence of each learner,
    the waiting submissions, the power standards, the mastered power standards."""
    day = today()
    sections = list(
        taught_sections(user)
        .filter(term__start_date__lte=day, term__end_date__gte=day)
        .select_related("school", "term")
        .order_by("title", "pk")
    )
    if not sections:
        return TeacherHome(sections=[], waiting_total=review_queue(user).count())
    by_id = {section.pk: section for section in sections}
    rosters: dict[int, list[Learner]] = defaultdict(list)
    enrolled = (
        Enrollment.objects.filter(current_q(), section_id__in=list(by_id))
        .select_related("learner")
        .order_by("learner__family_name", "learner__given_name", "learner_id")
    )
    learners: dict[int, Learner] = {}
    for enrollment in enrolled:
        learner = learners.setdefault(enrollment.learner_id, enrollment.learner)
        rosters[enrollment.section_id].append(learner)
    since = timezone.now() - datetime.timedelta(days=QUIET_DAYS)
    latest = dict(
        Evidence.objects.filter(learner_id__in=list(learners))
        .filter(~Exists(EvidenceRemoval.objects.filter(evidence_id=OuterRef("pk"))))
        .values_list("learner_id")
        .annotate(last=Max("demonstrated_at"))
        .values_list("learner_id", "last")
    )
    queue = review_queue(user)
    waiting = dict(
        queue.filter(section_id__in=list(by_id))
        .values_list("section_id")
        .annotate(n=Count("pk"))
        .values_list("section_id", "n")
    )
    priorities = sections_priorities(
        {section: {lr.grade_level for lr in rosters[section.pk]} for section in sections}
    )
    power = {pk: {s for s, p in found.items() if p == "power"} for pk, found in priorities.items()}
    every_power = set().union(*power.values()) if power else set()
    mastered: set[tuple[int, int]] = set()
    if every_power:
        mastered = set(
            MasteryRecord.objects.filter(
                learner_id__in=list(learners), standard_id__in=list(every_power), mastered=True
            ).values_list("learner_id", "standard_id")
        )
    out = []
    for section in sections:
        roster = rosters[section.pk]
        wanted = power.get(section.pk, set())
        out.append(
            SectionAttention(
                section=section,
                learner_count=len(roster),
                waiting=waiting.get(section.pk, 0),
                quiet=[lr for lr in roster if (latest.get(lr.pk) or since) <= since],
                power_standards=len(wanted),
                power_open=[
                    lr for lr in roster if any((lr.pk, pk) not in mastered for pk in wanted)
                ],
            )
        )
    return TeacherHome(sections=out, waiting_total=queue.count())


def teacher_panel(request: HttpRequest, roles: frozenset[str]) -> HomePanel | None:
    return HomePanel(
        title="Your sections",
        template="mastery/home/teacher.html",
        context={"home": teacher_home(request.user), "names_shown": NAMES_SHOWN},
    )


# --- the administrator --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the set-up checklist: done or not, what stands, where to change it."""

    label: str
    done: bool
    status: str
    url: str
    action: str


@dataclass(frozen=True)
class Checklist:
    organisation: Organisation
    steps: list[Step]

    @property
    def done(self) -> int:
        return sum(step.done for step in self.steps)


@dataclass(frozen=True)
class AdminHome:
    checklists: list[Checklist]
    reports: list[ReportRequest]
    recomputes: list[tuple[BulkRecompute, BulkProgress]]


def _where(organisation_id: int | None, here: Organisation, names: dict[int, str]) -> str:
    if organisation_id is None:
        return "the platform's default"
    if organisation_id == here.pk:
        return "set here"
    return f"inherited from {names.get(organisation_id, 'an organisation above')}"


def _checklist(user: AnyUser, organisation: Organisation, frameworks: int) -> Checklist:
    day = today()
    lineage = [organisation.pk, organisation.parent_id]
    if organisation.parent_id is not None and organisation.parent is not None:
        lineage.append(organisation.parent.parent_id)
    names = dict(
        Organisation.objects.filter(pk__in=[pk for pk in lineage if pk]).values_list("pk", "name")
    )
    below = administered_organisations(user).filter(
        Q(pk=organisation.pk) | Q(parent_id=organisation.pk) | Q(parent__parent_id=organisation.pk)
    )
    scale = scale_for(organisation)
    policy = policy_for(organisation)
    requirements = Requirement.objects.filter(
        Q(organisation_id__in=[pk for pk in lineage if pk]) | Q(organisation__in=below),
        term__start_date__lte=day,
        term__end_date__gte=day,
    ).count()
    learner_count = Learner.objects.filter(school__in=below, active=True).count()
    section_count = Section.objects.filter(
        school__in=below, term__start_date__lte=day, term__end_date__gte=day
    ).count()
    org = organisation.pk
    can_import = organisation.kind in (OrganisationKind.STATE, OrganisationKind.DISTRICT)
    steps = [
        Step(
            "Standards framework",
            frameworks > 0,
            f"{frameworks} framework{'s' if frameworks != 1 else ''} available"
            if frameworks
            else "No framework yet",
            reverse("standards:framework_import" if can_import else "standards:framework_list"),
            "Import a framework" if can_import else "Browse the frameworks",
        ),
        Step(
            "Proficiency scale",
            scale.organisation_id is not None,
            f"{len(scale.levels)} levels, {_where(scale.organisation_id, organisation, names)}",
            reverse("standards:scale_edit", args=[org]),
            "Review the scale",
        ),
        Step(
            "Calculation policy",
            policy.organisation_id is not None,
            f"{policy.method.replace('_', ' ')}, "
            f"{_where(policy.organisation_id, organisation, names)}",
            reverse("standards:policy_edit", args=[org]),
            "Review the policy",
        ),
        Step(
            "Requirements",
            requirements > 0,
            f"{requirements} required standard{'s' if requirements != 1 else ''} this term"
            if requirements
            else "No standard is required this term",
            reverse("standards:requirements", args=[org]),
            "Set the requirements",
        ),
        Step(
            "Roster",
            learner_count > 0 and section_count > 0,
            f"{learner_count} learner{'s' if learner_count != 1 else ''}, "
            f"{section_count} section{'s' if section_count != 1 else ''} this term",
            reverse("learners:people"),
            "Add learners and sections",
        ),
    ]
    return Checklist(organisation=organisation, steps=steps)


def admin_home(user: AnyUser) -> AdminHome:
    """The set-up checklist of the organisations the user administers at the top (at most
    three), their latest reports and the latest bulk recomputes they may see."""
    administered = administered_organisations(user)
    tops = list(
        administered.exclude(parent__in=administered)
        .select_related("parent")
        .order_by("kind", "name", "pk")[:3]
    )
    frameworks = Framework.objects.count()
    jobs = list(visible_bulk_recomputes(user).order_by("-pk")[:RECENT])
    return AdminHome(
        checklists=[_checklist(user, organisation, frameworks) for organisation in tops],
        reports=list(
            own_reports(user).select_related("organisation", "section", "learner")[:RECENT]
        ),
        recomputes=[(job, bulk_progress(job)) for job in jobs],
    )


def admin_panel(request: HttpRequest, roles: frozenset[str]) -> HomePanel | None:
    return HomePanel(
        title="Setting up and running your organisation",
        template="mastery/home/admin.html",
        context={
            "home": admin_home(request.user),
            "imports": list(list_roster_imports(request.user)[:1]),
        },
    )
