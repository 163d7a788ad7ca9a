"""Settings, read from the environment; embedded defaults need nothing but Python.

Without ``DATABASE_URL`` the database is SQLite under ``./var/``; without
``CELERY_BROKER_URL``/``REDIS_URL`` Celery uses kombu's filesystem transport under
``./var/celery/``, so a real worker and a real beat run with no server at all.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_database, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("NETPOL_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """The configured key, or one generated once and kept in var/ (never a constant)."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        from django.core.management.utils import get_random_secret_key

        key_file.touch(mode=0o600)
        key_file.write_text(get_random_secret_key())
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Encrypts cluster tokens at rest; defaults to a key derived from SECRET_KEY.
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY") or ""

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

INSTALLED_APPS = [
    "auditor.adminsite.RoleAdminConfig",  # django.contrib.admin, open to the admin role
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "auditor",
    "webui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "auditor.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webui.middleware.ContentSecurityPolicyMiddleware",
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
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webui.context_processors.ui",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------
DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'netpol-auditor.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Web, worker and beat write to one file: WAL lets readers go on while one writes,
    # and IMMEDIATE transactions wait for the lock instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so a Celery worker process can share the test database;
    # one per test run, so two runs side by side do not drop each other's tables.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-netpol-auditor-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------
LOGIN_URL = "login"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "auditor.access.AdminRoleBackend",
]
LOGIN_REDIRECT_URL = "webui:home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Static files -------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve from static/ without a collectstatic step

# --- Front-end libraries ------------------------------------------------------------
# "local" serves static/vendor (air-gapped installs, tests); "cdn" the pinned CDN copy,
# checked by its Subresource Integrity hash. Both are the same npm release (package.json).
CYTOSCAPE_SOURCE = env_str("CYTOSCAPE_SOURCE", "local")
if CYTOSCAPE_SOURCE not in ("local", "cdn"):
    raise ImproperlyConfigured(f"CYTOSCAPE_SOURCE={CYTOSCAPE_SOURCE!r}: use 'local' or 'cdn'")
CYTOSCAPE_VERSION = "3.34.4"
CYTOSCAPE_CDN_URL = f"https://cdn.jsdelivr.net/npm/cytoscape@{CYTOSCAPE_VERSION}/dist/cytoscape.min.js"
CYTOSCAPE_CDN_SRI = "sha384-lyd1lDWZ623YSUJ/wMQH50y+T81dWKJk7ZoFdYWXQS83b0+QpW0pgdfXEnQnXL/X"

# --- Security -----------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind a TLS-terminating proxy set BEHIND_TLS=1: secure cookies and HSTS.
if env_bool("BEHIND_TLS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

# --- Celery -------------------------------------------------------------------------
_broker_url = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL")
if _broker_url:
    CELERY_BROKER_URL = _broker_url
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # An unacknowledged snapshot task (worker killed) comes back after this long.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    }
    if _broker_url.startswith("redis://"):
        # kombu's Redis transport with a guard that keeps a worker alive when Redis restarts
        # during a task (auditor/broker.py says how it died otherwise).
        CELERY_BROKER_TRANSPORT = "auditor.broker:Transport"
else:
    _broker_dir = VAR_DIR / "celery" / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1800)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_BEAT_SCHEDULER = "auditor.scheduler:HeartbeatScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A snapshot under way needs no broker: when the connection drops it runs on (Celery 6
# would cancel it by default), and a redelivered copy finds it taken (the claim).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "netpol-auditor")

# --- Snapshots ----------------------------------------------------------------------
# A running snapshot whose heartbeat is older than this is taken as dead (worker lost).
SNAPSHOT_STALE_AFTER = env_int("SNAPSHOT_STALE_AFTER", 300)
# A snapshot still pending this long when the next trigger comes has its task sent again
# (a message lost with the broker); a duplicate is harmless, the claim is a compare-and-set.
SNAPSHOT_REQUEUE_AFTER = env_int("SNAPSHOT_REQUEUE_AFTER", 60)
# Retention: a snapshot identical to the one before it (same content hash) is deleted once
# it is this many days old; the first, the newest and every changed one stay. 0 keeps all.
SNAPSHOT_KEEP_UNCHANGED_DAYS = env_int("SNAPSHOT_KEEP_UNCHANGED_DAYS", 7)
# --- What-if ------------------------------------------------------------------------
# A Run on a snapshot with more pods than this is computed by a worker, with progress on
# the page; smaller ones answer inline (docs/benchmarks.md, "What-if Run at 50k pods").
WHATIF_INLINE_MAX_PODS = env_int("WHATIF_INLINE_MAX_PODS", 10_000)
# A running what-if whose heartbeat is older than this is taken as dead (worker lost).
WHATIF_STALE_AFTER = env_int("WHATIF_STALE_AFTER", 60)
# --- Observed flows ------------------------------------------------------------------
# The largest flow file the Flows page accepts: it is imported within the request
# (about 30 MiB/s, docs/benchmarks.md), so bigger ones go through `manage.py import_flows`.
# Uploads over 2.5 MB stream to a temporary file, never memory.
FLOWS_UPLOAD_MAX_BYTES = env_int("FLOWS_UPLOAD_MAX_BYTES", 256 * 2**20)
# The Flows page replays the imported flows inside the request for a snapshot of at most
# this many pods; a worker replays them for larger ones, with progress on the page.
FLOWS_INLINE_MAX_PODS = env_int("FLOWS_INLINE_MAX_PODS", 10_000)
# A running flow replay whose heartbeat is older than this is taken as dead (worker lost).
FLOWS_REPLAY_STALE_AFTER = env_int("FLOWS_REPLAY_STALE_AFTER", 60)
# How the live collector talks to API servers (see netpol.collect.live).
LIVE_COLLECTOR_OPTIONS = {
    "page_size": env_int("KUBE_PAGE_SIZE", 500),
    "connect_timeout": env_int("KUBE_CONNECT_TIMEOUT", 10),
    "read_timeout": env_int("KUBE_READ_TIMEOUT", 60),
    "attempts": env_int("KUBE_ATTEMPTS", 4),
}

if SNAPSHOT_STALE_AFTER <= 0:
    raise ImproperlyConfigured("SNAPSHOT_STALE_AFTER must be a positive number of seconds")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- API and metrics (auditor.api, auditor.metrics; see docs/api.md) -----------------------
# /metrics answers clients from these networks without credentials, and anyone else who
# sends "Authorization: Bearer <METRICS_TOKEN>" (or METRICS_TOKEN_FILE's content).
# Behind a reverse proxy every client has the proxy's address: use the token there.
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env_str("METRICS_TOKEN") or ""


def _check_networks(networks: list[str]) -> None:
    import ipaddress

    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"METRICS_ALLOWED_NETWORKS: {net!r} is not a network such as 10.0.0.0/8 or ::1/128"
            ) from None


_check_networks(METRICS_ALLOWED_NETWORKS)

# --- Reports: email, webhooks and links (docs/reports.md) ---------------------------
# Email goes through Django's backend; SMTP is configured here. Without EMAIL_HOST,
# email deliveries fail with "email is not configured" (webhooks still work).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")  # or EMAIL_HOST_PASSWORD_FILE
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)  # STARTTLS, usually on port 587
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # implicit TLS, usually on port 465
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Netpol Auditor <netpol-auditor@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other: STARTTLS (587) or TLS (465)")


def site_url_from_bind(bind: str) -> str:
    """``http://host:port`` for the address the app listens on (``BIND``): a wildcard
    (0.0.0.0, ::, empty) is the machine's host name, 127.0.0.1 and ::1 are localhost."""
    import socket

    host, _, port = bind.rpartition(":")
    if not host:  # "8000"
        host, port = "", bind
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn() or "localhost"
    elif host in ("127.0.0.1", "::1"):
        host = "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port or 8000}"


# The app's address as people and receivers reach it: every absolute link in reports
# (HTML, PDF), e-mails and webhooks. Without it, the address the app is served on.
SITE_URL = (env_str("SITE_URL") or site_url_from_bind(env_str("BIND", "127.0.0.1:8000"))).rstrip("/")
# A delivery is tried this many times, waiting BACKOFF × 2^(attempt-1) s in between.
REPORT_DELIVERY_ATTEMPTS = env_int("REPORT_DELIVERY_ATTEMPTS", 5)
REPORT_DELIVERY_BACKOFF = env_int("REPORT_DELIVERY_BACKOFF", 30)
REPORT_WEBHOOK_TIMEOUT = env_int("REPORT_WEBHOOK_TIMEOUT", 10)
if REPORT_DELIVERY_ATTEMPTS < 1 or REPORT_DELIVERY_BACKOFF < 0 or REPORT_WEBHOOK_TIMEOUT < 1:
    raise ImproperlyConfigured(
        "REPORT_DELIVERY_ATTEMPTS and REPORT_WEBHOOK_TIMEOUT must be at least 1, REPORT_DELIVERY_BACKOFF at least 0"
    )

# --- Brute-force protection (docs in the README's configuration table) ---------------
# Logins (the site's and the admin's) go through django-axes, which counts failures per
# username and client address in the database, so every web process sees the same count.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last: turns a lockout into the page
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *AUTHENTICATION_BACKENDS]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_LOCKOUT_SECONDS", 900))
# Username and address together: behind a proxy every client shares one address, and
# locking by username alone would let anyone lock an admin out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the page's "how long" stays true
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# API tokens and METRICS_TOKEN (auditor.throttle): this many wrong ones from one address
# (or for one token prefix) within the window answer 429 until the window ends.
API_AUTH_FAILURE_LIMIT = env_int("API_AUTH_FAILURE_LIMIT", 20)
API_AUTH_WINDOW = env_int("API_AUTH_WINDOW", 900)
if min(AXES_FAILURE_LIMIT, API_AUTH_FAILURE_LIMIT, API_AUTH_WINDOW) < 1 or AXES_COOLOFF_TIME.total_seconds() < 1:
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT, LOGIN_LOCKOUT_SECONDS, API_AUTH_FAILURE_LIMIT and API_AUTH_WINDOW must be at least 1"
    )
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}  # no banner before every command's output

# --- Single sign-on with OpenID Connect (auditor/sso.py, docs/sso.md) ---------------
# Off unless OIDC_ISSUER is set; local accounts work either way. The provider's endpoints
# come from its discovery document, read on the first sign-in, not at start-up.
OIDC_ISSUER = (env_str("OIDC_ISSUER") or "").rstrip("/")
OIDC_ENABLED = bool(OIDC_ISSUER)
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME") or "single sign-on"
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID") or ""
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET") or ""  # or OIDC_CLIENT_SECRET_FILE
OIDC_RP_SCOPES = env_str("OIDC_SCOPES") or "openid email profile"
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO") or "RS256"
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM") or "groups"
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM") or "preferred_username"
# "sec-admins=admin,sec-auditors=auditor,everyone=viewer": IdP group → role; the highest wins.
OIDC_ROLE_MAP: dict[str, str] = {}
for _item in env_list("OIDC_ROLE_MAP", []):
    _group, _, _role = _item.rpartition("=")
    if not _group.strip() or _role.strip() not in ("viewer", "auditor", "admin"):
        raise ImproperlyConfigured(
            f"OIDC_ROLE_MAP: {_item!r} is not GROUP=ROLE with ROLE viewer, auditor or admin "
            "(for example sec-admins=admin,sec-auditors=auditor,everyone=viewer)"
        )
    OIDC_ROLE_MAP[_group.strip()] = _role.strip()
_client_auth = env_str("OIDC_CLIENT_AUTH") or "post"
if _client_auth not in ("post", "basic"):
    raise ImproperlyConfigured(f"OIDC_CLIENT_AUTH={_client_auth!r}: use 'post' (client_secret_post) or 'basic'")
OIDC_TOKEN_USE_BASIC_AUTH = _client_auth == "basic"
if OIDC_ENABLED:
    _missing = [n for n, v in (("OIDC_CLIENT_ID", OIDC_RP_CLIENT_ID), ("OIDC_CLIENT_SECRET", OIDC_RP_CLIENT_SECRET),
                               ("OIDC_ROLE_MAP", OIDC_ROLE_MAP)) if not v]
    if _missing:
        raise ImproperlyConfigured(f"OIDC_ISSUER is set, so single sign-on needs {' and '.join(_missing)} too")
    if "openid" not in OIDC_RP_SCOPES.split():
        raise ImproperlyConfigured(f"OIDC_SCOPES={OIDC_RP_SCOPES!r} lacks 'openid', without which there is no ID token")
# What mozilla-django-oidc does for us: state, nonce and PKCE on every sign-in.
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # the hint for the provider's logout (RP-initiated logout)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
OIDC_AUTHENTICATION_CALLBACK_URL = "sso_callback"
AUTHENTICATION_BACKENDS += ["auditor.sso.OIDCBackend"]  # inert while OIDC_ISSUER is unset
