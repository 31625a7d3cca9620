"""Ed-Fi Data Standard 5.0 shapes of the state export: what a state's Ed-Fi ODS/API loads.

The state export's Ed-Fi formats carry, per learner and required standard, a
``StudentCompetencyObjective`` record, and before them the records those reference: the
``CompetencyLevelDescriptor`` and ``GradingPeriodDescriptor`` values used, one
``GradingPeriod`` per school for the term, and one ``CompetencyObjective`` per school, grade and
standard. Tests hold every record against the DS 5.0 definitions (../shared/data/specs/ed-fi).

- Identifiers are Ed-Fi's integers: a school's numeric external id (NCES or state id), else
  ours. The competency objective is the standard's CASE identifier as our CASE export writes it
  (a UUID: Ed-Fi allows 60 characters), its human code as ``competencyObjectiveId``.
- Levels map to the state's ``CompetencyLevelDescriptor`` values: by the level's label
  (``ED_FI_COMPETENCY_LEVELS``, Ed-Fi's defaults out of the box: Advanced, Proficient, and
  Developing -> Basic, Beginning -> Below Basic), else by whether the learner mastered it
  (Proficient / Basic). Rows without a level (not assessed, insufficient evidence) have no
  descriptor: they are left out and counted in the report's summary.
- ``json``: one object with the companion records and ``studentCompetencyObjectives``;
  ``ndjson``: one record per line, ``{"resource": ..., "record": {...}}``, companions first,
  for bulk loaders that post record by record.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings

from learners.models import Term
from standards.exporters import mint_identifier

ED_FI: Final = "uri://ed-fi.org/"
LEVEL_NAMESPACE: Final = ED_FI + "CompetencyLevelDescriptor"
PERIOD_NAMESPACE: Final = ED_FI + "GradingPeriodDescriptor"
GRADE_NAMESPACE: Final = ED_FI + "GradeLevelDescriptor"
# Our default scale's labels to Ed-Fi's default CompetencyLevelDescriptor code values.
DEFAULT_LEVELS: Final = {
    "advanced": "Advanced",
    "proficient": "Proficient",
    "developing": "Basic",
    "beginning": "Below Basic",
}
MASTERED_FALLBACK: Final = ("Proficient", "Basic")  # (mastered, not yet) for other labels
RESOURCES: Final = {
    "level": "competencyLevelDescriptors",
    "period_descriptor": "gradingPeriodDescriptors",
    "period": "gradingPeriods",
    "objective": "competencyObjectives",
    "student": "studentCompetencyObjectives",
}


def level_map() -> dict[str, str]:
    """Label (lower case) -> descriptor code value: the setting over Ed-Fi's defaults."""
    configured = getattr(settings, "ED_FI_COMPETENCY_LEVELS", {}) or {}
    return {**DEFAULT_LEVELS, **{k.strip().lower(): v for k, v in configured.items()}}


def level_namespace() -> str:
    return str(getattr(settings, "ED_FI_LEVEL_NAMESPACE", "") or LEVEL_NAMESPACE)


def level_code(label: str, mastered: bool, levels: dict[str, str]) -> str:
    if label.strip().lower() in levels:
        return levels[label.strip().lower()]
    return MASTERED_FALLBACK[0] if mastered else MASTERED_FALLBACK[1]


def descriptor(namespace: str, code: str) -> str:
    return f"{namespace}#{code}"


def school_id(code: str, pk: int) -> int:
    """Ed-Fi's integer school id: the numeric external id (leading zeros do not survive an
    integer: Ed-Fi keeps NCES ids as numbers too), else ours."""
    return int(code) if code.isdigit() and len(code) <= 18 else pk


def school_year(term: Term) -> int:
    return term.school_year or term.end_date.year


def period_code(term: Term) -> str:
    """The term's GradingPeriodDescriptor code (``ED_FI_GRADING_PERIOD`` wins): semesters by
    the month they start, anything else the end of the year."""
    configured = getattr(settings, "ED_FI_GRADING_PERIOD", "")
    if configured:
        return str(configured)
    if term.kind == "semester":
        return "First Semester" if term.start_date.month >= 7 else "Second Semester"
    return "End of Year"


def instructional_days(begin: datetime.date, end: datetime.date) -> int:
    """Weekdays from begin to end (a school calendar would say better; Ed-Fi requires one)."""
    days = (end - begin).days + 1
    weeks, rest = divmod(max(days, 0), 7)
    extra = sum(1 for offset in range(rest) if (begin.weekday() + offset) % 7 < 5)
    return weeks * 5 + extra


def grading_period_reference(term: Term, school: int) -> dict[str, Any]:
    return {
        "gradingPeriodDescriptor": descriptor(PERIOD_NAMESPACE, period_code(term)),
        "gradingPeriodName": term.title[:60],
        "schoolId": school,
        "schoolYear": school_year(term),
    }


def grading_period(term: Term, school: int) -> dict[str, Any]:
    return {
        "gradingPeriodDescriptor": descriptor(PERIOD_NAMESPACE, period_code(term)),
        "gradingPeriodName": term.title[:60],
        "schoolReference": {"schoolId": school},
        "schoolYearTypeReference": {"schoolYear": school_year(term)},
        "beginDate": term.start_date.isoformat(),
        "endDate": term.end_date.isoformat(),
        "periodSequence": 1,
        "totalInstructionalDays": instructional_days(term.start_date, term.end_date),
    }


def objective(identifier: str) -> str:
    return mint_identifier(identifier)


def competency_objective(
    *, identifier: str, human_code: str, statement: str, grade: str, school: int
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "objective": objective(identifier),
        "objectiveGradeLevelDescriptor": descriptor(GRADE_NAMESPACE, grade),
        "educationOrganizationReference": {"educationOrganizationId": school},
    }
    if human_code:
        record["competencyObjectiveId"] = human_code[:60]
    if statement.strip():
        record["description"] = statement.strip()[:1024]
    return record


def descriptor_record(namespace: str, code: str) -> dict[str, Any]:
    return {
        "codeValue": code,
        "shortDescription": code,
        "description": code,
        "namespace": namespace,
    }


@dataclass
class Companions:
    """The records the student records reference, gathered before they are written."""

    levels: list[str]
    period: str
    periods: list[dict[str, Any]]
    objectives: list[dict[str, Any]]

    def records(self) -> Iterable[tuple[str, dict[str, Any]]]:
        namespace = level_namespace()
        for code in self.levels:
            yield RESOURCES["level"], descriptor_record(namespace, code)
        yield RESOURCES["period_descriptor"], descriptor_record(PERIOD_NAMESPACE, self.period)
        for period in self.periods:
            yield RESOURCES["period"], period
        for record in self.objectives:
            yield RESOURCES["objective"], record

    def json_header(self) -> str:
        """The start of the ``json`` format's object, up to the student records' array."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for resource, record in self.records():
            grouped.setdefault(resource, []).append(record)
        head = json.dumps(grouped, ensure_ascii=False, separators=(",", ":"))
        return head[:-1] + ',"' + RESOURCES["student"] + '":[\n'

    def ndjson_header(self) -> str:
        return "".join(ndjson_line(resource, record) + "\n" for resource, record in self.records())


def ndjson_line(resource: str, record: dict[str, Any]) -> str:
    return json.dumps({"resource": resource, "record": record}, ensure_ascii=False)


def ndjson_prefix() -> str:
    """What goes before a student record on its NDJSON line."""
    return '{"resource":"' + RESOURCES["student"] + '","record":'
