"""A learner's export holds every registered row about them and their files, nothing else."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import models

from audit.models import AuditEntry
from learners.models import Learner
from privacy import registry, services
from tests.evidence.conftest import Standards
from tests.personas import Cast
from tests.privacy.world import CANARY, fill


def _export(cast: Cast, learner: Learner) -> tuple[dict[str, object], zipfile.ZipFile]:
    buffer = io.BytesIO()
    services.export_learner_data(actor=cast.school_admin, learner=learner, out=buffer)
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    return json.loads(archive.read("learner.json")), archive


def test_the_export_holds_every_registered_row_and_file(
    cast: Cast, standards: Standards, roots: tuple[Path, Path]
) -> None:
    filled = fill(cast, cast.own, standards, roots[1])
    fill(cast, cast.same_section, standards, roots[1], tag="b")
    expected = {
        entry.model: sorted(
            str(pk) for pk in entry.rows_of(cast.own.pk).values_list("pk", flat=True)
        )
        for entry in registry.entries()
    }
    document, archive = _export(cast, cast.own)
    tables = document["tables"]
    assert isinstance(tables, dict)
    for entry in registry.entries():
        exported = [row.get("id", row.get("learner_id")) for row in tables[entry.model]]
        assert len(exported) == len(expected[entry.model]) > 0, entry.model
        if entry.model != "mastery.StaleMastery":  # composite key: counted above
            assert sorted(str(pk) for pk in exported) == expected[entry.model], entry.model
    # Nothing of the other learner, and the login without its password.
    assert f"{CANARY}b" not in json.dumps(document)
    login = document["login"]
    assert isinstance(login, dict)
    assert login["username"] == "student"
    assert "password" not in login
    names = set(archive.namelist())
    assert len([n for n in names if n.startswith("files/artifacts/")]) == len(filled.artifact_files)
    transcript = [n for n in names if n.startswith("files/reports/")]
    assert len(transcript) == 1
    stored = {path.read_bytes() for path in filled.artifact_files}
    assert {archive.read(n) for n in names if n.startswith("files/artifacts/")} == stored
    assert all(".." not in name and not name.startswith("/") for name in names)


def test_the_export_is_audited_with_its_digest(cast: Cast, roots: tuple[Path, Path]) -> None:
    _export(cast, cast.own)
    entry = AuditEntry.objects.get(action="privacy.export")
    assert (entry.learner_id, entry.actor_id, entry.outcome) == (
        cast.own.pk, cast.school_admin.pk, "allowed",
    )  # fmt: skip
    assert len(entry.detail["sha256"]) == 64


@pytest.mark.parametrize("persona", ["teacher", "guardian", "student", "district_admin"])
def test_who_may_export(cast: Cast, roots: tuple[Path, Path], persona: str) -> None:
    buffer = io.BytesIO()
    if persona == "district_admin":
        services.export_learner_data(actor=cast.persona(persona), learner=cast.own, out=buffer)
        assert zipfile.is_zipfile(io.BytesIO(buffer.getvalue()))
        return
    with pytest.raises(PermissionDenied):
        services.export_learner_data(actor=cast.persona(persona), learner=cast.own, out=buffer)
    assert buffer.getvalue() == b""
    assert AuditEntry.objects.get(action="privacy.export").outcome == "denied"


def test_the_export_command_writes_a_zip(
    cast: Cast, roots: tuple[Path, Path], tmp_path: Path
) -> None:
    output = tmp_path / "out.zip"
    call_command("export_learner", str(cast.own.pk), "--output", str(output))
    assert "learner.json" in zipfile.ZipFile(output).namelist()
    assert AuditEntry.objects.get(action="privacy.export").role == "system"


def _learner_relations(model: type[models.Model]) -> set[str]:
    return {
        field.related_model._meta.label
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is not None
    }


def test_every_model_holding_learner_rows_is_in_the_registry(db: None) -> None:
    """A model pointing at the learner, or at a registered model's rows about one learner
    (evidence, ratings, ...), must be registered, so export and erasure cannot miss it."""
    registered = {entry.model for entry in registry.entries()}
    missing = []
    for model in apps.get_models():
        label = model._meta.label
        if label in registered or model._meta.proxy:
            continue
        if _learner_relations(model) & registered:
            missing.append(label)
    assert missing == []
    for entry in registry.entries():
        entry.rows_of(1).exists()  # every path resolves
