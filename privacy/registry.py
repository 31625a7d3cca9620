"""The registry of personal data: every table that holds rows about one learner.

Each entry names a model and the ORM path from its rows to the learner's id. The export reads
exactly these rows, the erasure deletes exactly these rows, and the request audit resolves the
learner of an object through the same paths. A test walks every model of the project and fails
when a model with a relation to ``learners.Learner`` (direct, or through a registered model) is
missing here, so a new table of learner data cannot be forgotten.

Files: ``evidence.Artifact.storage_name`` (under ``MEDIA_ROOT/artifacts/``) and
``reports.ReportRequest.file_name`` (under ``REPORTS_ROOT``) name files on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import F, QuerySet


@dataclass(frozen=True)
class PersonalData:
    """One model holding learner data. ``learner_path`` leads from a row to the learner's id;
    ``exported_fields`` (when set) limits what the export shows of a row."""

    model: str
    learner_path: str
    exported_fields: tuple[str, ...] | None = None

    @property
    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    def rows_of(self, learner_id: int) -> QuerySet[Any]:
        """The rows of this model about the learner (a lazy queryset)."""
        return self.model_class._default_manager.filter(**{self.learner_path: learner_id})

    def learner_ids_sql(self, pks: list[int]) -> tuple[str, tuple[Any, ...]]:
        """SQL (and its parameters) selecting ``learner_ref``: the learner of each of ``pks``
        (at least one). The request audit asks on every page: the ORM composes the text once per
        model and number of ids, and the ids are its parameters, in order."""
        ids = tuple(dict.fromkeys(pks))
        return _learner_ids_sql(self.model, self.learner_path, len(ids)), ids


@functools.lru_cache(maxsize=1024)
def _learner_ids_sql(model: str, learner_path: str, count: int) -> str:
    stand_ins = tuple(range(1, count + 1))
    query = (
        apps.get_model(model)
        ._default_manager.filter(pk__in=stand_ins)
        .order_by()
        .values(learner_ref=F(learner_path))
    )
    sql: str
    sql, params = query.query.sql_with_params()
    if tuple(params) != stand_ins:  # the text must take exactly the ids, in order
        raise RuntimeError(f"{model}: unexpected parameters in {sql!r}")
    return sql


REGISTRY: tuple[PersonalData, ...] = (
    PersonalData("learners.Learner", "pk"),
    PersonalData("learners.Enrollment", "learner_id"),
    PersonalData("learners.GuardianLink", "learner_id"),
    PersonalData("learners.LearnerProfile", "learner_id"),
    PersonalData("common.RowVersion", "learner_id"),
    # Subgroups from OneRoster demographics.csv, kept only where an administrator turned it on.
    PersonalData("learners.LearnerDemographics", "learner_id"),
    PersonalData("standards.ElectiveChoice", "learner_id"),
    PersonalData("evidence.Evidence", "learner_id"),
    PersonalData("evidence.EvidenceStatusChange", "evidence__learner_id"),
    PersonalData("evidence.EvidenceRemoval", "evidence__learner_id"),
    PersonalData("evidence.Artifact", "evidence__learner_id"),
    PersonalData("evidence.Reflection", "evidence__learner_id"),
    PersonalData("evidence.Rating", "learner_id"),
    PersonalData("evidence.RatingRemoval", "rating__learner_id"),
    # Moderation: a sampled piece names the learner; its second ratings hang off it (listed
    # after it, so the erasure deletes them first); evidence recorded from a common task.
    PersonalData("moderation.ModerationItem", "learner_id"),
    PersonalData("moderation.ModerationRating", "item__learner_id"),
    PersonalData("moderation.CommonTaskEvidence", "evidence__learner_id"),
    PersonalData("mastery.MasteryRecord", "learner_id"),
    PersonalData("mastery.MasteryEvent", "learner_id"),
    PersonalData("mastery.StaleMastery", "learner_id"),
    PersonalData("mastery.MasteryOverride", "learner_id"),
    PersonalData("reports.ReportRequest", "learner_id"),
    PersonalData("audit.AuditEntry", "learner_id"),
    PersonalData("audit.Disclosure", "learner_id"),
    PersonalData("notifications.Notification", "learner_id"),
    PersonalData("badges.Credential", "learner_id"),
    PersonalData("portal.Goal", "learner_id"),
    PersonalData("notifications.DigestSubscription", "learner_id"),
    # The student's own choices (language, what they receive), through their login.
    PersonalData("notifications.Preference", "user__learner"),
)

# The student's login is personal data too: exported without its password hash, deleted by the
# erasure with everything that hangs off it (tokens, sessions, login attempts).
USER_EXPORTED_FIELDS = (
    "id",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "date_joined",
    "last_login",
)

BY_MODEL: dict[str, PersonalData] = {entry.model: entry for entry in REGISTRY}


def entry_for(model: type[models.Model]) -> PersonalData | None:
    """The registry entry of a model class (``None``: the model holds no learner data)."""
    return BY_MODEL.get(model._meta.label)


def entries() -> Iterator[PersonalData]:
    yield from REGISTRY
