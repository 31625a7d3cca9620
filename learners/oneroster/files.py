"""Reading a roster: a folder, a zip (through common.archives) and its manifest."""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.archives import ArchiveLimits, ArchiveRefused, ArchiveUnreadable, SafeArchive
from common.importing import Problem
from learners.oneroster.base import (
    MAX_FILE_BYTES,
    MAX_ZIP_ENTRIES,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    RosterInvalid,
    RosterSource,
    RowError,
)

logger = logging.getLogger(__name__)

# Files read from a roster: the 1.1 files we import, the manifest, and roles.csv (a 1.2 file,
# read only to recognise a 1.2 roster).
KNOWN = (*REQUIRED_FILES, *OPTIONAL_FILES, "roles.csv")


# --- reading the files ----------------------------------------------------------------------------


def read_files(source: RosterSource) -> dict[str, bytes]:
    """The roster's files by name, from a folder, a zip path or an open zip file.

    Raises RosterInvalid for a broken zip, a missing required file (unless the manifest marks it
    ``absent``), a file too large, two files of the same name, or a OneRoster 1.2 roster.
    """
    if isinstance(source, Path) and source.is_dir():
        files = _read_folder(source)
    elif isinstance(source, Path):
        if not source.exists():
            raise RosterInvalid([RowError(source.name, None, "", "No such file or folder.")])
        with source.open("rb") as handle:
            files = _read_zip(handle, source.name)
    else:
        files = _read_zip(source, getattr(source, "name", "upload") or "upload")
    _check_version(files)
    errors = [
        RowError(name, None, "", "The file is missing from the roster.")
        for name in REQUIRED_FILES
        if name not in files and read_manifest(files).mode(name) != ABSENT
    ]
    if errors:
        raise RosterInvalid(errors)
    return files


BULK, DELTA, ABSENT = "bulk", "delta", "absent"


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.csv`` says: the OneRoster version and, per file, ``bulk`` (the whole
    set), ``delta`` (changes only) or ``absent`` (not in this roster). Without a manifest every
    file is ``bulk``."""

    version: str = ""
    modes: dict[str, str] = field(default_factory=dict)

    def mode(self, name: str) -> str:
        return self.modes.get(name.removesuffix(".csv"), BULK)


def read_manifest(files: dict[str, bytes]) -> Manifest:
    data = files.get("manifest.csv")
    if not data:
        return Manifest()
    text = data.decode("utf-8-sig", errors="replace")
    values: dict[str, str] = {}
    for row in csv.reader(io.StringIO(text, newline="")):
        if len(row) >= 2 and row[0].strip():
            values[row[0].strip().lower()] = row[1].strip()
    modes = {
        key.removeprefix("file."): value.lower()
        for key, value in values.items()
        if key.startswith("file.") and value.lower() in (BULK, DELTA, ABSENT)
    }
    # The manifest's keys are read without regard to case: file.academicsessions too.
    canonical = {name.removesuffix(".csv").lower(): name.removesuffix(".csv") for name in KNOWN}
    return Manifest(
        version=values.get("oneroster.version", ""),
        modes={canonical.get(key, key): mode for key, mode in modes.items()},
    )


UNSUPPORTED_VERSION = (
    "This is a OneRoster {version} roster; only OneRoster 1.1 CSV is supported yet. "
    "Export the roster as OneRoster 1.1 from your student information system."
)


def _check_version(files: dict[str, bytes]) -> None:
    """Refuses a OneRoster 1.2 roster with one plain problem (not a missing-column error per
    file): by its manifest, or, without one, by its files (1.2 moves roles to roles.csv and
    drops the users' role column)."""
    version = read_manifest(files).version
    if version and not version.startswith("1.1") and not version.startswith("1.0"):
        raise RosterInvalid(
            [
                RowError(
                    "manifest.csv",
                    None,
                    "oneroster.version",
                    UNSUPPORTED_VERSION.format(version=version),
                )
            ]
        )
    users = files.get("users.csv", b"")
    header = users.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    columns = {column.strip() for column in header.split(",")}
    if not version and (
        "roles.csv" in files or ("userMasterIdentifier" in columns and "role" not in columns)
    ):
        raise RosterInvalid(
            [RowError("users.csv", None, "", UNSUPPORTED_VERSION.format(version="1.2"))]
        )


def _too_large() -> str:
    return f"The file is larger than the limit of {MAX_FILE_BYTES:,} bytes."


def _read_folder(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    errors: list[Problem] = []
    for name in KNOWN:
        path = folder / name
        if not path.is_file():
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            errors.append(RowError(name, None, "", _too_large()))
            continue
        files[name] = path.read_bytes()
    if errors:
        raise RosterInvalid(errors)
    return files


def _read_zip(handle: IO[bytes], label: str) -> dict[str, bytes]:
    """The roster's files from a zip, inflated within the upload limit (common.archives: a zip
    bomb is refused after at most that many bytes, read in chunks)."""
    try:
        archive = SafeArchive(handle, ArchiveLimits.for_uploads())
    except ArchiveUnreadable as exc:
        raise RosterInvalid(
            [RowError(Path(str(label)).name, None, "", "Not a readable zip file.")]
        ) from exc
    except ArchiveRefused as exc:
        name = Path(str(exc.member or label)).name
        raise RosterInvalid([RowError(name, None, "", str(exc))]) from exc
    with archive:
        entries = archive.members
        if len(entries) > MAX_ZIP_ENTRIES:
            raise RosterInvalid(
                [RowError(label, None, "", f"The zip holds more than {MAX_ZIP_ENTRIES} files.")]
            )
        wanted = set(KNOWN)
        found: dict[str, zipfile.ZipInfo] = {}
        errors: list[Problem] = []
        for info in entries:
            # Only the base name counts (rosters are often zipped inside one folder); paths are
            # never used to write anything, so "../" tricks have nothing to reach.
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if base.startswith("._") or base not in wanted:
                continue
            if base in found:
                errors.append(RowError(base, None, "", "The zip holds this file twice."))
            found[base] = info
        files: dict[str, bytes] = {}
        for name, info in found.items():
            if info.file_size > MAX_FILE_BYTES:
                errors.append(RowError(name, None, "", _too_large()))
                continue
            try:
                files[name] = archive.read(info)
            except ArchiveRefused as exc:
                errors.append(RowError(name, None, "", str(exc)))
                if archive.inflated > archive.limits.max_total:
                    break  # the whole zip's bound is spent: reading on would only repeat it
        if errors:
            raise RosterInvalid(errors)
        return files
