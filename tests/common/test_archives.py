"""The bounded ZIP reader (common.archives, S15): every bound, declared and real."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest

from common.archives import (
    ArchiveLimits,
    ArchiveRefused,
    ArchiveUnreadable,
    SafeArchive,
)

KB = 1024
MB = 1024 * KB
LIMITS = ArchiveLimits(max_total=4 * MB, max_member=3 * MB, max_members=10, max_ratio=100)


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def lie_about_sizes(data: bytes, size: int) -> bytes:
    """The archive with every member's uncompressed size (local and central) set to ``size``."""
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := patched.find(signature, start)) != -1:
            patched[start + offset : start + offset + 4] = struct.pack("<I", size)
            start += 4
    return bytes(patched)


def _refusal(data: bytes, limits: ArchiveLimits = LIMITS, *, read: bool = True) -> str:
    def open_and_read() -> None:
        with SafeArchive(data, limits) as archive:
            if read:
                archive.check_all()

    with pytest.raises(ArchiveRefused) as caught:
        open_and_read()
    return str(caught.value)


def test_members_within_the_bounds_are_read_whole_and_in_chunks() -> None:
    text = os.urandom(2 * MB)
    with SafeArchive(_zip({"a.csv": b"x,y\n", "dir/b.bin": text}), LIMITS) as archive:
        assert [info.filename for info in archive.members] == ["a.csv", "dir/b.bin"]
        assert archive.read(archive.members[0]) == b"x,y\n"
        assert b"".join(archive.chunks(archive.members[1])) == text
        assert archive.inflated == 2 * MB + 4


def test_a_file_that_is_not_a_zip_is_unreadable() -> None:
    with pytest.raises(ArchiveUnreadable, match="not a readable ZIP"):
        SafeArchive(b"PK\x03\x04 not really", LIMITS)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ({f"{n}.txt": b"x" for n in range(11)}, "holds more than 10 files"),
        ({"big.bin": os.urandom(3 * MB + 1)}, "The file unpacks to more than 3 MB"),
        ({"a.bin": os.urandom(2 * MB), "b.bin": os.urandom(2 * MB + 1)}, "more than 4 MB"),
        ({"zeros.bin": b"\0" * (2 * MB)}, "expands more than 100 times"),
        ({"../../etc/passwd": b"x"}, "unsafe path"),
        ({"/abs.txt": b"x"}, "unsafe path"),
        ({"C:/x.txt": b"x"}, "unsafe path"),
    ],
)
def test_a_directory_over_a_bound_is_refused_before_inflating(
    members: dict[str, bytes], expected: str
) -> None:
    assert expected in _refusal(_zip(members), read=False)


def test_small_members_may_compress_extremely_well() -> None:
    with SafeArchive(_zip({"blank.csv": b" " * (512 * KB)}), LIMITS) as archive:
        archive.check_all()


def test_sizes_that_lie_cannot_inflate_past_the_claim() -> None:
    # Declared 1 kB each, really 2 MB: never more than the claim is produced, and the
    # mismatch is reported as damage (the reader stops at the declared end).
    data = lie_about_sizes(_zip({"a.bin": b"\0" * (2 * MB)}), 1 * KB)
    message = _refusal(data)
    assert "damaged" in message


def test_reading_members_again_counts_against_the_total() -> None:
    data = _zip({"a.bin": os.urandom(1536 * KB)})
    with SafeArchive(data, LIMITS) as archive:
        archive.read(archive.members[0])
        archive.read(archive.members[0])
        with pytest.raises(ArchiveRefused, match="unpacks to more than 4 MB"):
            archive.read(archive.members[0])
        assert archive.inflated <= LIMITS.max_total + 64 * KB


def test_the_default_bounds_are_the_upload_limit(settings: object) -> None:
    settings.UPLOAD_MAX_BYTES = 5 * MB  # type: ignore[attr-defined]
    limits = ArchiveLimits.for_uploads()
    assert (limits.max_total, limits.max_member) == (5 * MB, 5 * MB)
