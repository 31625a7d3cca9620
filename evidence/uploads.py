"""Checking, storing and opening uploaded artifact files (RELIABILITY.md S10).

- The type comes from the bytes (``filetype`` plus our own checks), never from the name or the
  browser's claim. Only the types in :data:`ALLOWED_TYPES` are kept.
- Markup anywhere in a binary file (an image that is also HTML), a ZIP hidden behind another
  format, PDF actions that run code, Office files with macros, and ZIP bombs are refused.
- Location metadata (EXIF / XMP) is removed from JPEG, PNG and WebP photos.
- A stored file is named by a random UUID under ``MEDIA_ROOT/artifacts/``: no part of the path
  comes from the user. It is only ever sent by the permission-checked download view, as an
  attachment with the detected type and ``nosniff``.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from common.archives import ArchiveLimits, ArchiveRefused, ArchiveUnreadable, SafeArchive

ARTIFACT_FOLDER = "artifacts"

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
TEXT = "text/plain"

# Detected type -> (extension, what the download is sent as, a name people know).
ALLOWED_TYPES: dict[str, tuple[str, str, str]] = {
    "application/pdf": ("pdf", "application/pdf", "PDF"),
    "image/png": ("png", "image/png", "PNG image"),
    "image/apng": ("png", "image/png", "PNG image"),
    "image/jpeg": ("jpg", "image/jpeg", "JPEG image"),
    "image/gif": ("gif", "image/gif", "GIF image"),
    "image/webp": ("webp", "image/webp", "WebP image"),
    "audio/mpeg": ("mp3", "audio/mpeg", "MP3 audio"),
    "audio/mp4": ("m4a", "audio/mp4", "M4A audio"),
    "video/mp4": ("mp4", "video/mp4", "MP4 video"),
    DOCX: ("docx", DOCX, "Word document"),
    XLSX: ("xlsx", XLSX, "Excel workbook"),
    PPTX: ("pptx", PPTX, "PowerPoint presentation"),
    ODT: ("odt", ODT, "OpenDocument text"),
    TEXT: ("txt", "text/plain; charset=utf-8", "plain text"),
}
ZIP_DOCUMENTS = frozenset({DOCX, XLSX, PPTX, ODT})
# The content type of the main part each OOXML type must declare (macro-enabled ones differ).
_OOXML_MAIN = {
    DOCX: b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    XLSX: b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    PPTX: b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
}

# ZIP bombs: common.archives bounds every part and the whole by the upload limit.
_CONTENT_TYPES_MAX_BYTES = 1024 * 1024

_MARKUP = re.compile(
    rb"<\s*(?:script|html|svg|iframe|body|object|embed|xml-stylesheet)\b|<!doctype\s+html"
    rb"|javascript:",
    re.IGNORECASE,
)
# Text that is really XML (SVG without its tag on the first line, XHTML, XSLT) is refused too.
_TEXT_MARKUP = re.compile(rb"<\?xml|<!doctype|<\s*[a-z]+:[a-z]+[\s>]", re.IGNORECASE)
_PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA)\b")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed every check, ready to store (``data`` may have lost metadata)."""

    data: bytes
    detected_type: str
    content_type: str
    extension: str
    original_name: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, code="upload_refused")


def max_bytes() -> int:
    return int(settings.UPLOAD_MAX_BYTES)


def describe_limit() -> str:
    size = max_bytes()
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{size / 1024:g} kB"


def allowed_type_names() -> list[str]:
    return sorted({name for _ext, _sent, name in ALLOWED_TYPES.values()})


def read_bounded(file: object, limit: int | None = None) -> bytes:
    """Reads at most ``limit`` + 1 bytes (so an oversize file is detected, never fully read)."""
    bound = max_bytes() if limit is None else limit
    chunks: list[bytes] = []
    total = 0
    source: Iterable[bytes]
    chunks_of = getattr(file, "chunks", None)
    read = getattr(file, "read", None)
    if chunks_of is not None:
        source = chunks_of()
    elif read is not None:
        source = iter(lambda: read(64 * 1024), b"")
    elif isinstance(file, bytes):
        source = [file]
    else:
        raise TypeError("expected a file or bytes")
    for chunk in source:
        chunks.append(chunk)
        total += len(chunk)
        if total > bound:
            break
    return b"".join(chunks)


def check_upload(*, name: str, data: bytes) -> CheckedUpload:
    """Checks an upload and returns what to store, or raises ``ValidationError`` saying why.

    The name is used only to suggest a download name; the type comes from the bytes.
    """
    if not data:
        raise _refuse("The file is empty.")
    if len(data) > max_bytes():
        raise _refuse(f"The file is larger than the limit of {describe_limit()}.")
    detected = _detect(data)
    if detected not in ALLOWED_TYPES:
        raise _refuse(
            f"Files of this type ({detected}) are not accepted. Accepted: "
            + ", ".join(allowed_type_names())
            + "."
        )
    if detected in ZIP_DOCUMENTS:
        _check_zip_document(data, detected)
    elif detected != TEXT:
        _check_binary(data, detected)
    # Photos lose their metadata (where location lives) and anything after their end marker.
    if detected == "image/jpeg":
        data = strip_jpeg_metadata(data)
    elif detected in ("image/png", "image/apng"):
        data = strip_png_metadata(data)
    elif detected == "image/webp":
        data = strip_webp_metadata(data)
    extension, content_type, _label = ALLOWED_TYPES[detected]
    return CheckedUpload(
        data=data,
        detected_type=detected,
        content_type=content_type,
        extension=extension,
        original_name=safe_download_name(name, extension),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _detect(data: bytes) -> str:
    kind = filetype.guess(data)
    if kind is not None:
        return str(kind.mime)
    if _is_plain_text(data):
        return TEXT
    if _MARKUP.search(data[:4096]) or _TEXT_MARKUP.search(data[:4096]):
        return "HTML, SVG or XML markup"
    return "unrecognised"


def _is_plain_text(data: bytes) -> bool:
    """UTF-8 text with no markup, no control characters and no script interpreter line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    if _TEXT_CONTROL.search(text) or text.lstrip().startswith("#!"):
        return False
    return not _MARKUP.search(data) and not _TEXT_MARKUP.search(data)


def _check_binary(data: bytes, detected: str) -> None:
    # A browser that ever sniffed the file must find no markup; a file that is also a ZIP
    # (a "GIFAR" or an appended archive) is two files in one.
    if _MARKUP.search(data):
        raise _refuse("The file contains web page markup or script: refused as a polyglot.")
    if zipfile.is_zipfile(io.BytesIO(data)):
        raise _refuse("The file also contains a ZIP archive: refused as a polyglot.")
    if detected == "application/pdf" and _PDF_ACTIVE.search(data):
        raise _refuse("The PDF contains scripts, launch actions or embedded files.")


def _check_zip_document(data: bytes, detected: str) -> None:
    """An Office or OpenDocument file: a ZIP within the upload limit once unpacked (every part
    inflated once, in chunks, keeping nothing: common.archives), of its declared type, without
    macros."""
    label = ALLOWED_TYPES[detected][2]
    try:
        with SafeArchive(data, ArchiveLimits.for_uploads()) as archive:
            archive.check_all()
            names = {info.filename for info in archive.members}
            mimetype = _read_member(archive, "mimetype")
            content_types = _read_member(archive, "[Content_Types].xml")
    except ArchiveUnreadable as exc:
        raise _refuse(f"The {label} is damaged (not a readable ZIP container).") from exc
    except ArchiveRefused as exc:
        raise _refuse(f"The {label} was refused: {_lower_first(str(exc))}") from exc
    lowered = {name.lower() for name in names}
    if detected == ODT:
        if mimetype != ODT.encode():
            raise _refuse(f"The {label} does not declare its type.")
        if any(name.startswith(("basic/", "scripts/")) for name in lowered):
            raise _refuse(f"The {label} contains macros.")
        return
    if content_types is None:
        raise _refuse(f"The {label} has no content types part.")
    if _OOXML_MAIN[detected] not in content_types:
        raise _refuse(f"The {label} does not declare a {label} main part (macro-enabled?).")
    if (
        b"macroenabled" in content_types.lower()
        or b"vbaproject" in content_types.lower()
        or any(name.endswith("vbaproject.bin") for name in lowered)
    ):
        raise _refuse(f"The {label} contains macros.")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _read_member(archive: SafeArchive, name: str) -> bytes | None:
    info = archive.get(name)
    if info is None:
        return None
    if info.file_size > _CONTENT_TYPES_MAX_BYTES:
        raise _refuse("A part of the document is implausibly large.")
    return archive.read(info)


# --- metadata removal ---------------------------------------------------------------------------


def strip_jpeg_metadata(data: bytes) -> bytes:
    """The JPEG without APP1 (EXIF, XMP) and APP13 (IPTC) segments and without anything after
    its end marker; unchanged if malformed."""
    if not data.startswith(b"\xff\xd8"):
        return data
    out = bytearray(b"\xff\xd8")
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return data
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xDA or marker == 0xD9:
            # Scan data never holds FF D9 (a data FF is stuffed as FF 00): the first one after
            # the first scan ends the image, and whatever follows it is dropped.
            end = data.find(b"\xff\xd9", position)
            out += data[position:] if end == -1 else data[position : end + 2]
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out += data[position : position + 2]
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        end = position + 2 + length
        if length < 2 or end > len(data):
            return data
        if marker not in (0xE1, 0xED):
            out += data[position:end]
        position = end
    return data


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROPPED = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def strip_png_metadata(data: bytes) -> bytes:
    """The PNG without its EXIF and text chunks (where XMP lives); unchanged if malformed."""
    if not data.startswith(_PNG_SIGNATURE):
        return data
    out = bytearray(_PNG_SIGNATURE)
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunk_type = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            return data
        if chunk_type not in _PNG_DROPPED:
            out += data[position:end]
        position = end
        if chunk_type == b"IEND":
            return bytes(out)
    return data


def strip_webp_metadata(data: bytes) -> bytes:
    """The WebP without EXIF and XMP chunks (flags and sizes fixed); unchanged if malformed."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return data
    chunks: list[bytes] = []
    position = 12
    while position + 8 <= len(data):
        fourcc = data[position : position + 4]
        (length,) = struct.unpack("<I", data[position + 4 : position + 8])
        end = position + 8 + length + (length & 1)
        if end > len(data) + (length & 1):
            return data
        chunk = data[position:end]
        if fourcc == b"VP8X" and length >= 10:
            flags = chunk[8] & ~(0x08 | 0x04)  # EXIF and XMP present
            chunk = chunk[:8] + bytes([flags]) + chunk[9:]
        if fourcc not in (b"EXIF", b"XMP "):
            chunks.append(chunk)
        position = end
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- names and storage --------------------------------------------------------------------------

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9 _-]+")


def safe_download_name(name: str, extension: str) -> str:
    """A harmless suggested name: the last path part, ASCII letters, digits, spaces, ``_`` and
    ``-``, and the detected extension (so ``report.php.jpg`` becomes ``report_php.jpg``)."""
    base = re.split(r"[\\/]", name)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    cleaned = _NAME_UNSAFE.sub("_", ascii_stem).strip(" _.-")[:120] or "artifact"
    return f"{cleaned}.{extension}"


def storage_path(storage_name: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{32}", storage_name):
        raise ValueError("not a storage name")
    return f"{ARTIFACT_FOLDER}/{storage_name}"


def store(upload: CheckedUpload) -> str:
    """Writes the checked bytes under a new random name and returns that name."""
    storage_name = uuid.uuid4().hex
    saved = default_storage.save(storage_path(storage_name), ContentFile(upload.data))
    if saved != storage_path(storage_name):  # never happens with a fresh UUID; be sure anyway
        default_storage.delete(saved)
        raise OSError("storage renamed an artifact")
    return storage_name


def delete_stored(storage_names: Iterable[str]) -> None:
    """Removes files written for a write that then failed (best effort, never raises)."""
    for storage_name in storage_names:
        try:
            default_storage.delete(storage_path(storage_name))
        except (OSError, ValueError):
            continue


def open_stored(storage_name: str) -> IO[bytes]:
    return default_storage.open(storage_path(storage_name), "rb")
