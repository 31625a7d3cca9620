"""The transcript in the requester's language, with codes kept whole."""

from __future__ import annotations

import base64
import re
import zlib
from pathlib import Path

import pytest
from django.utils import timezone

from notifications.services import save_preferences
from reports.transcript import write_transcript
from tests.journeys.helpers import make_tree, quick_entry, run_worker
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def _text(pdf: bytes) -> str:
    """The text-showing strings of every page stream (reportlab compresses them)."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        body = stream.strip()
        if body.endswith(b"~>"):  # ASCII85, then Flate
            body = zlib.decompress(base64.a85decode(body[:-2]))
        for shown in re.findall(rb"\((.*?)\) Tj", body):
            unescaped = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), shown)
            out.append(unescaped.decode("cp1252"))
    return " | ".join(out)


def test_the_transcript_speaks_spanish_and_never_breaks_a_code(
    shared_cast: Cast, tmp_path: Path
) -> None:
    cast = shared_cast
    tree = make_tree(domains=1, per_domain=1)
    standard = tree.standards[0]
    standard.human_code = "CCSS.Math.Practice.MP1"
    standard.save()
    quick_entry(cast.teacher, cast.section, [cast.own], [standard], "4")
    run_worker()
    save_preferences(actor=cast.guardian, language="es", receive={}, digests=[])
    path = tmp_path / "t.pdf"
    write_transcript(
        learner=cast.own, term=None, as_of=timezone.localdate(), path=path, language="es"
    )
    text = _text(path.read_bytes())
    assert "Expediente de dominio" in text
    assert "1 de 1 est\xe1ndares dominados." in text
    assert "CCSS.Math.Practice.MP1" in text  # whole, on one line
    assert "Dominado" in text
    assert standard.statement in text  # the statement as published
