"""OneRoster ``demographics.csv``: kept only where an administrator turned it on.

The equity audit counts learners by subgroup where the roster carries them. A row is stored
(``LearnerDemographics``: sex and the race and ethnicity flags, nothing else) only for a
student whose school is at or below an organisation with a ``DemographicsImport``; every other
row is validated the same way and counted as skipped, never stored (data minimisation).
``status=tobedeleted`` removes a learner's stored row. Values are checked like every roster
value: ``sex`` one of female, male, other, unspecified (any case, blank allowed); each flag
true, false or blank; a bad value refuses the roster with its row and column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from django.db.models import Q
from django.utils import timezone

from learners.models import (
    DemographicsImport,
    Learner,
    LearnerDemographics,
    Organisation,
    OrganisationKind,
    Sex,
)
from learners.oneroster.base import EntityCounts
from learners.oneroster.records import Roster, Row

# OneRoster column -> LearnerDemographics field.
FLAGS: Final = {
    "americanIndianOrAlaskaNative": "american_indian_or_alaska_native",
    "asian": "asian",
    "blackOrAfricanAmerican": "black_or_african_american",
    "nativeHawaiianOrOtherPacificIslander": "native_hawaiian_or_other_pacific_islander",
    "white": "white",
    "demographicRaceTwoOrMoreRaces": "two_or_more_races",
    "hispanicOrLatinoEthnicity": "hispanic_or_latino",
}


def values_of(row: Row) -> dict[str, Any]:
    """The row's stored fields, with a problem on the row for each bad value."""
    values: dict[str, Any] = {
        "sex": row.choice("sex", Sex.values, required=False),
    }
    for column, name in FLAGS.items():
        text = row.values.get(column, "").strip().lower()
        if text not in {"true", "false", ""}:
            row.error(column, f"{row.values.get(column, '').strip()!r} is not true or false.")
            text = ""
        values[name] = None if not text else text == "true"
    return values


def covered_schools() -> set[int]:
    """Schools at or below an organisation whose administrators turned demographics on."""
    chosen = DemographicsImport.objects.values("organisation_id")
    return set(
        Organisation.objects.filter(
            Q(pk__in=chosen) | Q(parent_id__in=chosen) | Q(parent__parent_id__in=chosen),
            kind=OrganisationKind.SCHOOL,
        ).values_list("pk", flat=True)
    )


def apply_demographics(
    roster: Roster, learner_ids: Mapping[str, int], counts: dict[str, EntityCounts]
) -> None:
    """Store (or remove) the demographics of the roster's learners at covered schools; every
    other row is skipped. Call inside the import's transaction, after the learners are written."""
    rows = {row.values.get("sourcedId", "").strip(): row for row in roster.demographics}
    ids = {sid: learner_ids[sid] for sid in rows if sid in learner_ids}
    school_of = dict(Learner.objects.filter(pk__in=ids.values()).values_list("pk", "school_id"))
    covered = covered_schools() if ids else set()
    wanted: dict[int, dict[str, Any]] = {}
    removed: set[int] = set()
    skipped = 0
    for sid, row in rows.items():
        learner_id = ids.get(sid)
        if learner_id is None or school_of.get(learner_id) not in covered:
            skipped += 1
        elif row.values.get("status", "").strip().lower() == "tobedeleted":
            removed.add(learner_id)
        else:
            wanted[learner_id] = values_of(row)
    existing = {
        item.learner_id: item
        for item in LearnerDemographics.objects.filter(learner_id__in=set(wanted) | removed)
    }
    result = EntityCounts(skipped=skipped + len(roster.demographics) - len(rows))
    now = timezone.now()
    to_create, to_update = [], []
    for learner_id, values in wanted.items():
        item = existing.get(learner_id)
        if item is None:
            to_create.append(LearnerDemographics(learner_id=learner_id, **values))
        elif any(getattr(item, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(item, name, value)
            item.updated_at = now
            to_update.append(item)
        else:
            result.unchanged += 1
    LearnerDemographics.objects.bulk_create(to_create, batch_size=1000)
    LearnerDemographics.objects.bulk_update(
        to_update, ["sex", *FLAGS.values(), "updated_at"], batch_size=1000
    )
    gone = [existing[pk].pk for pk in removed if pk in existing]
    LearnerDemographics.objects.filter(pk__in=gone).delete()
    result.created, result.updated, result.deleted = len(to_create), len(to_update), len(gone)
    counts["demographics"] = result
