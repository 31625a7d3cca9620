"""S15: zip bombs are refused in bounded memory, measured on a real process.

A separate Python process (Django set up, the test PostgreSQL database) takes the roster
import's upload path (``learners.services.import_roster`` with an uploaded file, as the page
calls it) and the artifact check (``evidence.uploads.check_upload``) through four bombs: the
reviewer's (a 300 kB zip whose one member inflates to 100 MB), the same with the zip's sizes
lying (declared 1 kB), and both as Word documents. It resets its peak resident size after set-up
(``/proc/self/clear_refs``) and reports how far the peak (``VmHWM``) rose while refusing them.

The peak is read from ``/proc/self/status``, not ``getrusage``: a child started with vfork
inherits its parent's high-water mark in ``ru_maxrss`` (this test process's, often larger than
any bomb), so that figure could not rise and the test could not fail. A control child reads one
member whole, as the reader did before, and must be seen to rise by its 100 MB: the measurement
can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.common.test_archives import lie_about_sizes
from tests.conftest import ROOT, _database_url_for_worker
from tests.evidence import files

MB = 1024 * 1024
INFLATED = 100 * MB
# The process may grow by a few chunks, the archive's directory and the refusal's bookkeeping.
ALLOWED_GROWTH_KB = 24 * 1024

CHILD = r"""
import json, sys, zipfile
import django
django.setup()
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import TemporaryUploadedFile
from evidence import uploads
from learners import services
from learners.oneroster import RosterInvalid

def status_kb(field):
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith(field + ":"))

outcomes = []
try:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # the peak (VmHWM) restarts from the current size
    baseline = status_kb("VmHWM")
except OSError:
    baseline = status_kb("VmRSS")
for kind, path in zip(sys.argv[1::2], sys.argv[2::2]):
    if kind == "whole":  # the control: a member read whole, as before S15
        with zipfile.ZipFile(path) as archive:
            outcomes.append(len(archive.read(archive.namelist()[-1])))
    elif kind == "roster":
        upload = TemporaryUploadedFile("roster.zip", "application/zip", 0, None)
        with open(path, "rb") as source:
            while block := source.read(1 << 16):
                upload.write(block)
        upload.seek(0)
        try:
            services.import_roster(actor=None, source=upload, source_name="roster.zip")
            outcomes.append("imported")
        except RosterInvalid as exc:
            outcomes.append(" / ".join(str(error) for error in exc.errors))
    else:
        with open(path, "rb") as source:
            data = uploads.read_bounded(source)
        try:
            uploads.check_upload(name="essay.docx", data=data)
            outcomes.append("stored")
        except ValidationError as exc:
            outcomes.append(" / ".join(exc.messages))
print(json.dumps({"baseline_kb": baseline, "peak_kb": status_kb("VmHWM"), "outcomes": outcomes}))
"""


def _write_bomb(path: Path, member: str, *, extra: dict[str, bytes] | None = None) -> Path:
    """A zip whose ``member`` inflates to 100 MB of one repeated CSV row (about 300 kB packed),
    written in chunks so this process never holds it."""
    row = b"s1,active,2026-01-01,student,Zq,Vw,learner\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
        with archive.open(member, "w", force_zip64=True) as out:
            block = row * (MB // len(row))
            written = 0
            while written < INFLATED:
                piece = block[: INFLATED - written]
                out.write(piece)
                written += len(piece)
    return path


def _lying(path: Path, target: Path) -> Path:
    target.write_bytes(lie_about_sizes(path.read_bytes(), 1024))
    return target


def _peak_growth_kb(bombs: list[tuple[str, Path]]) -> tuple[int, list[object]]:
    """Runs the child on the bombs; returns how far its peak rose (kB) and the outcomes."""
    env = {**os.environ, "DATABASE_URL": _database_url_for_worker()}
    arguments = [str(part) for kind, path in bombs for part in (kind, path)]
    finished = subprocess.run(
        [sys.executable, "-c", CHILD, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    return result["peak_kb"] - result["baseline_kb"], result["outcomes"]


@pytest.mark.django_db(transaction=True)
def test_zip_bombs_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    roster = _write_bomb(tmp_path / "roster.zip", "users.csv", extra={"orgs.csv": b"x\n"})
    docx_parts = {
        "[Content_Types].xml": files._content_types(files.DOCX_MAIN),
        "_rels/.rels": b"<Relationships/>",
    }
    docx = _write_bomb(tmp_path / "essay.docx", "word/document.xml", extra=docx_parts)
    assert roster.stat().st_size < 400 * 1024
    bombs = [
        ("roster", roster),
        ("roster", _lying(roster, tmp_path / "lying.zip")),
        ("artifact", docx),
        ("artifact", _lying(docx, tmp_path / "lying.docx")),
    ]
    grown, outcomes = _peak_growth_kb(bombs)
    print(f"\nzip bombs refused: the peak rose by {grown / 1024:.1f} MB")
    assert grown < ALLOWED_GROWTH_KB, f"the peak rose by {grown / 1024:.0f} MB"
    roster_refusal, lying_roster, docx_refusal, lying_docx = outcomes
    assert isinstance(roster_refusal, str)
    assert "users.csv" in roster_refusal
    assert "unpacks to more than 20 MB" in roster_refusal
    assert "damaged" in lying_roster
    assert "unpacks to more than 20 MB" in docx_refusal
    assert "damaged" in lying_docx

    # The control: the same measurement sees a member read whole (the reader before S15).
    grown, [size] = _peak_growth_kb([("whole", roster)])
    print(f"one member read whole: the peak rose by {grown / 1024:.1f} MB")
    assert size == INFLATED
    assert grown > (INFLATED // 1024) * 0.9, f"the control rose by {grown / 1024:.0f} MB only"
