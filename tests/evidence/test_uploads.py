"""Uploads are typed by their content, hostile files are refused, photos lose their location."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from evidence import uploads
from tests.evidence import files

ACCEPTED = [
    ("report.pdf", files.pdf(), "application/pdf", "pdf"),
    ("photo.png", files.png(), "image/png", "png"),
    ("photo.jpg", files.jpeg(), "image/jpeg", "jpg"),
    ("anim.gif", files.gif(), "image/gif", "gif"),
    ("photo.webp", files.webp(), "image/webp", "webp"),
    ("song.mp3", files.mp3(), "audio/mpeg", "mp3"),
    ("clip.mp4", files.mp4(), "video/mp4", "mp4"),
    ("voice.m4a", files.m4a(), "audio/mp4", "m4a"),
    ("essay.docx", files.ooxml("word", files.DOCX_MAIN), uploads.DOCX, "docx"),
    ("sheet.xlsx", files.ooxml("xl", files.XLSX_MAIN), uploads.XLSX, "xlsx"),
    ("talk.pptx", files.ooxml("ppt", files.PPTX_MAIN), uploads.PPTX, "pptx"),
    ("essay.odt", files.odt(), uploads.ODT, "odt"),
    ("notes.txt", "Fractions: ½ + ¼ = ¾ < 1\n".encode(), "text/plain; charset=utf-8", "txt"),
]


@pytest.mark.parametrize(("name", "data", "content_type", "extension"), ACCEPTED)
def test_accepted_types_are_detected_from_their_content(
    name: str, data: bytes, content_type: str, extension: str
) -> None:
    checked = uploads.check_upload(name="renamed.bin", data=data)
    assert (checked.content_type, checked.extension) == (content_type, extension)
    assert checked.original_name == f"renamed.{extension}"


REFUSED = [
    ("empty.txt", b"", "empty"),
    ("evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "markup"),
    ("evil.svg", b'<?xml version="1.0"?>\n<svg><script>alert(1)</script></svg>', "markup"),
    ("page.html", b"<!DOCTYPE html><html><body>hi</body></html>", "markup"),
    ("photo.jpg", b"<html><script>alert(1)</script></html>", "markup"),
    ("notes.txt", b"I like <script>alert(1)</script>", "markup"),
    ("run.sh", b"#!/bin/sh\nrm -rf /\n", "not accepted"),
    ("setup.exe", files.EXE, "not accepted"),
    ("tool", files.ELF, "not accepted"),
    ("archive.zip", files.zip_archive({"a.txt": b"hello"}), "not accepted"),
    ("gifar.gif", files.gif(b"<script>alert(1)</script>"), "polyglot"),
    ("photo.jpg", files.jpeg(tail=files.zip_archive({"a.class": b"\xca\xfe"})), "polyglot"),
    ("png.png", files.png(text=b"x") + b"<html><body onload=alert(1)>", "polyglot"),
    ("doc.pdf", files.pdf(b"3 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj"), "PDF"),
    ("doc.pdf", files.pdf(b"3 0 obj << /S /Launch /F (cmd.exe) >> endobj"), "PDF"),
    ("doc.pdf", files.pdf(b"<< /EmbeddedFiles 4 0 R >>"), "PDF"),
    ("macro.docx", files.ooxml("word", files.DOCM_MAIN), "macro"),
    (
        "macro.docx",
        files.ooxml("word", extra_members={"word/vbaProject.bin": b"\x00" * 100}),
        "macros",
    ),
    (
        "bomb.docx",
        files.ooxml("word", extra_members={"word/media/zeros.bin": b"\x00" * (4 * 1024 * 1024)}),
        "ZIP bomb",
    ),
    ("macro.odt", files.odt(extra_members={"Basic/Standard/Module1.xml": b"<x/>"}), "macros"),
    ("trick.docx", files.ooxml("word", extra_members={"../../evil.txt": b"x"}), "unsafe path"),
    ("utf16.txt", "hello".encode("utf-16"), "not accepted"),
    ("binary.dat", bytes(range(256)) * 4, "not accepted"),
]


@pytest.mark.parametrize(("name", "data", "reason"), REFUSED)
def test_hostile_and_unknown_files_are_refused(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        uploads.check_upload(name=name, data=data)
    assert reason in raised.value.messages[0]


def test_files_over_the_limit_are_refused(settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 2048
    assert uploads.check_upload(name="a.txt", data=b"a" * 2048).size == 2048
    with pytest.raises(ValidationError) as raised:
        uploads.check_upload(name="a.txt", data=b"a" * 2049)
    assert raised.value.messages == ["The file is larger than the limit of 2 kB."]


def test_an_oversize_stream_is_not_read_past_the_limit(settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 1024

    class Endless:
        read_bytes = 0

        def chunks(self) -> Any:
            while True:
                self.read_bytes += 512
                yield b"x" * 512

    source = Endless()
    data = uploads.read_bounded(source)
    assert len(data) == 1536
    assert source.read_bytes == 1536


def test_jpeg_location_metadata_is_removed() -> None:
    original = files.jpeg(exif=b"MM\x00*" + files.GPS)
    checked = uploads.check_upload(name="holiday.jpg", data=original)
    assert files.GPS in original
    assert files.GPS not in checked.data
    assert b"Exif" not in checked.data
    assert checked.data == files.jpeg()


def test_png_and_webp_metadata_is_removed() -> None:
    png = uploads.check_upload(name="a.png", data=files.png(exif=files.GPS, text=files.GPS))
    assert png.data == files.png()
    webp = uploads.check_upload(name="a.webp", data=files.webp(exif=files.GPS))
    assert webp.data == files.webp()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.php.jpg", "report_php.jpg"),
        ("../../etc/passwd", "passwd.jpg"),
        ("C:\\Users\\kid\\My photo.jpeg", "My photo.jpg"),
        ('"; filename=evil.html', "filename_evil.jpg"),
        ("Ünïcödé 📷.jpg", "Unicode.jpg"),
        ("", "artifact.jpg"),
        ("x" * 300 + ".jpg", "x" * 120 + ".jpg"),
    ],
)
def test_download_names_are_harmless_and_keep_the_detected_extension(
    name: str, expected: str
) -> None:
    assert uploads.check_upload(name=name, data=files.jpeg()).original_name == expected


def test_stored_files_get_random_names_under_the_artifacts_folder(media_root: Path) -> None:
    checked = uploads.check_upload(name="../../../../evil.txt", data=b"hello")
    name = uploads.store(checked)
    assert re.fullmatch(r"[0-9a-f]{32}", name)
    assert [p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file()] == [
        f"artifacts/{name}"
    ]
    with uploads.open_stored(name) as handle:
        assert handle.read() == b"hello"
    uploads.delete_stored([name, "not-a-storage-name"])
    assert not (media_root / "artifacts" / name).exists()


@pytest.mark.parametrize("name", ["../evil", "a" * 32 + "/../x", "ABCDEF" * 6, ""])
def test_only_generated_names_can_be_opened(name: str) -> None:
    with pytest.raises(ValueError, match="not a storage name"):
        uploads.open_stored(name)


def test_bytes_after_the_end_of_a_photo_are_dropped() -> None:
    assert uploads.check_upload(name="a.jpg", data=files.jpeg(tail=b"trailing")).data == (
        files.jpeg()
    )
    assert uploads.check_upload(name="a.png", data=files.png() + b"trailing").data == files.png()
