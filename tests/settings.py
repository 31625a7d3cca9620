"""Settings for the test suite: the real ones, with the test services as defaults.

``make test`` exports the same values (scripts/test.sh); this module gives a bare ``pytest`` the
same real PostgreSQL and Redis instead of the embedded default.
"""

import os
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mastery")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

# Under pytest-xdist each process gets its own Redis database (the next ones after the given
# one) and media folders; pytest-django gives it its own test database. Set in os.environ so
# the Celery worker processes the tests start inherit them.
# Applied once: the Celery workers the tests start inherit both variables and import this too.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and os.environ.get("TEST_SETTINGS_WORKER") != _WORKER:
    os.environ["TEST_SETTINGS_WORKER"] = _WORKER
    _index = int(_WORKER[2:])
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    os.environ["REDIS_URL"] = f"{_base}/{(int(_db or 0) + _index) % 16}"
    _data = os.environ.get("DATA_DIR") or str(Path(__file__).resolve().parent.parent / "data")
    os.environ["MEDIA_ROOT"] = os.path.join(_data, "test", _WORKER, "media")
    os.environ["REPORTS_ROOT"] = os.path.join(_data, "test", _WORKER, "reports")

from config.settings import *  # noqa: E402, F403
