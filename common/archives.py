"""Reading ZIP archives people upload without letting them exhaust the machine (S15).

Every ZIP the platform opens (a OneRoster roster, an Office document among artifacts) goes
through :class:`SafeArchive`. A ZIP's sizes are the sender's claim, so the bounds hold twice:

- on the directory, before anything is inflated: at most ``max_members`` files; each member's
  declared size at most ``max_member``, their sum at most ``max_total``; a member declared over
  ``RATIO_FLOOR`` bytes may not expand more than ``max_ratio`` times; no encrypted member and no
  absolute or ``..`` path;
- while inflating: :meth:`SafeArchive.open` gives a stream that inflates in chunks of at most
  ``CHUNK`` bytes and counts what it really produced, per member and for the whole archive
  (members read twice, or overlapping members, count twice), and stops at the first byte over a
  bound. So memory stays at a chunk per open member whatever the archive claims or holds.

The bounds default to the upload limit (``settings.UPLOAD_MAX_BYTES``): an archive may not
unpack to more than a file could be uploaded as. Every refusal is :class:`ArchiveRefused`, a
``ValueError`` whose message says in plain words what was wrong (callers add which file).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Final, Self

from django.conf import settings

CHUNK: Final = 64 * 1024
# Small members may compress extremely well (a run of blanks): the ratio applies above this.
RATIO_FLOOR: Final = 1024 * 1024
MAX_RATIO: Final = 100
MAX_MEMBERS: Final = 5000
_READ_ERRORS: Final = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError)


class ArchiveRefused(ValueError):
    """The archive (or one member, ``member``) breaks a bound or cannot be read."""

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


class ArchiveUnreadable(ArchiveRefused):
    """The file is not a ZIP archive at all (or its directory is broken)."""


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{size / 1024:g} kB"


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one archive may unpack to (bytes) and how much it may expand (times)."""

    max_total: int
    max_member: int
    max_members: int = MAX_MEMBERS
    max_ratio: int = MAX_RATIO

    @classmethod
    def for_uploads(cls) -> ArchiveLimits:
        """The bounds of every uploaded archive: the upload limit, in total and per member."""
        limit = int(settings.UPLOAD_MAX_BYTES)
        return cls(max_total=limit, max_member=limit)


class SafeArchive:
    """A ZIP opened with bounds (see the module's docstring); use it as a context manager.

    Raises :class:`ArchiveRefused` when the file is not a readable ZIP or its directory breaks
    a bound. ``members`` lists the files (folders left out), in the archive's order.
    """

    def __init__(self, source: IO[bytes] | bytes, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits.for_uploads()
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        try:
            self._zip = zipfile.ZipFile(handle)
            infos = self._zip.infolist()
        except _READ_ERRORS as exc:
            raise ArchiveUnreadable("The file is not a readable ZIP archive.") from exc
        self.members = [info for info in infos if not info.is_dir()]
        self.inflated = 0  # bytes really produced so far, every member together
        try:
            self._check_directory()
        except ArchiveRefused:
            self._zip.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _check_directory(self) -> None:
        limits = self.limits
        if len(self.members) > limits.max_members:
            raise ArchiveRefused(f"The archive holds more than {limits.max_members:,} files.")
        declared = 0
        for info in self.members:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                raise ArchiveRefused("The archive holds a file with an unsafe path.", name)
            if info.flag_bits & 0x1:
                raise ArchiveRefused("The archive is encrypted.", name)
            self._check_size(name, info.file_size, info.compress_size)
            declared += info.file_size
            if declared > limits.max_total:
                raise self._too_big()

    def _too_big(self, member: str | None = None) -> ArchiveRefused:
        return ArchiveRefused(
            f"The archive unpacks to more than {_size_text(self.limits.max_total)}, the most "
            "accepted.",
            member,
        )

    def _check_size(self, name: str, size: int, compressed: int) -> None:
        limits = self.limits
        if size > limits.max_member:
            raise ArchiveRefused(
                f"The file unpacks to more than {_size_text(limits.max_member)}, the most "
                "accepted.",
                name,
            )
        if size > RATIO_FLOOR and size > limits.max_ratio * max(compressed, 1):
            raise ArchiveRefused(
                f"The file expands more than {limits.max_ratio} times when unpacked: refused as a "
                "ZIP bomb.",
                name,
            )

    def _count(self, name: str, produced: int, compressed: int, added: int) -> None:
        self.inflated += added
        self._check_size(name, produced, compressed)
        if self.inflated > self.limits.max_total:
            raise self._too_big(name)

    def get(self, name: str) -> zipfile.ZipInfo | None:
        """The member called exactly ``name``, or None."""
        return next((info for info in self.members if info.filename == name), None)

    def open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        """A bounded stream of the member's inflated bytes (read it in any chunk size)."""
        try:
            inner = self._zip.open(info)
        except (*_READ_ERRORS, NotImplementedError, RuntimeError) as exc:
            raise ArchiveRefused(
                "The file cannot be read from the archive.", info.filename
            ) from exc
        return io.BufferedReader(_BoundedMember(self, info, inner), buffer_size=CHUNK)

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """The member's whole content (within the bounds, so at most ``max_member`` bytes)."""
        with self.open(info) as stream:
            return stream.read()

    def check_all(self) -> None:
        """Inflate every member once, keeping nothing: proves the real sizes keep the bounds."""
        for info in self.members:
            with self.open(info) as stream:
                while stream.read(CHUNK):
                    pass

    def chunks(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        with self.open(info) as stream:
            while block := stream.read(CHUNK):
                yield block


class _BoundedMember(io.RawIOBase):
    """One member's inflation, counted against its archive's bounds."""

    def __init__(self, archive: SafeArchive, info: zipfile.ZipInfo, inner: IO[bytes]) -> None:
        self._archive = archive
        self._info = info
        self._inner = inner
        self._produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), CHUNK)
        try:
            data = self._inner.read(wanted)
        except (*_READ_ERRORS, NotImplementedError, RuntimeError) as exc:
            raise ArchiveRefused(
                "The file is damaged: its content does not match the archive's directory.",
                self._info.filename,
            ) from exc
        self._produced += len(data)
        self._archive._count(
            self._info.filename, self._produced, self._info.compress_size, len(data)
        )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()
