"""Settings for the test suite: the real ones, with the test services as defaults.

``make test`` exports the same values (scripts/test.sh); this module gives a bare ``pytest`` the
same real PostgreSQL and Redis instead of the embedded default.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mastery")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from config.settings import *  # noqa: F403
