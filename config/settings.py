"""Settings, every deployment difference read from the environment (see .env.example).

With nothing set the platform runs in its *embedded default*: a private PostgreSQL under
``data/postgres`` (``common/embedded_postgres.py``), Celery tasks on a worker whose messages wait
in ``data/broker`` (``make demo`` starts both), uploads in ``data/media``, debug on.
``DATABASE_URL`` names another PostgreSQL server and ``REDIS_URL`` a real broker served by real
workers. A bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from common.database_roles import APP_ROLE, OWNER_ROLE
from common.embedded_postgres import EmbeddedPostgres
from config.env import env

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.string("DATA_DIR", str(BASE_DIR / "data")))

EMBEDDED = not env.is_set("DATABASE_URL") and not env.is_set("REDIS_URL")
DEBUG = env.boolean("DEBUG", EMBEDDED)
_DEV_SECRET = "embedded-insecure-key-for-local-demo-only-0123456789abcdefghijklmnop"  # noqa: S105
SECRET_KEY = env.string("SECRET_KEY", _DEV_SECRET if EMBEDDED or DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set outside the embedded default")
# Older secret keys still accepted for signatures and for opening secrets sealed under them.
SECRET_KEY_FALLBACKS = env.strings("SECRET_KEY_FALLBACKS", [])
# Seals private signing keys and client secrets stored in the database (identity/sealing.py);
# blank: derived from SECRET_KEY.
IDENTITY_SEALING_KEY = env.string("IDENTITY_SEALING_KEY", "")
ALLOWED_HOSTS = env.strings("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.strings("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "learners",
    "standards",
    "evidence",
    "mastery",
    "reports",
    "audit",
    "privacy",
    "identity",
    "notifications",
    "badges",
    "moderation",
    "portal",
    "axes",
]

MIDDLEWARE = [
    "common.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Permissions-Policy on every response (common/security.py).
    "common.security.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL in the path, query or form fields: 400 before any database query (common/input.py).
    "common.input.BadInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (English or Spanish); a person's own choice wins (next but two).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "notifications.middleware.ChosenLanguageMiddleware",
    "common.security.IdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Below WhiteNoise: static files keep their long cache; every view's response is no-store.
    "common.security.NoStoreMiddleware",
    # One audit INSERT per request touching learner records (privacy/audit_reads.py).
    "privacy.audit_reads.AuditMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "common.context_processors.navigation",
            ],
        },
    },
]

# Without DATABASE_URL: the embedded PostgreSQL, on a Unix socket in its data folder. Commands
# that find it down say how to start it (manage.py); `make demo` starts it.
EMBEDDED_POSTGRES = None if env.is_set("DATABASE_URL") else EmbeddedPostgres(DATA_DIR / "postgres")
# Least privilege (common/database_roles.py, S14): the platform connects as DATABASE_URL's role,
# the application's (no superuser, DDL, TRUNCATE or trigger rights), and `manage.py migrate`
# as MIGRATION_DATABASE_URL's, the owner of the schema (the "owner" connection). The embedded
# server has both roles. Without MIGRATION_DATABASE_URL (a development server, the test suite)
# migrations run as DATABASE_URL's role, and DATABASE_APP_ROLE is granted to if it exists.
_OWNER: dict[str, Any] | None
if EMBEDDED_POSTGRES:
    DATABASES = {"default": EMBEDDED_POSTGRES.django_database(user=APP_ROLE)}
    _OWNER = EMBEDDED_POSTGRES.django_database(user=OWNER_ROLE)
else:
    DATABASES = {"default": env.database("DATABASE_URL")}
    _OWNER = (
        env.database("MIGRATION_DATABASE_URL") if env.is_set("MIGRATION_DATABASE_URL") else None
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DB_CONN_MAX_AGE", 0)
if _OWNER is not None:
    DATABASES["owner"] = {**_OWNER, "TEST": {"MIRROR": "default"}}
DATABASE_APP_ROLE = (
    DATABASES["default"]["USER"] if _OWNER else env.string("DATABASE_APP_ROLE", APP_ROLE)
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out login before any password is checked.
# Then local passwords (refused where the organisation turned them off) and single sign-on
# (OpenID Connect and LTI launches, identity.signin): identity/README.md.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "identity.backends.PasswordBackend",
    "identity.backends.SingleSignOnBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# Learners' and families' pages, notifications and transcripts; standards stay as published.
LANGUAGES = [("en", "English"), ("es", "Español")]
# Catalogues: locale/<lang>/LC_MESSAGES/django.po, compiled to .mo by the set-up (never committed).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.string("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
# Uploads live outside every served folder: they are only ever sent through permission-checked
# views as attachments, so there is deliberately no MEDIA_URL route.
MEDIA_ROOT = Path(env.string("MEDIA_ROOT", str(DATA_DIR / "media")))
REPORTS_ROOT = Path(env.string("REPORTS_ROOT", str(DATA_DIR / "reports")))
# A running report holds a lease renewed every third of it; one whose worker died is taken up
# again when it expires, at most REPORT_MAX_ATTEMPTS times in all (R12, reports/README.md).
REPORT_LEASE_SECONDS = env.integer("REPORT_LEASE_SECONDS", 60, minimum=1)
REPORT_MAX_ATTEMPTS = env.integer("REPORT_MAX_ATTEMPTS", 3, minimum=1)
# Children's records: files readable by the service's user only (common/files.py).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
UPLOAD_MAX_BYTES = env.integer("UPLOAD_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
# The largest ratings CSV file an import reads (page, API and command): imports stream, so this
# bounds the upload's temporary file on disk, not memory.
IMPORT_MAX_BYTES = env.integer("IMPORT_MAX_BYTES", 4 * 1024**3, minimum=1024)
# A roster whose skipped rows, or learners it would deactivate, exceed this share is refused
# whole (a truncated SIS export must not empty a district); an import may ask for another.
ROSTER_SAFETY_SHARE = env.integer("ROSTER_SAFETY_PERCENT", 5) / 100
# Ed-Fi state export: our level labels -> the state's CompetencyLevelDescriptor code values
# (Ed-Fi's defaults when unset: reports/edfi.py), "Label:Code" pairs separated by commas.
ED_FI_COMPETENCY_LEVELS = dict(
    pair.split(":", 1) for pair in env.strings("ED_FI_COMPETENCY_LEVELS", []) if ":" in pair
)
ED_FI_LEVEL_NAMESPACE = env.string(
    "ED_FI_LEVEL_NAMESPACE", "uri://ed-fi.org/CompetencyLevelDescriptor"
)
ED_FI_GRADING_PERIOD = env.string("ED_FI_GRADING_PERIOD", "")
# The CASE 1.1 REST read endpoints (/ims/case/v1p1/) answer anyone (frameworks hold no learner
# data); off: signed-in users only. Importing from a CASE provider fetches public hosts only
# unless CASE_FETCH_ALLOW_PRIVATE is on (a provider inside the district's own network).
CASE_PROVIDER_PUBLIC = env.boolean("CASE_PROVIDER_PUBLIC", True)
CASE_FETCH_ALLOW_PRIVATE = env.boolean("CASE_FETCH_ALLOW_PRIVATE", False)

MAILERS = {
    "default": (
        {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
        if EMBEDDED
        else {
            "BACKEND": env.string("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"),
            "OPTIONS": {
                "host": env.string("EMAIL_HOST", "localhost"),
                "port": env.integer("EMAIL_PORT", 25),
            },
        }
    )
}
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "no-reply@mastery.invalid")
# Where links in e-mails point (the address people reach the platform at).
SITE_URL = env.string("SITE_URL", "http://127.0.0.1:8000")

# --- Celery -------------------------------------------------------------------------------------
REDIS_URL = env.redis_url("REDIS_URL")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": env.integer("CELERY_VISIBILITY_TIMEOUT", 3600)
}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND: str | None = REDIS_URL
    # A request never waits on the broker (R11): common/queueing.send publishes through its own
    # connection with 0.2 s connect and read timeouts (a refused connection fails at once, a
    # hanging broker after 0.2 s). Work that could not be sent stays in the database for the
    # periodic sweeps. These options are the workers' and beat's (a read timeout here would
    # break the consumer's one-second BRPOP).
    CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = 0.5
    CELERY_BROKER_CONNECTION_TIMEOUT = 0.5
else:
    # Embedded default: the same tasks on a real worker (`make demo` starts one, with beat), the
    # messages kept as files in a folder (kombu's filesystem transport), so no broker server is
    # needed. Nobody reads task results: there is no result backend.
    BROKER_DIR = DATA_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "polling_interval": 0.5,
    }
    CELERY_RESULT_BACKEND = None
    for _folder in ("queue", "control"):  # the transport expects them to exist
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_DEFAULT_QUEUE = "mastery"
CELERY_TASK_ROUTES = {
    "mastery.tasks.bulk_*": {"queue": "bulk"},
    "reports.tasks.*": {"queue": "reports"},
    "mastery.tasks.*": {"queue": "mastery"},
}
# A killed worker must not lose the task it held (see ../shared/RELIABILITY.md R2).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers keep their database connection across tasks (Celery's Django fixup otherwise closes it
# after every task: a new PostgreSQL backend per recompute). One the server dropped is replaced
# before the next task (config/celery.py); every so many tasks it is renewed anyway.
CELERY_DB_REUSE_MAX = env.integer("CELERY_DB_REUSE_MAX", 1000)
# Results are stored only for the tasks that say someone reads them (common.tasks.ping): the
# Redis result backend's reconnect loop held a report request for 19 s with Redis down.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Re-queues dirty mastery markers whose message was lost (mastery/README.md).
    "sweep-stale-mastery": {"task": "mastery.tasks.sweep_stale_mastery", "schedule": 60.0},
    # The reports' outbox and leases: sends what the broker missed, re-queues a report whose
    # worker died (its lease expired), fails it after REPORT_MAX_ATTEMPTS (reports/README.md).
    "requeue-reports": {"task": "reports.tasks.requeue_reports", "schedule": 60.0},
    # Bulk recompute batches never sent (broker down) or lost (mastery/README.md).
    "requeue-bulk-batches": {"task": "mastery.tasks.requeue_bulk_batches", "schedule": 60.0},
    # Notification e-mails still pending after a lost message (notifications/README.md).
    "requeue-pending-emails": {
        "task": "notifications.tasks.requeue_pending_emails",
        "schedule": 120.0,
    },
    # Guardians' weekly digests (notifications/README.md); idempotent within an ISO week.
    "weekly-digests": {
        "task": "notifications.tasks.queue_weekly_digests",
        "schedule": crontab(hour=17, minute=0, day_of_week="fri"),
    },
}

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON nested too deep or holding NUL is a 400 (common/input.py), not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "common.input.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Refusals name the field as the key, not again inside the message (common/api.py).
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "common.throttling.AnonThrottle",
        "common.throttling.UserThrottle",
    ],
}
# The throttles count in the cache: Redis when configured (shared by every process), else this
# process's memory. They fail open when Redis is down (RELIABILITY.md R4); short timeouts and the
# throttles' back-off (common/throttling.py) keep a hanging Redis from slowing requests (R11).
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "mastery-cache",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Read at request time by common.security's throttles ("N/second|minute|hour|day").
API_THROTTLE_RATES = {
    "anon": env.string("API_THROTTLE_ANON", "120/minute"),
    "user": env.string("API_THROTTLE_USER", "1200/minute"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mastery tracking platform API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Every status code an operation answers is declared (common/api_schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.api_schema.declare_error_responses",
    ],
    # Swagger UI served by the platform itself (no CDN): see RELIABILITY.md S8.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set, so `check --deploy` is clean and clients get stable enum names.
    "ENUM_NAME_OVERRIDES": {
        "EvidenceKindEnum": "evidence.models.EvidenceKind",
        "ReportKindEnum": "reports.models.ReportKind",
        "MasteryStateEnum": "mastery.models.MasteryState",
        "ModerationRoundStatusEnum": "moderation.models.RoundStatus",
        "ModerationDecisionEnum": "moderation.models.RoundDecision",
    },
}

# --- Security (docs/decisions/0007-security-and-privacy.md) -------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, read with one plain statement (identity/sessions.py): the database
# stays the only copy, so signing out or a deactivated login ends the session everywhere at once.
SESSION_ENGINE = "identity.sessions"
# Signed out after this many seconds without a request (common.security.IdleTimeoutMiddleware).
SESSION_IDLE_TIMEOUT = env.integer("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.integer("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every page and file comes from our own origin: no CDN, no third-party script, style or font.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Logins: django-axes locks a username from one address after AXES_FAILURE_LIMIT failures for
# LOGIN_LOCKOUT_MINUTES; a success resets the count. Behind a proxy, set TRUSTED_PROXY_COUNT.
AXES_FAILURE_LIMIT = env.integer("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.integer("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# ...and an account from all addresses together after LOGIN_ACCOUNT_FAILURE_LIMIT failures within
# the cool-off (guessing from many addresses is bounded too): common.security.LoginThrottle.
AXES_HANDLER = "common.security.LoginThrottle"
LOGIN_ACCOUNT_FAILURE_LIMIT = env.integer("LOGIN_ACCOUNT_FAILURE_LIMIT", 20, minimum=1)
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_CLIENT_IP_CALLABLE = "common.security.client_ip"
AXES_LOCKOUT_TEMPLATE = "common/security/lockout.html"
# Failed attempts keep the request's parameters: never a single sign-on code or token.
AXES_SENSITIVE_PARAMETERS = ["code", "state", "id_token", "session_state", "login_hint",
                             "lti_message_hint"]  # fmt: skip
TRUSTED_PROXY_COUNT = env.integer("TRUSTED_PROXY_COUNT", 0)
if not DEBUG:
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logging: one JSON line per event, with the request id; never personal data ---------------
LOG_LEVEL = env.string("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "common.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's request logger prints the path, which may carry ids but never names; keep it.
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
