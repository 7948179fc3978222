"""Django settings: one module, driven by environment variables.

With no variables set, the project runs embedded: SQLite, a SQLite-backed Celery broker and mail
written to files, all under ``var/``. Setting ``DATABASE_URL``, ``CELERY_BROKER_URL`` and
``EMAIL_URL`` moves it onto PostgreSQL, Redis and SMTP. The README lists every variable.

One cohesive thing, and so one module: every setting, read from the environment in one place.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import django.conf.locale
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import (
    env_bool,
    env_broker,
    env_database,
    env_email,
    env_int,
    env_keyring,
    env_list,
    env_str,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
# Checks silenced on purpose; each append below says why.
SILENCED_SYSTEM_CHECKS: list[str] = []
SECRET_KEY = secret_key("SECRET_KEY", VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_ratelimit",
    "axes",
    # The staff second factor (staff_auth/two_factor.py); before staff_auth, whose admin
    # replaces the plugin's.
    "django_otp",
    "django_otp.plugins.otp_totp",
    # The tracker, lowest layer first (docs/architecture.md): staff sign-in, the policies, the
    # request lifecycle, the subject-data registry, the rights that act on the data, OpenDSR.
    # Beneath them all, the outbox through which each of them queues work for the broker.
    "outbox",
    "staff_auth",
    "policies",
    "requests_app",
    "subject_data",
    "exports",
    "corrections",
    "retention",
    "effects",
    "announcements",
    "erasure",
    "systems",
    "opendsr",
    # The sample host system: outside the tracker, it registers itself with subject_data.
    "pos",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # ?lang= links and each organisation's default language (config/locale.py).
    "config.locale.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A NUL or an impossible admin date in a page's query is a 400, not a 500 (config/guards.py).
    "config.guards.InputGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Whether this session's log-in was confirmed with an authenticator code, and holding a
    # staff session that needs one to the set-up page (staff_auth/middleware.py).
    "django_otp.middleware.OTPMiddleware",
    "staff_auth.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out log-in into the lockout page (429).
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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
_database = env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the web server and the worker write to one file.
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    _database["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
# The external systems' databases are added at run time (systems/connections.py); the router
# sends their models there and never migrates anything in them.
DATABASE_ROUTERS = ["systems.connections.SystemsRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out log-in before the password is looked at (staff_auth/lockout.py).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Staff log-in lockout (django-axes; staff_auth/lockout.py): failed admin log-ins and API tokens
# count per username at an address and per address (the rate limits' client address: IPv6 by /64).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 20, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "staff_auth.lockout.LockoutHandler"
AXES_LOCKOUT_CALLABLE = "staff_auth.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "requests_app.limits.client_key"
# A successful log-in forgets its own failures (only those: see LockoutHandler).
AXES_RESET_ON_SUCCESS = True
# Keep failures only while they count (no log of every log-in or failure: staff personal data
# with no retention rule); officers see them in the admin through staff_auth's own page.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
# Two-step log-in for staff (TOTP; staff_auth/two_factor.py): "optional", "officers" (privacy
# officers and superusers must use it) or "all" (every staff member must).
STAFF_TWO_FACTOR = env_str("STAFF_TWO_FACTOR", "optional")
if STAFF_TWO_FACTOR not in ("optional", "officers", "all"):
    raise ImproperlyConfigured(
        f"STAFF_TWO_FACTOR must be optional, officers or all, not {STAFF_TWO_FACTOR!r}"
    )
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "DSR Tracker")
# The admin never shows a device's key after it was set up.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Staff API tokens: how long a new one is valid unless its creator says otherwise, and at most.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90, minimum=1)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365, minimum=1)

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("ru", _("Russian")),
    ("uz", _("Uzbek")),
    # Uzbek in Cyrillic script, for organisations that write Uzbek in it (config/locale.py).
    ("uz-cyrl", _("Uzbek (Cyrillic)")),
    ("az", _("Azerbaijani")),
    ("ur", _("Urdu")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Django knows no "uz-cyrl"; the switcher shows each language by its own name, and Django's
# Azerbaijani entry wrongly says it is written right to left.
django.conf.locale.LANG_INFO.update(
    {
        "uz": {**django.conf.locale.LANG_INFO["uz"], "name_local": "Oʻzbekcha"},  # noqa: RUF001
        "uz-cyrl": {
            "bidi": False,
            "code": "uz-cyrl",
            "name": "Uzbek (Cyrillic)",
            "name_local": "Ўзбекча",
        },
        "az": {**django.conf.locale.LANG_INFO["az"], "bidi": False},
    }
)
# Date formats Django lacks: Uzbek in Cyrillic script, and Urdu (day before month).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and uploads -------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    # Export packages (subjects' personal data): never served by URL, only streamed by the
    # download views. On S3 with django-storages: {"BACKEND": "storages.backends.s3.S3Storage",
    # "OPTIONS": {"bucket_name": ..., "location": "exports", "default_acl": "private"}}.
    "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT / "exports"},
    },
}

# --- Email --------------------------------------------------------------------------------------
_email = env_email("EMAIL_URL", f"filemail://{VAR_DIR / 'mail'}")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
if "EMAIL_FILE_PATH" in _email:
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "DSR Tracker <privacy@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security -----------------------------------------------------------------------------------
# Behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER=true so Django trusts its header.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe the health endpoint over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if not SECURE_HSTS_PRELOAD:
        # Turning preload off is a deliberate operator choice; the check would only repeat it.
        SILENCED_SYSTEM_CHECKS.append("security.W021")

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- REST framework -----------------------------------------------------------------------------
# Systems authenticate with a staff API token (staff_auth: hashed, named, expiring), browsers
# with their admin session. Each view names its own permissions and throttles; these are the safe
# defaults.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.StaffTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "api.pagination.RequestCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.UserThrottle"],
    # Per client address for the public endpoints, per user for staff, per controller for OpenDSR
    # (whose spec asks processors not to throttle in normal operation, hence the generous rate).
    "DEFAULT_THROTTLE_RATES": {
        "public": env_str("API_RATE_PUBLIC", "60/min"),
        "user": env_str("API_RATE_USER", "600/min"),
        "opendsr": env_str("API_RATE_OPENDSR", "600/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# The OpenAPI schema at /api/schema/; its docs at /api/docs/ and /api/redoc/ use the Swagger UI
# and Redoc files of drf-spectacular-sidecar, served as our own static files (no CDN).
SPECTACULAR_SETTINGS = {
    "TITLE": "DSR Tracker API",
    "DESCRIPTION": (
        "File and follow data subject requests (public endpoints), work the request queue "
        "(staff endpoints), and receive requests from controllers through OpenDSR v2 (/v1/)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1|/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RequestStatusEnum": "requests_app.models.RequestStatus",
        "RequestTypeEnum": "policies.models.RequestType",
        "OpenDSRStatusEnum": "opendsr.models.OpenDSRStatus",
        "OpenDSRRequestTypeEnum": "opendsr.models.OpenDSRType",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Enum names as drf-spectacular's default, then the links between staff operations.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema_links.link_staff_operations",
    ],
}

# --- OpenDSR ------------------------------------------------------------------------------------
# The processor's signing key and CA-issued certificate (PEM), usually given as files:
# OPENDSR_PRIVATE_KEY_FILE and OPENDSR_CERTIFICATE_FILE. Without them a key and a self-signed
# certificate are generated once into OPENDSR_KEY_FILE, good for evaluation only.
OPENDSR_PRIVATE_KEY = env_str("OPENDSR_PRIVATE_KEY", "")
OPENDSR_CERTIFICATE = env_str("OPENDSR_CERTIFICATE", "")
OPENDSR_KEY_FILE = VAR_DIR / "opendsr-processor.pem"
# The domain the certificate is issued for, sent in X-OpenDSR-Processor-Domain.
OPENDSR_PROCESSOR_DOMAIN = env_str(
    "OPENDSR_PROCESSOR_DOMAIN", urlsplit(SITE_URL).hostname or "localhost"
)
# Callbacks go over HTTPS only, unless this is on (local evaluation with `make run`).
OPENDSR_CALLBACK_ALLOW_HTTP = env_bool("OPENDSR_CALLBACK_ALLOW_HTTP", DEBUG)
OPENDSR_CALLBACK_TIMEOUT_SECONDS = env_int("OPENDSR_CALLBACK_TIMEOUT_SECONDS", 10, minimum=1)

# --- Celery -------------------------------------------------------------------------------------
# Every Celery option lives here under the CELERY_ prefix; config/celery.py only loads them.
CELERY_BROKER_URL = env_broker(
    "CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
_redis_broker = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND",
    CELERY_BROKER_URL if _redis_broker else f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}",
)
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# A task is acknowledged only once it has finished, so a worker killed mid-task leaves it queued.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 10 * 60, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
# Redis hands an unacknowledged task to another worker after the visibility timeout; it must be
# longer than the longest task or a slow task would run twice at once.
# (The SQLAlchemy transport hands its options to create_engine, so it gets none.)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 3} if _redis_broker else {}
)
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The outbox (outbox/relay.py): queued work is written in the transaction that asks for it and
# relayed to the broker on commit. A relay tries the broker once, within this many seconds, and
# after a failure a process leaves sending to the beat job for a pause, so pages never wait on a
# broker that is down. Sent messages are kept a few days for the record, then deleted.
OUTBOX_BROKER_TIMEOUT_SECONDS = env_int("OUTBOX_BROKER_TIMEOUT_SECONDS", 2, minimum=1)
OUTBOX_BROKER_PAUSE_SECONDS = env_int("OUTBOX_BROKER_PAUSE_SECONDS", 30)
OUTBOX_KEEP_SENT_DAYS = env_int("OUTBOX_KEEP_SENT_DAYS", 7, minimum=1)
# Long work (export builds, purge steps of erasures and retention) records a heartbeat every 30 s;
# a beat job every minute hands work whose heartbeat stopped this many minutes ago (its worker was
# killed) to another worker, instead of waiting for the broker's visibility timeout.
WORK_STALL_MINUTES = env_int("WORK_STALL_MINUTES", 3, minimum=1)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The schedule is code: keys say when and what. The lifecycle jobs join as their issues land.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Safety net: status callbacks are queued on commit; this finds any whose task was lost.
    "every-5-minutes-send-opendsr-status-callbacks": {
        "task": "opendsr.dispatch_status_callbacks",
        "schedule": crontab(minute="*/5"),
    },
    "every-hour-expire-unverified-requests": {
        "task": "requests_app.expire_unverified_requests",
        "schedule": crontab(minute=17),
    },
    "every-15-minutes-send-deadline-reminders": {
        "task": "requests_app.send_deadline_reminders",
        "schedule": crontab(minute="*/15"),
    },
    # Also deletes discarded packages' files and re-queues builds whose worker died.
    "every-hour-delete-expired-exports": {
        "task": "exports.delete_expired_exports",
        "schedule": crontab(minute=23),
    },
    # Advance notices, then a purge run per retention rule in force; ends expired legal holds.
    "every-day-at-0300-apply-retention-rules": {
        "task": "retention.apply_retention_rules",
        "schedule": crontab(hour=3, minute=0),
    },
    "every-10-minutes-execute-due-erasures": {
        "task": "erasure.execute_due_erasures",
        "schedule": crontab(minute="*/10"),
    },
    # Take over purge steps (of erasures and retention runs) and export builds whose heartbeat
    # stopped WORK_STALL_MINUTES ago: their worker died.
    "every-minute-resume-stalled-purges": {
        "task": "retention.resume_stalled_purges",
        "schedule": crontab(),
    },
    "every-minute-resume-stalled-export-builds": {
        "task": "exports.resume_stalled_builds",
        "schedule": crontab(),
    },
    "every-day-at-0330-anonymise-closed-requests": {
        "task": "retention.anonymise_closed_requests",
        "schedule": crontab(hour=3, minute=30),
    },
    # Signs every audit chain's head into a file outside the database (README, "Audit trail").
    # The outbox: what the broker did not take on commit (it was down, or a relay died).
    "every-30-seconds-send-pending-outbox-messages": {
        "task": "outbox.send_pending",
        "schedule": 30.0,
    },
    "every-day-at-0415-purge-sent-outbox-messages": {
        "task": "outbox.purge_sent",
        "schedule": crontab(hour=4, minute=15),
    },
    "every-day-at-0230-take-audit-checkpoint": {
        "task": "requests_app.take_audit_checkpoint",
        "schedule": crontab(hour=2, minute=30),
    },
    # Systems' tasks: due retries are woken, owners reminded, overdue and exhausted tasks flagged
    # for the officers ("Waiting on systems").
    "every-5-minutes-check-system-tasks": {
        "task": "systems.check_tasks",
        "schedule": crontab(minute="*/5"),
    },
}

# --- Cache and rate limits ---------------------------------------------------------------------
# The rate limits (requests_app/limits.py) count in the default cache, which every web process
# must share. With Redis it is Redis (database 1 unless CACHE_URL says otherwise, so clearing the
# cache never touches the broker's queues); embedded, a file cache under var/ shared by the
# processes on this machine.
if _redis_broker:
    CACHES = {
        "default": {
            # Counts in process memory while Redis is down, so no page fails (config/cache.py).
            "BACKEND": "config.cache.RedisCacheWithFallback",
            "LOCATION": env_str(
                "CACHE_URL", urlsplit(CELERY_BROKER_URL)._replace(path="/1").geturl()
            ),
            "KEY_PREFIX": "dsr",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # The file cache's counters are not atomic: under a burst a few extra requests may pass the
    # limit. Acceptable for the single-machine embedded default; production runs on Redis.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")
# django-ratelimit only knows django-redis by name; Django's own RedisCache increments with the
# atomic Redis INCR, which is what the check wants, so its "not officially supported" is noise.
SILENCED_SYSTEM_CHECKS.append("django_ratelimit.W001")
# How many proxies stand in front of the tracker, each appending to X-Forwarded-For the address it
# was reached from. 0: the socket's address is the client's and no header is believed (a client
# could write any). The form limits and the API throttles read it alike (requests_app/limits.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if env_str("RATELIMIT_IP_META_KEY", ""):
    raise ImproperlyConfigured(
        "RATELIMIT_IP_META_KEY is no longer read: set TRUSTED_PROXY_COUNT to the number of "
        "proxies in front of the tracker that append to X-Forwarded-For (README, Configuration)"
    )
RATELIMIT_REQUEST_PER_IP = env_str("RATELIMIT_REQUEST_PER_IP", "10/h")
RATELIMIT_REQUEST_PER_EMAIL = env_str("RATELIMIT_REQUEST_PER_EMAIL", "5/h")
RATELIMIT_NEW_LINK_PER_IP = env_str("RATELIMIT_NEW_LINK_PER_IP", "10/h")
RATELIMIT_NEW_LINK_PER_EMAIL = env_str("RATELIMIT_NEW_LINK_PER_EMAIL", "3/h")
RATELIMIT_LINK_OPEN_PER_IP = env_str("RATELIMIT_LINK_OPEN_PER_IP", "60/m")

# --- Audit trail --------------------------------------------------------------------------------
# Keys the database never holds: each audit event is sealed with the first (its id is recorded on
# the event), the older ones still check what they sealed. `id=secret` pairs; generated once into
# var/audit_keys when unset. Checkpoints of every chain are written to AUDIT_CHECKPOINT_DIR, which
# should live outside the database's reach, and mailed to the auditors when asked.
AUDIT_KEYS = env_keyring("AUDIT_KEYS", VAR_DIR / "audit_keys")
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit-checkpoints")))
AUDIT_CHECKPOINT_EMAIL = env_bool("AUDIT_CHECKPOINT_EMAIL", False)

# --- Subject requests ---------------------------------------------------------------------------
VERIFICATION_LINK_HOURS = env_int("VERIFICATION_LINK_HOURS", 72, minimum=1)
UNVERIFIED_REQUEST_DAYS = env_int("UNVERIFIED_REQUEST_DAYS", 7, minimum=1)
# How long a status link works after the email that carries it; a new link can be asked for while
# the request is open and for this long after it closed.
STATUS_LINK_DAYS = env_int("STATUS_LINK_DAYS", 90, minimum=1)
# How long a delivered export package can be downloaded; then its file is deleted.
EXPORT_LINK_DAYS = env_int("EXPORT_LINK_DAYS", 7, minimum=1)
# Rows fetched per round trip while streaming an export (bounds the worker's memory).
EXPORT_CHUNK_SIZE = env_int("EXPORT_CHUNK_SIZE", 2000, minimum=1)
# Staff are reminded when a request is due within this many days, and again once it is overdue.
REMINDER_DAYS_BEFORE = env_int("REMINDER_DAYS_BEFORE", 3, minimum=1)
# Days between approving an erasure and running it, in which the subject can cancel (shortened
# when the request's deadline comes first; 0 runs it at the next beat).
ERASURE_GRACE_DAYS = env_int("ERASURE_GRACE_DAYS", 7, minimum=0)
# Rows deleted or anonymised per purge transaction, and per purge task (a key range of a model:
# larger purges split into several tasks that workers share).
PURGE_BATCH_SIZE = env_int("PURGE_BATCH_SIZE", 5000, minimum=1)
PURGE_SLICE_ROWS = env_int("PURGE_SLICE_ROWS", 250_000, minimum=1)
# Systems' tasks (systems/handlers.py): each is due this many days before its request's deadline
# (never before it was created); attempts at a system that fails before the task waits for an
# officer; how long an owner's link works; the owner is reminded this many days before the task is
# due; the largest answer a system may give (an uploaded file or a JSON body).
SYSTEM_TASK_LEAD_DAYS = env_int("SYSTEM_TASK_LEAD_DAYS", 5, minimum=0)
SYSTEM_TASK_MAX_ATTEMPTS = env_int("SYSTEM_TASK_MAX_ATTEMPTS", 8, minimum=1)
SYSTEM_OWNER_LINK_DAYS = env_int("SYSTEM_OWNER_LINK_DAYS", 14, minimum=1)
SYSTEM_TASK_REMINDER_DAYS = env_int("SYSTEM_TASK_REMINDER_DAYS", 2, minimum=0)
SYSTEM_ANSWER_MAX_BYTES = env_int("SYSTEM_ANSWER_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# Systems reached over HTTP (docs/webhooks.md): the hosts their endpoints may be on (a system on
# another host is refused), plain http allowed (local evaluation only), timeouts for connecting and
# for each read, the longest a whole answer may take, and the window a signed message's timestamp
# must fall in (older or later ones are refused as replays).
SYSTEM_HTTP_ALLOWED_HOSTS = env_list(
    "SYSTEM_HTTP_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else []
)
SYSTEM_HTTP_ALLOW_HTTP = env_bool("SYSTEM_HTTP_ALLOW_HTTP", DEBUG)
SYSTEM_HTTP_CONNECT_TIMEOUT_SECONDS = env_int("SYSTEM_HTTP_CONNECT_TIMEOUT_SECONDS", 5, minimum=1)
SYSTEM_HTTP_READ_TIMEOUT_SECONDS = env_int("SYSTEM_HTTP_READ_TIMEOUT_SECONDS", 30, minimum=1)
SYSTEM_HTTP_ANSWER_SECONDS = env_int("SYSTEM_HTTP_ANSWER_SECONDS", 120, minimum=1)
SYSTEM_HTTP_REPLAY_SECONDS = env_int("SYSTEM_HTTP_REPLAY_SECONDS", 300, minimum=30)
# A PEM file of the certificate authorities to trust for systems' https (empty: certifi's roots).
SYSTEM_HTTP_CA_BUNDLE = env_str("SYSTEM_HTTP_CA_BUNDLE", "")
# Years a closed request is kept whole as evidence before the subject's details are removed.
CLOSED_REQUEST_EVIDENCE_YEARS = env_int("CLOSED_REQUEST_EVIDENCE_YEARS", 3, minimum=1)

# How long /healthz waits for each backing service before calling it down.
HEALTHZ_TIMEOUT_SECONDS = env_int("HEALTHZ_TIMEOUT_SECONDS", 3, minimum=1)
