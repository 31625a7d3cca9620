"""Small real files of every accepted type, and hostile ones, built in memory for the tests."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
PPTX_MAIN = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
GPS = b"GPSLatitude 51.5072 N GPSLongitude 0.1276 W"


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(*, exif: bytes = b"", tail: bytes = b"") -> bytes:
    """A JPEG shell: SOI, JFIF, optional EXIF (APP1), a quantisation table, SOS, data, EOI."""
    parts = [b"\xff\xd8", _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")]
    if exif:
        parts.append(_segment(0xE1, b"Exif\x00\x00" + exif))
    parts.append(_segment(0xDB, b"\x00" + bytes(range(64))))
    parts.append(_segment(0xDA, b"\x00\x01\x01\x00\x00\x3f\x00"))
    parts.append(b"\x12\x34\x56\x78" * 16 + b"\xff\xd9")
    return b"".join(parts) + tail


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(*, exif: bytes = b"", text: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif))
    if text:
        chunks.append(_png_chunk(b"tEXt", b"Comment\x00" + text))
    chunks.append(_png_chunk(b"IDAT", zlib.compress(b"\x00\x00")))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def webp(*, exif: bytes = b"") -> bytes:
    def chunk(fourcc: bytes, data: bytes) -> bytes:
        pad = b"\x00" if len(data) % 2 else b""
        return fourcc + struct.pack("<I", len(data)) + data + pad

    flags = 0x08 if exif else 0
    vp8x = bytes([flags, 0, 0, 0]) + b"\x00\x00\x00" + b"\x00\x00\x00"
    body = b"WEBP" + chunk(b"VP8X", vp8x) + chunk(b"VP8L", b"\x2f\x00\x00\x00\x00")
    if exif:
        body += chunk(b"EXIF", exif)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif(tail: bytes = b"") -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
        + tail
    )


def pdf(body: bytes = b"") -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        + body
        + b"\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def mp3() -> bytes:
    return b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\xff\xfb\x90\x00" + b"\x00" * 400


def mp4(brand: bytes = b"isom") -> bytes:
    ftyp = b"ftyp" + brand + b"\x00\x00\x02\x00" + b"isomiso2mp41"
    box = struct.pack(">I", len(ftyp) + 4) + ftyp
    return box + struct.pack(">I", 8) + b"free" + b"\x00" * 64


def m4a() -> bytes:
    ftyp = b"ftypM4A \x00\x00\x00\x00M4A isom"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + b"\x00" * 64


def _content_types(main: str, extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/main.xml" ContentType="{main}"/>{extra}</Types>'
    ).encode()


def ooxml(
    folder: str = "word",
    main: str = DOCX_MAIN,
    *,
    extra_members: dict[str, bytes] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("[Content_Types].xml", _content_types(main))
        archive.writestr("_rels/.rels", b"<Relationships/>")
        archive.writestr(f"{folder}/document.xml", b"<document>Hello</document>")
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def odt(*, extra_members: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.text")
        archive.writestr("META-INF/manifest.xml", b"<manifest/>", zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", b"<office:document-content/>", zipfile.ZIP_DEFLATED)
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def zip_archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# Windows PE and Linux ELF headers (enough for content detection).
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200
