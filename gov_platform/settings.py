"""Settings, read from the environment (twelve-factor, as cookiecutter-django).

With no environment at all the platform runs on embedded defaults: a SQLite
file and a file-system Celery broker under ``var/``, so the demo needs no
server. ``DJANGO_ENV=production`` switches on the hardened configuration.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    # No fallback: a production process must never start with a known key.
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-key-grid-governance-not-for-production-0123456789")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base of links in emails (escalation digests, rating invitations).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "gov_platform.admin_apps.PlatformAdminConfig",  # django.contrib.admin, lookup allow-list site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "django_fsm_log",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "gov_platform",
    "grids",
    "accounts",
    "outbox",
    "cases",
    "metrics",
    "demo",
]

MIDDLEWARE = [
    # Before all: every record written while answering carries the request's id.
    "gov_platform.logs.RequestIdMiddleware",
    # First, so the time includes every other middleware.
    "gov_platform.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before anything reads the body (its message is in the default language: the locale needs the user).
    "gov_platform.middleware.RequestSizeLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The locale after authentication: the back office speaks the user's saved language.
    "accounts.language.UserLanguageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages: it tells the user why they were logged out.
    "accounts.sessions.IdleSessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After the view: a request that may have changed the user's own to-do drops their kept header counts.
    "cases.todo_badges.TodoBadgesMiddleware",
    "gov_platform.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gov_platform.urls"
WSGI_APPLICATION = "gov_platform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions let the web server, worker and beat share
    # the embedded database without "database is locked" errors.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so a Celery worker started by a test sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters travel apart from the SQL, so that a statement a connection runs again is prepared once:
    # PostgreSQL parsed and planned each of a report's statements anew, and preparing them took a third off its
    # CPU per report. DATABASE_PREPARE_THRESHOLD=0 behind a pooler in transaction mode, which cannot keep a
    # connection's prepared statements.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("server_side_binding", env.bool("DATABASE_SERVER_SIDE_BINDING", default=True))
    if _options["server_side_binding"]:
        _options.setdefault("prepare_threshold", env.int("DATABASE_PREPARE_THRESHOLD", default=5) or None)
# A streaming replica of the same database for dashboards, KPI figures and exports (gov_platform.db_router);
# writes and everything else stay on "default". In tests it mirrors the test database.
REPLICA_DATABASE_URL = env.str("REPLICA_DATABASE_URL", default="")
if REPLICA_DATABASE_URL:
    _replica = env.db("REPLICA_DATABASE_URL")
    DATABASES["replica"] = {
        **_replica,
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {**DATABASES["default"].get("OPTIONS", {}), **_replica.get("OPTIONS", {})},
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["gov_platform.db_router.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# 等保 2.0 level 3: length, mixed kinds of character, not the username, not reused.
PASSWORD_MIN_LENGTH = env.int("PASSWORD_MIN_LENGTH", default=10)
PASSWORD_HISTORY_COUNT = env.int("PASSWORD_HISTORY_COUNT", default=5)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "accounts.passwords.CharacterClassesValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.passwords.PasswordHistoryValidator"},
]

# Two-factor login (accounts.twofactor): required for these roles' posts and for
# superusers, open to every other official.
OTP_REQUIRED_ROLES = env.list("OTP_REQUIRED_ROLES", default=["district_staff"])
OTP_REQUIRED_GROUPS = env.list("OTP_REQUIRED_GROUPS", default=["security_auditor", "security_admin", "privacy_officer"])
OTP_REQUIRED_FOR_SUPERUSERS = env.bool("OTP_REQUIRED_FOR_SUPERUSERS", default=True)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="网格化治理平台")
# Device keys never appear in django-otp's own admin pages.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# An admin session idle this long is logged out (accounts.sessions).
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30)

# Login lockout: five failures for one username from one address lock that
# pair for 30 minutes, so an attacker cannot lock a colleague out from afar.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0) or None

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Folders the embedded defaults write to; gov_platform's AppConfig.ready creates them (whitenoise
# warns on every request without the static folder, the file broker needs its queues).
LOCAL_DIRS = [STATIC_ROOT]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CASE_PHOTO_MAX_BYTES = env.int("CASE_PHOTO_MAX_BYTES", default=8 * 1024 * 1024)
CASE_PHOTOS_PER_UPLOAD = 3
# Training rotation (accounts/training.py): a grid worker is due when no passed course lies within this many days.
TRAINING_INTERVAL_DAYS = env.int("TRAINING_INTERVAL_DAYS", default=365)
# The largest request: a case with its photos and a margin for the form. A larger declared body
# is refused with 413 before it is read (RequestSizeLimitMiddleware); an upload handler stops
# one that runs past it. Form fields other than files stay under Django's 2.5 MB, and a file
# larger than that goes to a temporary file instead of memory.
MAX_REQUEST_BYTES = env.int(
    "MAX_REQUEST_BYTES", default=CASE_PHOTOS_PER_UPLOAD * CASE_PHOTO_MAX_BYTES + 2 * 1024 * 1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_HANDLERS = [
    "gov_platform.uploads.RequestSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Maps -------------------------------------------------------------------
# Maps draw the grids' polygons on a plain background (Leaflet, served from grids/static); a
# deployment with a tile server names it, e.g. "https://tiles.example.gov.cn/{z}/{x}/{y}.png",
# and the Content-Security-Policy below admits images from its origin.
MAP_TILE_URL = env.str("MAP_TILE_URL", default="")
MAP_TILE_ATTRIBUTION = env.str("MAP_TILE_ATTRIBUTION", default="")
# The officials' map shows "all states" and finished states for this many days back unless a period is chosen.
MAP_HISTORY_DAYS = env.int("MAP_HISTORY_DAYS", default=30)
# A new report is first shown the open cases of its category this close (metres) and this recent (days).
NEARBY_CASE_METRES = env.int("NEARBY_CASE_METRES", default=50)
NEARBY_CASE_DAYS = env.int("NEARBY_CASE_DAYS", default=30)
# Hotspots (综合研判, cases/hotspots.py): cases of one category this close, in this many days (ranked against
# the same number of days before), at least this many to count.
HOTSPOT_METRES = env.int("HOTSPOT_METRES", default=100)
HOTSPOT_DAYS = env.int("HOTSPOT_DAYS", default=90)
HOTSPOT_MIN_CASES = env.int("HOTSPOT_MIN_CASES", default=3)
# How long an area's hotspot list is reused by everyone reading the area (0: computed on every view).
HOTSPOT_CACHE_SECONDS = env.int("HOTSPOT_CACHE_SECONDS", default=600)
# An area's dashboard and KPI answer are computed once for everyone reading them and kept this long (0: every time).
FIGURES_CACHE_SECONDS = env.int("FIGURES_CACHE_SECONDS", default=60)
# Dashboards read in this many seconds are renewed by beat before they expire, so officials read a kept one
# (metrics.selectors.warm_dashboards; 0: each is computed by its first reader after the expiry).
DASHBOARD_WARM_SECONDS = env.int("DASHBOARD_WARM_SECONDS", default=600)
# An official's header to-do counts are kept this long (0: read on every page); their own steps drop them at
# once (cases/todo_badges.py), others' steps show within this.
TODO_CACHE_SECONDS = env.int("TODO_CACHE_SECONDS", default=30)
# The admin sidebar, kept per official, permissions, scope, language and page (gov_platform/admin_nav.py).
NAV_CACHE_SECONDS = env.int("NAV_CACHE_SECONDS", default=60)
_MAP_TILE_ORIGIN = "{0.scheme}://{0.netloc}".format(urlsplit(MAP_TILE_URL.replace("{s}", "a"))) if MAP_TILE_URL else ""

# --- Content-Security-Policy (django-csp) -------------------------------------
# Scripts only from the platform's own files or carrying the page's nonce; no plugins, no
# framing, no foreign form targets. <style> elements likewise; style attributes stay allowed
# (they cannot run script, and the admin's coloured badges use them). data: images are
# Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.NONCE],
        "style-src-elem": [csp.SELF, csp.NONCE],
        "style-src-attr": [csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:", *([_MAP_TILE_ORIGIN.replace("://a.", "://*.")] if _MAP_TILE_ORIGIN else [])],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}

# --- Security audit log -----------------------------------------------------
# 等保 2.0 level 3 keeps the log at least 180 days; a shorter setting stops the process here.
SECURITY_LOG_RETENTION_DAYS = env.int("SECURITY_LOG_RETENTION_DAYS", default=180)
if SECURITY_LOG_RETENTION_DAYS < 180:
    raise ImproperlyConfigured(
        f"SECURITY_LOG_RETENTION_DAYS is {SECURITY_LOG_RETENTION_DAYS}: the security audit log must be kept "
        "at least 180 days (等保 2.0 level 3). Set 180 or more."
    )

# --- Broker, cache, email -------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
    CELERY_RESULT_BACKEND = REDIS_URL
    CACHES = {
        "default": {
            "BACKEND": "gov_platform.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="gov"),
        }
    }
else:
    LOCAL_DIRS += [BROKER_DIR / sub for sub in ("queue", "processed", "results", "control")]
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{BROKER_DIR / 'results'}"
    # A file cache, unlike local memory, is shared by the web, worker and beat
    # processes, so rate limits and heartbeats hold across them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Later features add their periodic tasks here.
BEAT_TICK_SECONDS = env.float("BEAT_TICK_SECONDS", default=60.0)
# /healthz/ answers 503 when beat's heartbeat or the outbox's oldest pending notification is older than these.
HEALTH_BEAT_MAX_AGE_SECONDS = env.float("HEALTH_BEAT_MAX_AGE_SECONDS", default=max(5 * BEAT_TICK_SECONDS, 300.0))
HEALTH_OUTBOX_MAX_AGE_SECONDS = env.float("HEALTH_OUTBOX_MAX_AGE_SECONDS", default=1800.0)
HEALTH_OUTBOX_BACKLOG = "outbox.health.backlog"
# /metrics (Prometheus): with a token, only "Authorization: Bearer <token>"; without one, loopback only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_OPEN_ON_LOOPBACK = env.bool("METRICS_OPEN_ON_LOOPBACK", default=not REDIS_URL)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "gov_platform.tasks.heartbeat", "schedule": BEAT_TICK_SECONDS},
    # The sweep's own interval is set in the admin (WorkflowSettings); beat only ticks.
    "sweep-deadlines": {"task": "cases.tasks.sweep_deadlines", "schedule": BEAT_TICK_SECONDS},
    # Picks up whatever the outbox holds, e.g. rows written while the broker was down.
    "deliver-notifications": {"task": "outbox.tasks.deliver_notifications", "schedule": BEAT_TICK_SECONDS},
    # Fed-back cases no one rated within WorkflowSettings.rating_window_days are closed as unrated.
    "close-unrated-cases": {"task": "cases.tasks.close_unrated_cases", "schedule": BEAT_TICK_SECONDS * 10},
    # Suspended cases whose review date has come are handled again (cases.extensions).
    "resume-suspended-cases": {"task": "cases.tasks.resume_suspended_cases", "schedule": BEAT_TICK_SECONDS * 10},
    # Last month's safety index, recorded once: the 2nd and 3rd only catch up a missed 1st.
    "snapshot-safety-index": {
        "task": "metrics.tasks.snapshot_safety_index",
        "schedule": crontab(minute=30, hour=0, day_of_month="1-3"),
    },
    # Last month's appraisal, after its safety index (which it reads); recorded once like it.
    "record-appraisal": {
        "task": "metrics.tasks.record_appraisal",
        "schedule": crontab(minute=50, hour=0, day_of_month="1-3"),
    },
    # Roll-ups: only the (day, grid) buckets cases changed in since the last tick (metrics.rollups).
    "refresh-rollups": {"task": "metrics.tasks.refresh_rollups", "schedule": BEAT_TICK_SECONDS},
    "warm-hotspots": {
        "task": "metrics.tasks.warm_hotspots",
        "schedule": max(HOTSPOT_CACHE_SECONDS // 2, BEAT_TICK_SECONDS),
    },
    # The dashboards officials are reading, computed and their panels rendered before they expire.
    "warm-dashboards": {
        "task": "metrics.tasks.warm_dashboards",
        "schedule": FIGURES_CACHE_SECONDS / 2 or BEAT_TICK_SECONDS,
    },
    "purge-exports": {"task": "metrics.tasks.purge_exports", "schedule": crontab(minute=15, hour=3)},
    "purge-security-events": {"task": "accounts.tasks.purge_security_events", "schedule": crontab(minute=45, hour=3)},
    # Signatures of accepted callbacks past twice the clock window (cases/webhooks.py).
    "purge-callback-signatures": {"task": "cases.tasks.purge_callback_signatures", "schedule": crontab(minute=25)},
    # Idempotency keys past their 24 h window (accounts/idempotency.py).
    "purge-idempotency-keys": {"task": "accounts.tasks.purge_idempotency_keys", "schedule": crontab(minute=20)},
    # Photos chosen on /report/ or the admin's add-case page for a case never filed, past PHOTO_KEEP_HOURS
    # (cases/kept_photos.py).
    "purge-pending-photos": {"task": "cases.tasks.purge_pending_photos", "schedule": crontab(minute=35)},
    # Sessions past their expiry (Django's clearsessions): officials', and residents' kept-photo sessions.
    "purge-expired-sessions": {"task": "accounts.tasks.purge_expired_sessions", "schedule": crontab(minute=5, hour=3)},
    # PIPL: residents' contacts of cases finished more than CONTACT_RETENTION_DAYS ago are erased.
    "erase-expired-contacts": {"task": "cases.tasks.erase_expired_contacts", "schedule": crontab(minute=45, hour=2)},
    # Mediated disputes 30 days after their outcome: the mediators are reminded of the visit, once (cases.mediation).
    "remind-mediation-follow-ups": {
        "task": "cases.tasks.remind_mediation_follow_ups",
        "schedule": crontab(minute=0, hour="8-17"),
    },
}
# Publishing must fail fast when the broker is down: the outbox keeps the work.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# The demo turns this off so the worker's console backends print to the terminal, not into its log file.
CELERY_WORKER_REDIRECT_STDOUTS = env.bool("CELERY_WORKER_REDIRECT_STDOUTS", default=True)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# A backend class in place of the URL's (the demo's readable console: scripts/run_demo.sh).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_BACKEND)  # noqa: F821 (set by EMAIL_CONFIG)
if env.str("EMAIL_FILE_PATH", default=""):
    # For filemail://: django-environ reads the URL's path as relative, so an absolute one is given here.
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="网格化治理平台 <noreply@grid.example.gov.cn>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Resident pages ---------------------------------------------------------
# Text messages (rating links): a class with send(to, text); the default only logs them.
SMS_BACKEND = env.str("SMS_BACKEND", default="outbox.backends.sms.LoggingBackend")
# Webhooks to external systems (outbox/backends/webhook.py, cases/webhooks.py): the transport, how long a
# subscriber may take to answer, and how far a signed callback's timestamp may be from our clock.
WEBHOOK_BACKEND = env.str("WEBHOOK_BACKEND", default="outbox.backends.webhook.HttpBackend")
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_TOLERANCE_SECONDS = env.int("WEBHOOK_TOLERANCE_SECONDS", default=300)
# (requests, seconds) per client address or per contact, counted on the shared cache.
RESIDENT_RATE_LIMITS = {
    "report_ip": (env.int("RESIDENT_REPORTS_PER_IP_HOUR", default=10), 3600),
    "report_contact": (env.int("RESIDENT_REPORTS_PER_CONTACT_HOUR", default=5), 3600),
    "rate_ip": (env.int("RESIDENT_RATINGS_PER_IP_HOUR", default=30), 3600),
    "track_ip": (env.int("RESIDENT_TRACKING_PER_IP_HOUR", default=300), 3600),
}
# The same text from the same contact within this many seconds is a duplicate.
RESIDENT_DUPLICATE_WINDOW = env.int("RESIDENT_DUPLICATE_WINDOW", default=30 * 60)
# Photos chosen on /report/ or the admin's add-case page are kept while the form comes back
# (cases/kept_photos.py); unused ones are purged this many hours after their upload. The variable's
# earlier name, from when only /report/ kept photos, still counts.
PHOTO_KEEP_HOURS = env.int("PHOTO_KEEP_HOURS", default=env.int("RESIDENT_PHOTO_KEEP_HOURS", default=24))
# PIPL: days a resident's contact (name, phone, email) is kept after the case is finished
# (rated, closed unrated or dismissed); then the retention job erases it. The report form says so.
CONTACT_RETENTION_DAYS = env.int("CONTACT_RETENTION_DAYS", default=180)

# --- Figures ------------------------------------------------------------------
# A case-list export up to this many rows is built in the request; a larger one by a worker.
METRICS_INLINE_EXPORT_ROWS = env.int("METRICS_INLINE_EXPORT_ROWS", default=2000)

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ExpiringTokenAuthentication",
        "accounts.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "gov_platform.api_schema.AutoSchema",
    "EXCEPTION_HANDLER": "gov_platform.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
    },
}
# Open311 GeoReport v2 (cases/open311): the one jurisdiction served; a request naming another is 404.
OPEN311_JURISDICTION_ID = env.str("OPEN311_JURISDICTION_ID", default="weicheng.gov.cn")
# An API token stops working this long after it was issued; logging in again gives a new one.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=24 * 7)
# The intake of external systems (cases/intake.py): a JSON event is small, a larger body is refused (413)
# and logged for the system; events older than this are refused; a system's own rate (a video burst).
INTAKE_MAX_BYTES = env.int("INTAKE_MAX_BYTES", default=64 * 1024)
INTAKE_MAX_AGE_HOURS = env.int("INTAKE_MAX_AGE_HOURS", default=72)
INTAKE_THROTTLE = env.str("API_THROTTLE_INTAKE", default="60000/min")
# A retried POST with the same Idempotency-Key within this window gets the first answer (accounts/idempotency.py).
IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", default=24)
SPECTACULAR_SETTINGS = {
    "TITLE": "Grid governance platform API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # Operation ids and tags are taken from the path after /api/v1 (Open311's /open311/v2/ paths name theirs).
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Separate request components, so uploads are documented as binary files rather than URLs.
    "COMPONENT_SPLIT_REQUEST": True,
    # The same choices appear under several field names (status, target; dismiss_reason, reason).
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.Status",
        "DismissReasonEnum": "cases.models.DismissReason",
        "VisitKindEnum": "cases.models.VisitKind",
    },
    # What the platform POSTs to external systems (cases/webhooks.py): listed under "x-webhooks".
    "WEBHOOKS": ["cases.api.intake.CASE_STATE_WEBHOOK"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gov_platform.api_schema.webhooks_as_extension",
    ],
}

# LOG_FORMAT=json: one JSON object per line with the request id (gov_platform.logs); text is the demo's default.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "gov_platform.logs.RequestIdFilter"}},
    "formatters": {"json": {"()": "gov_platform.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Production hardening ---------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe health over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_REFERRER_POLICY = "same-origin"
