"""Settings of the Smart JAMP proposal portal.

Everything comes from environment variables, read by the small typed helpers below, which fail
loudly on a bad value. The defaults are those of the embedded development set-up (SQLite, an
embedded Celery broker, emails written to files under var/); production sets DEBUG=0 and the
rest explicitly.
"""

import operator
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key-do-not-use-in-production")
else:
    SECRET_KEY = env_str("SECRET_KEY")
LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", LOCAL_HOSTS if DEBUG else [])
if DEBUG and not set(ALLOWED_HOSTS) <= set(LOCAL_HOSTS):
    # A deployment that forgot DEBUG=0 would show debug pages and sign sessions with a key
    # that is public: refuse to start rather than fail open.
    raise ImproperlyConfigured("DEBUG is on but ALLOWED_HOSTS names public hosts: set DEBUG=0.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
BENCHMARK_VIEWS = env_bool("BENCHMARK_VIEWS", False)  # the reference page of `make bench`

INSTALLED_APPS = [
    "proposals",
    "smartjamp",  # infrastructure: make run's supervisor, the load generator (commands)
    "smartjamp.admin_site.PortalAdminConfig",  # django.contrib.admin, our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",  # second factors: TOTP with recovery codes, passkeys (WebAuthn)
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "smartjamp.middleware.UserPreferencesMiddleware",
    "proposals.audit.AuditMiddleware",  # the audit trail: client address, refused requests
    "django.contrib.messages.middleware.MessageMiddleware",
    # Second factors for admin users, idle and absolute session limits, no-store.
    "smartjamp.security.SessionPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "smartjamp.urls"
WSGI_APPLICATION = "smartjamp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "proposals.context_processors.nav",
            ],
        },
    },
]

# Databases: SQLite under var/ unless DATABASE_URL says otherwise (postgres://… in production).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'smartjamp.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file: wait for locks instead of failing.
    # BEGIN IMMEDIATE: a transaction takes the write lock at its start, so two writers queue
    # up instead of one failing half-way.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: its compile time goes to statements the planner deems costly, such as the
    # export's correlated subqueries, and more than doubled the time of a large CSV export.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds rate-limit counters, so it must be shared by every process: Redis when
# REDIS_URL is set, otherwise a database table (never the per-process memory cache). It also
# holds the dashboard's cached fragments and their version numbers (smartjamp/cache_versions.py).
DATABASE_CACHE = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "smartjamp_cache",
    "OPTIONS": {"MAX_ENTRIES": 20000},
}
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's backend; while Redis cannot be reached, reads miss and writes are
            # dropped instead of failing the page (smartjamp/cache.py).
            "BACKEND": "smartjamp.cache.ForgivingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "smartjamp"),
            # Short, so that an unreachable Redis slows a page by a fraction of a second for
            # each cache operation, not seconds.
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": DATABASE_CACHE}

AUTH_USER_MODEL = "proposals.User"
# Sessions in the database, read through the cache (Django's cached_db): a signed-in page
# reads its session from Redis (about 0.2 ms less than the query, measured in-process) and
# from the database only when the cache does not hold it, e.g. while Redis is down. No user
# row or password hash goes to the cache.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]  # by email
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    # The breached-password check, offline: the 20,000 most common leaked passwords, a list
    # that ships with Django (no outside service is asked).
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: email is the login; addresses must be verified; nothing tells a visitor
# whether an address is registered.
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "proposals.forms.SignupExtraForm"
# Account emails name the address, never a name the user typed (a name could carry a link).
ACCOUNT_USER_DISPLAY = operator.attrgetter("email")
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Adding, removing or choosing the primary email address asks for the password again (even
# just after signing in; one re-entry covers REAUTHENTICATION_TIMEOUT seconds of such
# changes); so do second-factor changes.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
# The account's owner is told by email of a password, address or second-factor change.
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Smart JAMP] "
ACCOUNT_ADAPTER = "proposals.adapters.AccountAdapter"  # account emails go through the outbox
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# The audit trail's client address is REMOTE_ADDR; behind a proxy that cannot pass it through,
# name the header the proxy overwrites on every request (e.g. HTTP_X_REAL_IP).
AUDIT_CLIENT_IP_HEADER = env_str("AUDIT_CLIENT_IP_HEADER", "")
ACCOUNT_RATE_LIMITS = {
    # Failed logins: at most 10 a minute from one address and 5 in 5 minutes for one account.
    "login_failed": env_str("RATE_LIMIT_LOGIN_FAILED", "10/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}

# Second factors (allauth.mfa): required for admin users (smartjamp/security.py), optional for
# city officials. Passkeys need HTTPS, or http://localhost while DEBUG is on.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_ADAPTER = "proposals.adapters.MFAAdapter"  # admin users keep at least one second factor
MFA_TOTP_ISSUER = "Smart JAMP"
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
MFA_RECOVERY_CODE_COUNT = 10

# Session lifetimes (OWASP ASVS L2 3.3), enforced by smartjamp/security.py: admin users at
# most 30 minutes idle and 12 hours in all; city officials at most 12 hours idle.
SESSION_ADMIN_IDLE_SECONDS = env_int("SESSION_ADMIN_IDLE_SECONDS", 30 * 60)
SESSION_ADMIN_ABSOLUTE_SECONDS = env_int("SESSION_ADMIN_ABSOLUTE_SECONDS", 12 * 3600)
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_SECONDS", 12 * 3600)
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_ABSOLUTE_SECONDS", 14 * 24 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS  # each session's own expiry follows its idle limit

LANGUAGE_CODE = "en"
# The languages the portal is complete in (locale/<code>/, every message translated: tested by
# tests/test_catalogues.py). Khmer, Malay and Burmese come back when they are complete too.
LANGUAGES = [
    ("en", _("English")),
    ("ja", _("Japanese")),
    ("id", _("Indonesian")),
    ("th", _("Thai")),
    ("vi", _("Vietnamese")),
]
# locale/vendor completes the catalogues of allauth and Django where they lack a language.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale" / "vendor"]
FORMAT_MODULE_PATH = ["smartjamp.formats"]  # one date format per language (its __init__)
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"  # stored and computed in UTC; shown in the reader's zone (middleware)
PROGRAMME_TIME_ZONE = "Asia/Tokyo"  # JST, where MLIT reviewers and staff work

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploads are private: MEDIA_ROOT is never served by URL; views check access and stream files.
PRIVATE_MEDIA_ROOT = Path(env_str("PRIVATE_MEDIA_ROOT", str(VAR_DIR / "private")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_MEDIA_ROOT, "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
AUTHORISATION_LETTER_MAX_BYTES = 10 * 1024 * 1024
EXPORT_BACKGROUND_ROWS = env_int(
    "EXPORT_BACKGROUND_ROWS", 5000
)  # larger Excel exports run in Celery
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# No single uploaded file is written past this size; the forms give the precise limits
# (10 MB for letters, 20 MB for attachments). Put the same cap on the proxy's request size.
UPLOAD_HARD_LIMIT_BYTES = env_int("UPLOAD_HARD_LIMIT_BYTES", 25 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "smartjamp.uploads.SizeCappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Email: in development, every message is written to a file under var/mail/ to read locally.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = Path(env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail")))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Smart JAMP <noreply@smartjamp.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: the embedded default is kombu's SQLAlchemy transport on a SQLite file (polled every
# 0.1 s, smartjamp/embedded_broker.py), which runs a real worker and beat with no server;
# production sets CELERY_BROKER_URL=redis://…
CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL", f"embedded+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A worker outlives a broker outage of any length: it retries the connection for ever (the
# default gives up after 100 tries and exits). A task running when the connection drops runs
# on: the outbox's claim makes its redelivered copy a no-op, while cancelling it could leave a
# message accepted by the mail server and never recorded as sent.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "proposals.tasks.sweep_outbox", "schedule": 60.0},
    "deadline-reminders": {"task": "proposals.tasks.send_deadline_reminders", "schedule": 900.0},
    "review-reminders": {"task": "proposals.tasks.send_review_reminders", "schedule": 3600.0},
    "deliverable-reminders": {
        "task": "proposals.tasks.send_deliverable_reminders",
        "schedule": 3600.0,
    },
    "desk-overdue": {"task": "proposals.tasks.send_desk_overdue", "schedule": 3600.0},
    "announce-open-calls": {"task": "proposals.tasks.announce_open_calls", "schedule": 300.0},
    "purge-exports": {"task": "proposals.tasks.purge_exports", "schedule": 3600.0},
}
# The consultation desk's target for the first answer, in Japanese working days (JST).
DESK_FIRST_ANSWER_WORKING_DAYS = env_int("DESK_FIRST_ANSWER_WORKING_DAYS", 5)
# The due date prefilled when staff assign reviewers: this many days from today (JST).
REVIEW_DUE_DAYS = env_int("REVIEW_DUE_DAYS", 14)
# Teams (issue 18): how long a lead's invitation stays valid, how many a lead may send an hour,
# and the verification time a newly registered city is told to expect (working days).
CITY_INVITATION_DAYS = env_int("CITY_INVITATION_DAYS", 14)
CITY_INVITATIONS_PER_HOUR = env_int("CITY_INVITATIONS_PER_HOUR", 20)
CITY_VERIFICATION_WORKING_DAYS = env_int("CITY_VERIFICATION_WORKING_DAYS", 5)
# The outbox (proposals.notifications): attempts, backoff and the sweeper's patience.
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 6)
OUTBOX_RETRY_BASE_SECONDS = float(os.environ.get("OUTBOX_RETRY_BASE_SECONDS", "30"))
OUTBOX_QUEUED_GRACE_SECONDS = env_int("OUTBOX_QUEUED_GRACE_SECONDS", 180)
# How long the mail server may take to answer the end of a message (RFC 5321 allows 10
# minutes); without an answer the email's outcome is *unknown* and staff decide.
OUTBOX_DATA_TIMEOUT_SECONDS = env_int("OUTBOX_DATA_TIMEOUT_SECONDS", 600)
OUTBOX_SENDING_TIMEOUT_SECONDS = env_int("OUTBOX_SENDING_TIMEOUT_SECONDS", 900)
if OUTBOX_SENDING_TIMEOUT_SECONDS <= OUTBOX_DATA_TIMEOUT_SECONDS:
    # The sweeper would send again an email whose worker is still waiting for the server.
    raise ImproperlyConfigured(
        "OUTBOX_SENDING_TIMEOUT_SECONDS must be longer than OUTBOX_DATA_TIMEOUT_SECONDS."
    )
# /healthz reports an error when an email has waited longer than this (no worker takes tasks).
OUTBOX_STALE_SECONDS = env_int("OUTBOX_STALE_SECONDS", 600)
OUTBOX_SWEEP_BATCH = env_int("OUTBOX_SWEEP_BATCH", 2000)
HEALTHZ_BROKER_TIMEOUT = float(env_int("HEALTHZ_BROKER_TIMEOUT_MS", 2000)) / 1000

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Content Security Policy: only our own origin, and no inline script or style at all.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Security headers. HTTPS settings are on whenever DEBUG is off, unless explicitly disabled.
HTTPS = env_bool("HTTPS", not DEBUG)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
if HTTPS:
    # `__Host-` cookies are sent only over HTTPS, to this host alone, for every path: no
    # subdomain or plain-HTTP page can set or shadow them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    LANGUAGE_COOKIE_NAME = "__Host-language"
    LANGUAGE_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = HTTPS and env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
