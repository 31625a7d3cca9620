"""The learner mastery transcript (PDF): one learner's standards by domain, as of a day.

For families and the learner's portfolio: each standard the learner must master in the term
(when a term is given) or has been rated on, grouped under its domain (the nearest grouping
above it), with the level, score, the date first mastered and the evidence count; then the
most recent evidence behind them (title, kind, date, standards) and the learner's reflections
on it. Everything is as it stood at the end of the day: evidence recorded later, ratings not
yet counted and reflections written after it are left out; for a past day the learner's school
and grade, the requirements and the rules are those of that day (ADR 8).

Rendered with reportlab (pure Python: no system library) in invariant mode, so the same day
gives the same bytes. Text written by people is reduced to plain text and escaped before it
reaches reportlab's paragraph markup.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import formats, timezone, translation
from django.utils.html import strip_tags
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from evidence.models import Evidence, EvidenceRemoval, Rating, Reflection
from learners.models import Learner, Organisation, Term
from mastery import core
from mastery.core import Mastery, RulesBook, counted_ratings
from reports.plan import LearnerRow, RequirementPlan, StandardInfo, learner_rows
from standards.models import Framework

HIGHLIGHTS: Final = 8
STATE_TEXT: Final = {
    "mastered": _("Mastered"),
    "not_yet": _("Not yet"),
    "insufficient_evidence": _("Not enough evidence yet"),
    "not_assessed": _("Not assessed yet"),
}

PROMPTS: Final = {
    "what_i_learned": _("What did I learn?"),
    "how_i_got_there": _("How did I get there?"),
    "how_i_showed_it": _("How did I show it?"),
    "how_i_will_use_it": _("How will I use it?"),
}

type Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Line:
    standard: StandardInfo
    result: Mastery


@dataclass(frozen=True)
class Highlight:
    evidence: Evidence
    codes: tuple[str, ...]
    reflection: Reflection | None


@dataclass(frozen=True)
class Transcript:
    learner: Learner
    term: Term | None
    as_of: datetime.date
    domains: list[tuple[str, list[Line]]]
    highlights: list[Highlight]
    # The learner's school and grade on the day (a past day: as they stood then).
    school_name: str = ""
    grade_level: str = ""
    # Read from the records (today): how many lines wait for a recompute; None when computed.
    pending: int | None = None

    @property
    def lines(self) -> list[Line]:
        return [line for _, lines in self.domains for line in lines]


def plain(value: str) -> str:
    """Stored text (plain, or sanitised HTML) as escaped plain text for reportlab markup."""
    return html.escape(html.unescape(strip_tags(value or "")).strip())


def transcript(
    *, learner: Learner, term: Term | None, as_of: datetime.date, recorded: bool | None = None
) -> Transcript:
    """The learner's standards as of the end of ``as_of``: of today (a day not over yet) read
    from the records the workers keep (``Transcript.pending``: how many lines wait for a
    recompute), else computed as they stood; ``recorded`` chooses instead."""
    at = core.end_of_day(as_of)
    # A past day: the learner's school and grade, the requirements and the rules as they
    # stood at its end (ADR 8); a learner not yet on the roster then keeps today's place.
    then = core.stood_at(as_of)
    plan = RequirementPlan(term_id=term.pk if term is not None else 0, at=at, sets_at=then)
    row = next(iter(learner_rows([learner.pk], then)), None) or _row(learner)
    counted = counted_ratings(as_of=at, learner_ids=[learner.pk]).order_by()
    wanted: list[int] = sorted(set(counted.values_list("standard_id", flat=True)))
    if term is not None:
        required = plan.learner_requirements(row, plan.electives([row]))
        wanted = [r.standard_id for r in required] + [s for s in wanted if s not in {
            r.standard_id for r in required}]  # fmt: skip
    plan.load_standards(wanted)
    _load_ancestors(plan, wanted)
    framework_of = {sid: info.framework_id for sid, info in plan.standards.items()}
    results, pending = core.report_mastery(
        {learner.pk: wanted},
        school_of={learner.pk: row.school_id},
        framework_of=framework_of,
        children_of=plan.children_of,
        at=at,
        book=RulesBook(at=then),
        recorded=then is None if recorded is None else recorded,
    )
    lines = [Line(plan.standards[sid], results[(learner.pk, sid)]) for sid in wanted]
    school = Organisation.objects.only("name").get(pk=row.school_id)
    return Transcript(
        learner=learner,
        term=term,
        as_of=as_of,
        domains=_by_domain(lines, plan),
        highlights=_highlights(learner, at, plan),
        school_name=school.name,
        grade_level=row.grade_level,
        pending=pending,
    )


def _row(learner: Learner) -> LearnerRow:
    return LearnerRow(
        learner.pk,
        learner.school_id,
        learner.grade_level,
        learner.state_student_id,
        learner.local_id,
        learner.display_name,
        learner.family_name,
    )


def _load_ancestors(plan: RequirementPlan, ids: list[int]) -> None:
    pending = {plan.standards[i].parent_id for i in ids} - {None}
    for _step in range(10):  # standards trees are shallow; bounded anyway
        missing = [i for i in pending if i is not None and i not in plan.standards]
        if not missing:
            break
        plan.load_standards(missing)
        pending = {plan.standards[i].parent_id for i in missing} - {None}


def _domain_of(info: StandardInfo, plan: RequirementPlan) -> StandardInfo | None:
    parent = plan.standards.get(info.parent_id) if info.parent_id is not None else None
    return parent if parent is not None and parent.is_grouping else None


def _by_domain(lines: list[Line], plan: RequirementPlan) -> list[tuple[str, list[Line]]]:
    titles = dict(
        Framework.objects.filter(pk__in={line.standard.framework_id for line in lines}).values_list(
            "pk", "title"
        )
    )
    groups: dict[tuple[object, ...], tuple[str, list[Line]]] = {}
    for line in lines:
        domain = _domain_of(line.standard, plan)
        if domain is None:
            key: tuple[object, ...] = (1, titles.get(line.standard.framework_id, ""), 0)
            heading = titles.get(line.standard.framework_id, "Standards")
        else:
            key = (0, domain.human_code, domain.id)
            heading = f"{domain.human_code} {domain.statement}".strip()
        groups.setdefault(key, (heading, []))[1].append(line)
    ordered = []
    for key in sorted(groups, key=lambda k: tuple(str(part) for part in k)):
        heading, items = groups[key]
        items.sort(key=lambda line: (line.standard.human_code, line.standard.id))
        ordered.append((heading, items))
    return ordered


def _highlights(learner: Learner, at: datetime.datetime, plan: RequirementPlan) -> list[Highlight]:
    removed = EvidenceRemoval.objects.filter(evidence_id=OuterRef("pk"), removed_at__lte=at)
    evidence = list(
        Evidence.objects.filter(learner_id=learner.pk, recorded_at__lte=at)
        .filter(~Exists(removed))
        .filter(
            Exists(
                Rating.objects.filter(evidence_id=OuterRef("pk"), recorded_at__lte=at).exclude(
                    source="self"
                )
            )
        )
        .order_by("-demonstrated_at", "-recorded_at", "-id")[:HIGHLIGHTS]
    )
    ids = [item.pk for item in evidence]
    codes: dict[int, set[str]] = {}
    ratings = (
        Rating.objects.filter(evidence_id__in=ids, recorded_at__lte=at)
        .exclude(source="self")
        .values_list("evidence_id", "standard__human_code")
    )
    for evidence_id, code in ratings:
        codes.setdefault(evidence_id, set()).add(code)
    reflections: dict[int, Reflection] = {}
    for reflection in Reflection.objects.filter(evidence_id__in=ids, created_at__lte=at).order_by(
        "created_at", "id"
    ):
        reflections[reflection.evidence_id] = reflection  # the latest one by the day wins
    return [
        Highlight(item, tuple(sorted(codes.get(item.pk, ()))), reflections.get(item.pk))
        for item in evidence
    ]


def write_transcript(
    *,
    learner: Learner,
    term: Term | None,
    as_of: datetime.date,
    path: Path,
    progress: Progress | None = None,
    language: str = "",
    summary: dict[str, int] | None = None,
    recorded: bool | None = None,
) -> int:
    """Write the PDF to ``path`` in ``language`` (English or Spanish; the standards' codes and
    statements stay as published); return the number of standard lines. A transcript of today
    says on the page how many of its lines are still being recomputed, if any (and
    ``summary`` gets ``pending_recomputes``)."""
    data = transcript(learner=learner, term=term, as_of=as_of, recorded=recorded)
    if summary is not None and data.pending is not None:
        summary["pending_recomputes"] = data.pending
    with translation.override(language or settings.LANGUAGE_CODE):
        _render(data, path)
    if progress is not None:
        progress(len(data.lines), len(data.lines))
    return len(data.lines)


def _render(data: Transcript, path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    body, small = styles["BodyText"], styles["BodyText"].clone("small", fontSize=8, leading=10)
    learner = data.learner
    document = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        invariant=1,
        title="Mastery transcript",
        author="Mastery tracking platform",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
    )

    def day(value: datetime.date) -> str:
        return plain(str(formats.date_format(value, "DATE_FORMAT", use_l10n=True)))

    story: list[Any] = [
        Paragraph(plain(gettext("Mastery transcript")), styles["Title"]),
        Paragraph(
            f"<b>{plain(learner.display_name)}</b> &middot; {plain(data.school_name)}"
            + " &middot; "
            + plain(gettext("grade %(grade)s") % {"grade": data.grade_level or "-"}),
            body,
        ),
        Paragraph(
            plain(
                gettext("As of %(day)s") % {"day": formats.date_format(data.as_of, "DATE_FORMAT")}
            )
            + (
                " &middot; " + plain(gettext("term %(title)s") % {"title": data.term.title})
                if data.term is not None
                else ""
            ),
            body,
        ),
    ]
    lines = data.lines
    mastered = sum(1 for line in lines if line.result.mastered)
    summary = gettext("%(mastered)s of %(total)s standards mastered.") % {
        "mastered": mastered,
        "total": len(lines),
    }
    story.append(Paragraph(plain(summary), body))
    if data.pending:
        # Read from the records of today: say which figures may still move (none: nothing).
        story.append(
            Paragraph(
                plain(
                    ngettext(
                        "%(count)s of these figures is still being recomputed from new "
                        "evidence: download the transcript again later for the final figures.",
                        "%(count)s of these figures are still being recomputed from new "
                        "evidence: download the transcript again later for the final figures.",
                        data.pending,
                    )
                    % {"count": data.pending}
                ),
                body,
            )
        )
    story.append(Spacer(1, 4 * mm))
    header = [
        gettext("Standard"),
        gettext("State"),
        gettext("Level"),
        gettext("Score"),
        gettext("First mastered"),
        gettext("Evidence"),
    ]
    # A code never breaks inside a word: it sits on its own line above the statement, in a
    # column wide enough for the longest codes of the published frameworks.
    code_style = small.clone("code", fontName="Helvetica-Bold", splitLongWords=0)
    for heading, items in data.domains:
        story.append(Paragraph(plain(heading), styles["Heading3"]))
        rows: list[list[Any]] = [header]
        for line in items:
            result = line.result
            rows.append(
                [
                    [
                        Paragraph(plain(line.standard.human_code), code_style),
                        Paragraph(plain(line.standard.statement), small),
                    ],
                    Paragraph(plain(str(STATE_TEXT[result.state])), small),
                    Paragraph(plain(result.level), small),
                    result.score,
                    day(result.first_mastered) if result.first_mastered else "",
                    str(result.evidence_count),
                ]
            )
        table = Table(rows, colWidths=[84 * mm, 24 * mm, 22 * mm, 12 * mm, 24 * mm, 14 * mm])
        table.setStyle(
            TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                    ("GRID", (0, 1), (-1, -1), 0.25, colors.grey),
                ]
            )
        )
        story += [table, Spacer(1, 3 * mm)]
    if data.highlights:
        story.append(Paragraph(plain(gettext("Evidence highlights")), styles["Heading2"]))
    for item in data.highlights:
        evidence = item.evidence
        story.append(
            Paragraph(
                f"<b>{plain(evidence.title)}</b> &middot; {plain(evidence.get_kind_display())}"
                f" &middot; {day(timezone.localtime(evidence.demonstrated_at).date())}"
                f" &middot; {plain(', '.join(item.codes))}",
                body,
            )
        )
        if item.reflection is not None:
            for name in Reflection.PROMPTS:
                answer = plain(getattr(item.reflection, name))
                if answer:
                    prompt = PROMPTS[name]
                    story.append(Paragraph(f"<i>{plain(str(prompt))}</i> {answer}", small))
    document.build(story)
