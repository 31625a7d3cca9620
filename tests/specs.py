"""The official interchange definitions of ../shared/data/specs, for tests to hold our output to.

Each loader skips the test, saying which file is missing, where the shared folder is absent.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator, FormatChecker
from jsonschema.validators import validator_for

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT.parent / "shared" / "data" / "specs"
CASE_SCHEMA = SPECS / "case-1.1" / "case-v1p1-cfpackage.json"
ED_FI_RESOURCES = SPECS / "ed-fi" / "resources-ds-5.0.yaml"


def spec_file(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"official definition not found: {path} (see ../shared/data/specs/README.md)")
    return path


@functools.cache
def _case_validator() -> Draft201909Validator:
    schema = json.loads(CASE_SCHEMA.read_text(encoding="utf-8"))
    return Draft201909Validator(schema, format_checker=FormatChecker())


def case_errors(package: dict[str, Any]) -> list[str]:
    """Every way ``package`` fails 1EdTech's CASE 1.1 CFPackage schema (formats checked)."""
    spec_file(CASE_SCHEMA)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _case_validator().iter_errors(package)
    ]


@functools.cache
def _ed_fi_components() -> dict[str, Any]:
    with ED_FI_RESOURCES.open(encoding="utf-8") as handle:
        # libyaml (in PyYAML's wheels): the 2 MB definition loads in seconds, not ten.
        document = yaml.load(handle, Loader=yaml.CSafeLoader)
    return document["components"]["schemas"]  # type: ignore[no-any-return]


@functools.cache
def _ed_fi_validator(name: str) -> Any:
    """A validator of one Ed-Fi resource schema with the definitions it references."""
    schemas = _ed_fi_components()
    schema = {**schemas[name], "components": {"schemas": schemas}}
    text = json.dumps(schema).replace("#/components/schemas/", "#/components/schemas/")
    schema = json.loads(text)
    cls = validator_for(schema, default=Draft201909Validator)
    return cls(schema, format_checker=FormatChecker())


def ed_fi_errors(name: str, record: dict[str, Any]) -> list[str]:
    """Every way ``record`` fails the Ed-Fi Data Standard 5.0 definition ``name``
    (``edFi_studentCompetencyObjective``, ``edFi_competencyObjective``...)."""
    spec_file(ED_FI_RESOURCES)
    return [
        f"{name} {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _ed_fi_validator(name).iter_errors(record)
    ]


def ed_fi_default_codes(name: str) -> set[str]:
    """The code values of one of Ed-Fi's default descriptor files (e.g.
    ``CompetencyLevelDescriptor.xml``)."""
    import re

    path = spec_file(SPECS / "ed-fi" / name)
    return set(re.findall(r"<CodeValue>([^<]+)</CodeValue>", path.read_text(encoding="utf-8")))
