"""The portal's only settings module: every value comes from the environment.

`PORTAL_ENV` picks the defaults:

- ``production`` (the default, so a forgotten variable fails closed): DEBUG off, SECRET_KEY
  and FIELD_ENCRYPTION_KEY required, hardened cookies and headers, Redis broker.
- ``demo``: what ``scripts/demo`` runs. SQLite and a Redis-free broker in a local data folder,
  keys created once and kept there, DEBUG on.
- ``test``: what ``scripts/test`` runs. Like demo, but the database and broker come from the
  environment the test command prepares.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("production", "demo", "test")
PORTAL_ENV = os.environ.get("PORTAL_ENV", "production").strip().lower()
if PORTAL_ENV not in ENVIRONMENTS:
    raise ImproperlyConfigured(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}")
IS_PRODUCTION = PORTAL_ENV == "production"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def required_in_production(name: str) -> str:
    value = env_str(name)
    if not value and IS_PRODUCTION:
        raise ImproperlyConfigured(
            f"{name} is not set. Production refuses to start without it; see .env.example "
            "(a local demo runs with scripts/demo, the tests with scripts/test)."
        )
    return value


# Demo and test keep their generated files (SQLite, broker folders, keys) here.
DATA_DIR = Path(env_str("PORTAL_DATA_DIR") or BASE_DIR / "var")


def local_secret(filename: str, make: Callable[[], str]) -> str:
    """A key the demo creates once and keeps, so sessions and encrypted tokens survive restarts."""
    path = DATA_DIR / filename
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = required_in_production("SECRET_KEY") or local_secret(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
# Comma-separated Fernet keys, newest first: MultiFernet encrypts with the first and still
# decrypts with the rest, which is how a key is rotated.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY", []) or (
    [] if IS_PRODUCTION else [local_secret("field_encryption_key", _fernet_key)]
)
if IS_PRODUCTION and not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set; see .env.example.")

DEBUG = env_bool("DEBUG", PORTAL_ENV == "demo")
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set; see .env.example.")
if IS_PRODUCTION:
    # The container health check asks gunicorn directly over loopback.
    ALLOWED_HOSTS += ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

INSTALLED_APPS = [
    # Django's admin with portal.admin.PortalAdminSite as `admin.site`, which audits sign-ins.
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "portal.core",
    "portal.accounts",
    "portal.jobs",
    "portal.audit",
    "portal.directory",
    "portal.links",
    "portal.webhooks",
    "portal.meetings",
    "portal.activity",
    "portal.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.audit.middleware.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.accounts.middleware.SessionLimitsMiddleware",
    # After the session limits, which may sign the person out first.
    "portal.middleware.ViewerTimeZoneMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "portal.accounts.roles.RoleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.HtmxMessagesMiddleware",
    # Last, as axes asks: it turns a sign-in the view marked as locked out into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
                "portal.accounts.context_processors.connection_alert",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL")
        or ("" if IS_PRODUCTION else f"sqlite:///{DATA_DIR / 'portal.sqlite3'}")
        or required_in_production("DATABASE_URL"),
        conn_max_age=env_int("CONN_MAX_AGE", 60 if IS_PRODUCTION else 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web server and worker write to one file at once. WAL lets readers run beside a
    # writer; IMMEDIATE takes the write lock at BEGIN, so a transaction that reads then writes
    # waits for the lock (up to `timeout`) instead of failing with "database is locked" when it
    # tries to upgrade its read lock.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background work (read by portal/celery.py through the CELERY_ prefix) ---------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
# Redis re-delivers an unacknowledged task only after this many seconds: it must exceed the
# longest task and every countdown, and Celery reads it from more than one place.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
if CELERY_BROKER_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT
    }
elif IS_PRODUCTION:
    raise ImproperlyConfigured("REDIS_URL is not set; see .env.example.")
else:
    # kombu's filesystem transport: a real broker between real processes, no server needed.
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = DATA_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
    }
# The cache every process shares: what one process clears (a worker's sync clearing what the
# members pages keep) is gone for all. Redis when there is one; the demo's folder otherwise.
# The tests keep it in each process: their database starts afresh, a shared cache would not.
CACHES: dict[str, dict[str, Any]]
if PORTAL_ENV == "test":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif REDIS_URL:
    CACHES = {
        "default": {
            # Fails open: with Redis down a page reads the database instead (portal/core/cache.py).
            "BACKEND": "portal.core.cache.ForgivingRedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that hangs (paused, a network partition) must not hang pages with it.
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
            "KEY_PREFIX": "portal",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The database is the record of every job; Celery results are never read back.
CELERY_TASK_IGNORE_RESULT = True
# Acknowledge after the task finishes and hand back the task of a process that died: every
# task must then be safe to run twice (jobs claim their rows before acting).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = CELERY_VISIBILITY_TIMEOUT // 2
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 30.0
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# How often beat refreshes every connected organization's mirror; 0 turns the schedule off
# (the Refresh button and `manage.py sync_org` still work).
MIRROR_SYNC_MINUTES = env_int("MIRROR_SYNC_MINUTES", 60)
if MIRROR_SYNC_MINUTES < 0:
    raise ImproperlyConfigured("MIRROR_SYNC_MINUTES must be 0 (off) or a number of minutes.")
CELERY_BEAT_SCHEDULE: dict[str, Any] = {}
if MIRROR_SYNC_MINUTES:
    CELERY_BEAT_SCHEDULE["directory.sync_all"] = {
        "task": "directory.sync_all",
        "schedule": MIRROR_SYNC_MINUTES * 60.0,
    }
# Shares' statuses (booked, expired, deleted in Calendly) for the link ledger: one listing per
# connected organization, a request per 100 shares.
SHARES_REFRESH_MINUTES = 15
CELERY_BEAT_SCHEDULE["links.refresh_all_shares"] = {
    "task": "links.refresh_all_shares",
    "schedule": SHARES_REFRESH_MINUTES * 60.0,
}
# --- Jobs (portal/jobs/engine.py) ---------------------------------------------------------
# A worker holds an item this long; if it dies, the item is claimable again after that. Longer
# than one item can take (Calendly's slowest answers and waits), shorter than people will wait.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 300)
# Claims of one item before it is failed (a worker dying on it each time, or Calendly failing).
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 6)
JOB_RETRY_BASE_SECONDS = env_int("JOB_RETRY_BASE_SECONDS", 2)
JOB_RETRY_CAP_SECONDS = env_int("JOB_RETRY_CAP_SECONDS", 120)
# A run works this long, then hands over to a new task: no task outlives the visibility timeout.
JOB_SLICE_SECONDS = env_int("JOB_SLICE_SECONDS", 60)
# Runs working on one job at once (each on a worker process); Calendly's budget is shared.
JOB_PARALLEL_RUNS = env_int("JOB_PARALLEL_RUNS", 2)
# A job with work due and no progress for this long is woken again by the sweeper.
JOB_STALL_SECONDS = env_int("JOB_STALL_SECONDS", 90)
JOB_SWEEP_SECONDS = env_int("JOB_SWEEP_SECONDS", 30)
# The longest countdown a wake-up may carry; waits beyond it live in the item rows.
JOB_LONGEST_WAKE_DELAY = env_int("JOB_LONGEST_WAKE_DELAY", 30)
# Jobs whose changes cannot be undone (offboarding, data deletion) wait, once started, for a
# second admin to approve them.
JOBS_NEED_APPROVAL = env_bool("JOBS_NEED_APPROVAL", False)
# Previews (a file read but not started) are kept this long.
JOB_DRAFT_HOURS = 24
if JOB_LONGEST_WAKE_DELAY * 2 > CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured("JOB_LONGEST_WAKE_DELAY must be under half the visibility timeout.")
if JOB_SLICE_SECONDS + JOB_LEASE_SECONDS > CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "JOB_SLICE_SECONDS plus JOB_LEASE_SECONDS must fit in the task time limit "
        "(half of CELERY_VISIBILITY_TIMEOUT, less a minute)."
    )
if min(JOB_LEASE_SECONDS, JOB_MAX_ATTEMPTS, JOB_SLICE_SECONDS, JOB_PARALLEL_RUNS) < 1:
    raise ImproperlyConfigured("JOB_* settings must be positive.")
CELERY_BEAT_SCHEDULE["jobs.sweep"] = {"task": "jobs.sweep", "schedule": float(JOB_SWEEP_SECONDS)}
# --- Webhooks (portal/webhooks) -------------------------------------------------------------
# The address Calendly reaches this deployment at (https://portal.example.com): subscriptions
# the portal makes point at its receiver under it. Production refuses to make one without it;
# elsewhere the address of the request that asks is used.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL").rstrip("/")
# How far a delivery's signed timestamp may be from now, either way (Calendly's own example is
# reported to allow about three minutes).
WEBHOOK_TOLERANCE_SECONDS = env_int("WEBHOOK_TOLERANCE_SECONDS", 180)
# The largest body the receiver reads; Calendly's deliveries are a few kilobytes.
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1_048_576)
# Stored deliveries not processed after this long (their task lost with the broker down) are
# picked up by the sweep, which runs this often.
WEBHOOK_SWEEP_SECONDS = env_int("WEBHOOK_SWEEP_SECONDS", 30)
WEBHOOK_PROCESS_ATTEMPTS = 5
# How long a web process lets the ids of newly stored deliveries gather before it publishes
# them as one task: a burst costs one broker message per this many milliseconds, not one per
# delivery.
WEBHOOK_PUBLISH_LINGER_MS = env_int("WEBHOOK_PUBLISH_LINGER_MS", 20)
# How often beat reads every organization's subscriptions from Calendly (their state and
# `retry_started_at`, which Calendly changes and never announces).
WEBHOOK_REFRESH_MINUTES = env_int("WEBHOOK_REFRESH_MINUTES", 60)
if WEBHOOK_PUBLISH_LINGER_MS < 0:
    raise ImproperlyConfigured("WEBHOOK_PUBLISH_LINGER_MS must be 0 or more.")
if min(WEBHOOK_TOLERANCE_SECONDS, WEBHOOK_MAX_BODY_BYTES, WEBHOOK_SWEEP_SECONDS) < 1:
    raise ImproperlyConfigured("WEBHOOK_* settings must be positive.")
CELERY_BEAT_SCHEDULE["webhooks.sweep"] = {
    "task": "webhooks.sweep",
    "schedule": float(WEBHOOK_SWEEP_SECONDS),
}
if WEBHOOK_REFRESH_MINUTES > 0:
    CELERY_BEAT_SCHEDULE["webhooks.refresh_all"] = {
        "task": "webhooks.refresh_all",
        "schedule": WEBHOOK_REFRESH_MINUTES * 60.0,
    }
# Seat use: who hosted what, read from the organization's scheduled events once a day.
CELERY_BEAT_SCHEDULE["directory.scan_all_seat_use"] = {
    "task": "directory.scan_all_seat_use",
    "schedule": 24 * 3600.0,
}
# Calendly's activity log (Enterprise) keeps 90 days; the portal copies it in every hour.
CELERY_BEAT_SCHEDULE["activity.import_all"] = {"task": "activity.import_all", "schedule": 3600.0}
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10)
# /healthz calls the workers down when none has written a heartbeat for this long.
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 60)
# Who sees which part failed on /healthz and /readyz; everyone gets the status code and
# "ok"/"failing", because the details name the Calendly host, the broker and the database.
# loopback: callers on this machine (container health checks) and signed-in admins; admins:
# signed-in admins only (for a proxy that connects over loopback, making everyone look local);
# public: everyone (a private network).
HEALTH_DETAILS = env_str("HEALTH_DETAILS").lower() or "loopback"
if HEALTH_DETAILS not in ("loopback", "admins", "public"):
    raise ImproperlyConfigured(
        f"HEALTH_DETAILS must be one of loopback, admins, public, not {HEALTH_DETAILS!r}"
    )

# --- Calendly -------------------------------------------------------------------------------
CALENDLY_API_URL = env_str("CALENDLY_API_URL", "https://api.calendly.com").rstrip("/")
CALENDLY_AUTH_URL = env_str("CALENDLY_AUTH_URL", "https://auth.calendly.com").rstrip("/")
CALENDLY_CLIENT_ID = env_str("CALENDLY_CLIENT_ID")
CALENDLY_CLIENT_SECRET = env_str("CALENDLY_CLIENT_SECRET")
CALENDLY_WEBHOOK_SIGNING_KEY = env_str("CALENDLY_WEBHOOK_SIGNING_KEY")

# --- Auth and sessions ----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:sign_in"
# axes' backend refuses a locked-out username and address before any password is checked and
# signs nobody in itself. With two backends login() must be told which one vouched: the Calendly
# sign-in names ModelBackend (portal/accounts/actions.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# A session ends 12 hours after sign-in or after 30 idle minutes (ASVS L2), whichever first;
# portal.accounts.middleware.SessionLimitsMiddleware enforces both.
SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
SESSION_IDLE_SECONDS = 30 * 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Break-glass admin sign-in (django-axes) ------------------------------------------------
# Passwords are checked only at the Django admin (/django-admin/); everyone else signs in with
# Calendly. portal.admin.PortalAdminSite writes every attempt there to the audit log.
ADMIN_SIGN_IN_FAILURE_LIMIT = env_int("ADMIN_SIGN_IN_FAILURE_LIMIT", 5)
ADMIN_SIGN_IN_LOCKOUT_MINUTES = env_int("ADMIN_SIGN_IN_LOCKOUT_MINUTES", 15)
if ADMIN_SIGN_IN_FAILURE_LIMIT < 1 or ADMIN_SIGN_IN_LOCKOUT_MINUTES < 1:
    # With 0 minutes axes would forget each failure at once; with a limit of 0 it locks everyone.
    raise ImproperlyConfigured(
        "ADMIN_SIGN_IN_FAILURE_LIMIT and ADMIN_SIGN_IN_LOCKOUT_MINUTES must be at least 1."
    )
AXES_FAILURE_LIMIT = ADMIN_SIGN_IN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ADMIN_SIGN_IN_LOCKOUT_MINUTES)
# Failures count per username and address together. By username alone anyone could lock a named
# superuser out from anywhere. By address alone (or as well) one person sharing an address with
# the superusers (an office, or every client when TRUSTED_PROXY_COUNT is wrongly 0 behind a
# proxy) could lock all of them out. The price: one address can still try many usernames, each
# up to the limit; a real account's password still gets only the limit per address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The address the audit log keeps (X-Forwarded-For only behind TRUSTED_PROXY_COUNT proxies), so
# a lockout and its audit rows name the same client and a client cannot pick its own address.
AXES_CLIENT_IP_CALLABLE = "portal.audit.middleware.client_ip"
# Attempts during a lockout are refused uncounted, so "locked for N minutes" on the lockout
# page stays true; portal.admin tells a refused attempt from a counted failure by this.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
# The audit log records every sign-in; axes' access log would be a second copy that only grows,
# and its log lines for every sign-in (Calendly's included) would repeat it.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- Security headers -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF, CALENDLY_AUTH_URL],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}
if IS_PRODUCTION:
    # TLS ends at the proxy in front of gunicorn; it must set X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Container health checks talk plain HTTP to gunicorn directly.
    # Calendly counts a redirect as a failed delivery; the receiver checks signatures instead.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^hooks/"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The directive only consents to preloading; a domain enters the list when submitted.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host- cookies are only accepted over HTTPS, for this exact host and path "/".
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production whitenoise serves straight from STATICFILES_DIRS (no collectstatic).
STATIC_ROOT = (
    Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
    if IS_PRODUCTION or env_str("STATIC_ROOT")
    else None
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not IS_PRODUCTION

# --- Locale ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "one_line_refusals": {"()": "portal.logs.OneLineRefusals"},
        "no_client_error_access_lines": {"()": "portal.logs.NoClientErrorAccessLines"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # Django's own console handler (on when DEBUG is) would print every record a second
        # time: the root logger prints them already.
        "django": {"handlers": []},
        # A 403 or 404 is one line with who asked; a 500 keeps its traceback (portal/logs.py).
        "django.request": {"filters": ["one_line_refusals"]},
        # The development server's access log, in the same format; a 4xx is logged above.
        "django.server": {"filters": ["no_client_error_access_lines"], "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # httpx logs every request at INFO; the Calendly client reports what matters itself.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # axes notes every sign-in at INFO; the audit log already records each one.
        "axes": {"level": "WARNING"},
    },
}
