"""Files the platform writes hold children's records: only the service's own user may read them.

Uploads are saved by Django's storage with ``FILE_UPLOAD_PERMISSIONS`` (0600) in folders made
with ``FILE_UPLOAD_DIRECTORY_PERMISSIONS`` (0700), see config/settings.py. Files written by our
own code (reports, exports) are created through :func:`create_private` first, so the writers
that open them afterwards (csv, openpyxl, reportlab, zipfile) keep that mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

FILE_MODE: Final = 0o600
DIRECTORY_MODE: Final = 0o700


def create_private(path: Path) -> Path:
    """Create ``path`` empty (or empty it) readable and writable by this user only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)
    return path
