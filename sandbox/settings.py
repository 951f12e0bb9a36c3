"""Django settings for the Fintech Sandbox.

Everything that differs between a laptop and production comes from the environment,
through ``sandbox.config``. With nothing set, the sandbox runs on SQLite and Celery's
embedded filesystem broker, so a fresh machine needs no server at all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from sandbox.config import (
    env_bool,
    env_choice,
    env_int,
    env_keyring,
    env_list,
    env_rate,
    env_str,
    env_time_zone,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SANDBOX_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-sandbox-development-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "django_countries",
    "django_htmx",
    "axes",
    "csp",
    "sandbox.tenants",
    "wallets",
    "clearing",
    "sandbox.events",
    "wallets.banknet",
    "wallets.onboarding",
    "wallets.escrow",
    "clearing.recovery",
    # --- Token-based push payments (issue 10) ---
    "sandbox.nodekeys",
    "wallets.payments",
    # --- Merchant settlement (issue 10, item 7) ---
    "wallets.merchant_settlement",
    # --- FX (issue 11) ---
    "wallets.fx",
    # --- Identities (issue 9) ---
    "sandbox.identities",
    # --- Identity verification (issue 9, items 3 and 4: KYC sessions, social providers) ---
    "sandbox.identities.verification",
    # --- Identity credentials: SD-JWT selective disclosure (issue 9, item 7) ---
    "sandbox.identities.credentials",
    # --- Credit standing and history attestations (issue 9, items 4-5) ---
    "wallets.credit",
    # --- Cross-border remittance over bitcoin (issue 11) ---
    "clearing.remittance",
]

MIDDLEWARE = [
    # Before everything, so every answer carries the Content-Security-Policy, a 503 too
    # (django-csp's middleware, with the settings' policy built once: sandbox.contentpolicy).
    "sandbox.contentpolicy.ContentSecurityPolicyMiddleware",
    # First: a lost database or broker, wherever raised, answers 503 (sandbox.outage).
    "sandbox.outage.ServiceUnavailableMiddleware",
    "sandbox.api.limits.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's login and messages, which an API key request passes by (PagesOnly).
    "sandbox.tenants.middleware.AuthenticationMiddleware",
    "sandbox.tenants.middleware.TenantMiddleware",
    "sandbox.tenants.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: answers a locked-out login (sandbox.tenants.lockouts).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sandbox.urls"
WSGI_APPLICATION = "sandbox.wsgi.application"

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
                "sandbox.tenants.context_processors.tenant",
                "sandbox.events.context_processors.disabled_webhooks",
            ],
            # The platform's filters (money, labels, links): sandbox itself is not an app.
            "libraries": {"formatting": "sandbox.templatetags.formatting"},
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'sandbox.sqlite3'}"
if DATABASE_URL.startswith("sqlite"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL lets readers run beside the one writer, and
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Django's backend, less a round trip per transaction (its BEGIN rides with the first
    # statement) and per request (the health check runs only after the connection idled
    # SANDBOX_DB_HEALTH_CHECK_AFTER_IDLE seconds): ``sandbox.db.postgresql``.
    DATABASES["default"]["ENGINE"] = "sandbox.db.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SANDBOX_DB_HEALTH_CHECK_AFTER_IDLE = env_int("DB_HEALTH_CHECK_AFTER_IDLE", 5, minimum=0)
# The money path's hot statements prepared once per connection (PostgreSQL); off behind
# PgBouncer in transaction pooling mode: ``sandbox.db.postgresql.prepared``.
SANDBOX_DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", default=True)

# --- Cache (and cross-process locks when Redis is given) ---------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "sandbox.cache.SandboxRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out login before a password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

# --- I18N ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_time_zone("TIME_ZONE", "Asia/Seoul")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- E-mail -------------------------------------------------------------------------------
# The console backend writes every message, invitation links included, to the log: a
# development default only. In production the default is SMTP (Django's own default), and
# ``check --deploy`` refuses the console, file and locmem backends (sandbox/checks.py).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "sandbox@localhost")

# --- Security (production values come from the environment) -------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
if env_bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST API -----------------------------------------------------------------------------
# Fits the largest valid POST /api/v1/transfers/bulk as json.dumps sends it: 8,000 items of
# at most 10,409 bytes (two UUIDs, the longest amounts and currency, both conditions, a
# 500-character memo of emoji escaped as 12 bytes each, metadata at its 4,096-byte limit)
# make 83.3 MB; 100 MiB leaves 25% for whitespace. tests/wallets/test_request_size.py
# recomputes it from those limits. A larger body gets 413 request_too_large.
DATA_UPLOAD_MAX_MEMORY_SIZE = 100 * 1024 * 1024
# Every other path: Django's own default (sandbox.api.limits).
SANDBOX_MAX_BODY_BYTES = env_int("SANDBOX_MAX_BODY_BYTES", 2_621_440, minimum=1024)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "sandbox.tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["sandbox.tenants.permissions.IsActiveTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "sandbox.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "sandbox.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "sandbox.api.schema.SandboxAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["sandbox.api.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Abuse limits (sandbox.throttles): every API request per address, and per key.
    "DEFAULT_THROTTLE_CLASSES": [
        "sandbox.throttles.AddressThrottle",
        "sandbox.throttles.ApiKeyThrottle",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fintech Sandbox API",
    "DESCRIPTION": "A simulated bank network for fintech startups. Authenticate with "
    "`Authorization: Bearer sk_test_...`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Many models have a nested ``Status``; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "CurrencyEnum": "sandbox.currencies.CurrencyCode",
        "JobKindEnum": "clearing.models.Job.Kind",
        "WithdrawalKindEnum": "wallets.banknet.models.Withdrawal.Kind",
        "WithdrawalRuleActionEnum": "wallets.banknet.models.WithdrawalRule.Action",
        "CredentialKindEnum": "sandbox.identities.credentials.models.Credential.Kind",
        "CredentialStatusEnum": "sandbox.identities.credentials.models.Credential.Status",
        "PresentationRequestStatusEnum": (
            "sandbox.identities.credentials.models.PresentationRequest.Status"
        ),
        "IssuedCredentialKindEnum": ["identity", "delivery"],
        "KeyStatusEnum": "sandbox.nodekeys.models.KeyStatus",
        "RemittanceStatusEnum": "clearing.remittance.models.Remittance.Status",
        **{
            f"{model}StatusEnum": f"{module}.{model}.Status"
            for module, models_ in {
                "sandbox.tenants.models": ["Tenant"],
                "sandbox.events.models": ["WebhookDelivery", "ScheduledAction", "TestClock"],
                # BankAccount.Status is the same open/closed set as Account.Status.
                "wallets.banknet.models": ["AccountLink", "Deposit", "Withdrawal", "CardPayment"],
                "wallets.models": ["Account", "Hold"],
                "clearing.models": ["Job", "DayClose", "SettlementWindow"],
            }.items()
            for model in models_
        },
    },
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker: queues are folders, so web, worker and beat need no server.
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("out", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # The outbox relay and the scheduled-action sweep: what a failed on-commit nudge (broker
    # down) left in the database goes out within seconds of the broker coming back.
    "events-relay-outbox": {
        "task": "events.relay_outbox",
        "schedule": 5.0,
        "options": {"expires": 30},
    },
    "events-sweep-due-actions": {
        "task": "events.sweep_due_actions",
        "schedule": 5.0,
        "options": {"expires": 30},
    },
}

# --- Work queues --------------------------------------------------------------------------
# Work that must not wait behind other work has a queue of its own, and production runs a
# worker per queue (README, "Production"): the simulated bank's answers and scheduled
# actions never queue behind a backlog of webhook deliveries or a long clearing job.
# A worker started without -Q consumes all of them (tests, a quick local run).
CELERY_QUEUE_DEFAULT = "default"
CELERY_QUEUE_BANK = "bank"  # bank simulation, scheduled actions, test clocks, holds
CELERY_QUEUE_WEBHOOKS = "webhooks"  # the outbox relay and webhook delivery attempts
CELERY_QUEUE_CLEARING = "clearing"  # day closes, anchoring, settlement, key rotation
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_DEFAULT
CELERY_TASK_QUEUES = [
    Queue(name)
    for name in (
        CELERY_QUEUE_DEFAULT,
        CELERY_QUEUE_BANK,
        CELERY_QUEUE_WEBHOOKS,
        CELERY_QUEUE_CLEARING,
    )
]
# Every task of ours is named here (tests/test_queues.py checks it): a new task lands on a
# queue on purpose. Scheduled actions reach the bank or webhook queue through the task
# their kind's handler names (sandbox.events.scheduling).
CELERY_TASK_ROUTES = {
    "events.run_scheduled_action": {"queue": CELERY_QUEUE_BANK},
    "events.sweep_due_actions": {"queue": CELERY_QUEUE_BANK},
    "events.advance_test_clock": {"queue": CELERY_QUEUE_BANK},
    "wallets.tasks.expire_due_holds": {"queue": CELERY_QUEUE_BANK},
    "wallets.tasks.expire_hold": {"queue": CELERY_QUEUE_BANK},
    "events.relay_outbox": {"queue": CELERY_QUEUE_WEBHOOKS},
    "events.deliver_webhook": {"queue": CELERY_QUEUE_WEBHOOKS},
    "events.deliver_endpoint_webhooks": {"queue": CELERY_QUEUE_WEBHOOKS},
    "clearing.tasks.*": {"queue": CELERY_QUEUE_CLEARING},
    "clearing.remittance.tasks.*": {"queue": CELERY_QUEUE_CLEARING},
    # Maintenance: purges, backups and restore drills (long, never urgent) stay out of the
    # way of bank work, webhooks and closes.
    "wallets.tasks.purge_idempotency_keys": {"queue": CELERY_QUEUE_DEFAULT},
    "wallets.tasks.fold_account_days": {"queue": CELERY_QUEUE_DEFAULT},
    "events.purge_old_events": {"queue": CELERY_QUEUE_DEFAULT},
    "wallets.credit.tasks.compute_daily_standings": {"queue": CELERY_QUEUE_DEFAULT},
    "recovery.tasks.*": {"queue": CELERY_QUEUE_DEFAULT},
    "identities.rotate_keys": {"queue": CELERY_QUEUE_DEFAULT},  # re-wrapping data keys
    "celery.*": {"queue": CELERY_QUEUE_DEFAULT},
}

# --- Clearing -----------------------------------------------------------------------------
# Days close at midnight here (the daily close's hour is a beat schedule, in the admin).
CLEARING_TIME_ZONE = env_time_zone("CLEARING_TIME_ZONE", "Asia/Seoul")
# The keyring of encrypted records (clearing.keys): newest key first; empty in development
# means "derive from SECRET_KEY" (required in production: check clearing.E001).
CLEARING_MASTER_KEY = env_keyring("CLEARING_MASTER_KEY")
# Seals nodes' private signing keys (sandbox.keyring; newest first: the first seals, all open).
NODE_KEYS_MASTER_KEY = env_keyring("NODE_KEYS_MASTER_KEY")
# Wraps people's data keys (sandbox.identities; newest first: the first wraps, all unwrap).
IDENTITIES_MASTER_KEY = env_keyring("IDENTITIES_MASTER_KEY")

# --- Sandbox ------------------------------------------------------------------------------
SANDBOX_NEW_TENANT_STATUS = env_choice("SANDBOX_NEW_TENANT_STATUS", ("active", "pending"), "active")
SANDBOX_API_KEY_LAST_USED_RESOLUTION = env_int(
    "SANDBOX_API_KEY_LAST_USED_RESOLUTION", 60, minimum=0
)
# With Redis, API keys are authenticated from a cached record (sandbox.tenants.keycache),
# forgotten whenever a key or its tenant changes, and kept this long at most.
SANDBOX_API_KEY_CACHE_SECONDS = env_int("SANDBOX_API_KEY_CACHE_SECONDS", 60, minimum=1)
# Idempotency keys are remembered this long, then purged nightly (a later retry runs anew).
SANDBOX_IDEMPOTENCY_KEY_DAYS = env_int("SANDBOX_IDEMPOTENCY_KEY_DAYS", 7, minimum=1)
# A lost database or broker answers 503 with this Retry-After (sandbox.outage).
SANDBOX_RETRY_AFTER_SECONDS = env_int("SANDBOX_RETRY_AFTER_SECONDS", 30, minimum=1)
# /healthz says "degraded" when a Celery queue holds more messages than this, or its oldest
# waiting message is older than this (sandbox.health).
SANDBOX_HEALTH_QUEUE_DEPTH_LIMIT = env_int("SANDBOX_HEALTH_QUEUE_DEPTH_LIMIT", 10_000, minimum=1)
SANDBOX_HEALTH_QUEUE_AGE_LIMIT_SECONDS = env_int(
    "SANDBOX_HEALTH_QUEUE_AGE_LIMIT_SECONDS", 300, minimum=1
)

# Within this many seconds of a traceback, identical ones are counted, not written
# (sandbox.logfilter); web, worker and beat alike (sandbox.celery keeps this config).
SANDBOX_LOG_REPEAT_WINDOW_SECONDS = env_int("SANDBOX_LOG_REPEAT_WINDOW_SECONDS", 60, minimum=0)
# Error reports hide URLs that carry a password (sandbox.error_reports).
DEFAULT_EXCEPTION_REPORTER_FILTER = "sandbox.error_reports.CredentialHidingFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "repeated_tracebacks": {
            "()": "sandbox.logfilter.RepeatedTracebackFilter",
            "window": SANDBOX_LOG_REPEAT_WINDOW_SECONDS,
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["repeated_tracebacks"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's own "django" logger would otherwise keep its default console handler (no
    # filter, and in DEBUG a second copy of every request error).
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
SANDBOX_BASE_URL = env_str("SANDBOX_BASE_URL", "http://127.0.0.1:8000")

# Webhooks: private and link-local receivers only when operators allow them; loopback in
# development (and tests) so a receiver on the same machine works.
SANDBOX_WEBHOOK_ALLOW_PRIVATE = env_bool("SANDBOX_WEBHOOK_ALLOW_PRIVATE", default=False)
SANDBOX_WEBHOOK_ALLOW_LOOPBACK = env_bool("SANDBOX_WEBHOOK_ALLOW_LOOPBACK", default=DEBUG)
SANDBOX_WEBHOOK_TIMEOUT_SECONDS = env_int("SANDBOX_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)

# --- Backups and restore drills (clearing.recovery; docs/operations.md) -------------------
# The backup encryption keys, newest first (the first encrypts, all decrypt); keep them
# apart from the backups. Unset in development: a key derived from SECRET_KEY.
SANDBOX_BACKUP_KEY = env_keyring("SANDBOX_BACKUP_KEY")
# Where backups go: a folder, or the alias of a Django storage in STORAGES (S3, ...).
SANDBOX_BACKUP_DIR = Path(env_str("SANDBOX_BACKUP_DIR", str(VAR_DIR / "backups")))
SANDBOX_BACKUP_STORAGE = env_str("SANDBOX_BACKUP_STORAGE", "")
# Retention: the newest this many backups are kept (nightly backup: two weeks).
SANDBOX_BACKUP_KEEP = env_int("SANDBOX_BACKUP_KEEP", 14, minimum=1)
# pg_dump/pg_restore's folder; default: the server's version under /usr/lib/postgresql.
SANDBOX_PG_BIN_DIR = env_str("SANDBOX_PG_BIN_DIR", "")

# --- Retention (sandbox.events.retention, docs/scaling.md) --------------------------------
# Events older than this many days go nightly, with their webhook deliveries and attempts,
# once relayed and with no delivery pending; 0 keeps them forever.
SANDBOX_EVENT_RETENTION_DAYS = env_int("SANDBOX_EVENT_RETENTION_DAYS", 30, minimum=0)

# --- Abuse limits -------------------------------------------------------------------------
# Sliding windows per scope (sandbox.throttles), as <count>/<period> or "off"; 429 with
# Retry-After past them. Counted in CACHES["default"]: Redis with REDIS_URL (shared by all
# processes), else local memory (each process counts alone).
SANDBOX_THROTTLE_RATES = {
    # Every API request from one address, and every request with one API key. Short
    # windows: the throttle keeps one timestamp per request of the window.
    "address": env_rate("SANDBOX_THROTTLE_ADDRESS", "200/second"),
    "api_key": env_rate("SANDBOX_THROTTLE_API_KEY", "100/second"),
    # Per address: signups, login attempts, invitation acceptances, failed key checks.
    "signup": env_rate("SANDBOX_THROTTLE_SIGNUP", "5/hour"),
    "login": env_rate("SANDBOX_THROTTLE_LOGIN", "20/minute"),
    "invitation_accept": env_rate("SANDBOX_THROTTLE_INVITATION_ACCEPT", "10/hour"),
    "key_failure": env_rate("SANDBOX_THROTTLE_KEY_FAILURE", "20/minute"),
}
# Login lockout (django-axes): after this many wrong passwords for one account from one
# address, that pair is locked out for the cool-off (429), until an operator lifts it
# (operator console, /api/v1/operator/lockouts). Attempts are rows in the database.
AXES_FAILURE_LIMIT = env_int("SANDBOX_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SANDBOX_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The login form's field is "username" (Django's form) and holds the e-mail; the callable
# folds case and spaces so "Alice@X" and "alice@x " count as one account.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "sandbox.tenants.lockouts.login_username"
AXES_LOCKOUT_CALLABLE = "sandbox.tenants.lockouts.lockout_response"
AXES_CLIENT_IP_CALLABLE = "sandbox.throttles.login_address"
AXES_DISABLE_ACCESS_LOG = True  # logins go to the audit log (sandbox.tenants.lockouts)
AXES_VERBOSE = False

# --- Content-Security-Policy (django-csp) -------------------------------------------------
# Every page: scripts, styles, images, fonts and fetches from this origin only (htmx and the
# dashboard's script are static files; no inline script, event handler, style or eval; no
# CDN), never framed. The API docs' pages alone loosen styles (sandbox/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Webhook delivery (docs/webhooks.md): at most this many attempts in flight to one endpoint
# at once, across every worker, so a slow or dead receiver cannot hold every delivery slot;
# an endpoint whose deliveries have all failed for this many days (of its node's clock) is
# disabled, with a webhook_endpoint.disabled event, until someone enables it again.
SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY = env_int(
    "SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY", 10, minimum=1
)
SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS = env_int("SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS", 3, minimum=1)
