"""
Django settings for the example "catalog" project, shaped like a real one:
everything a deployment changes comes from the environment (the
simpledeploy.django.deploy role writes these variables into an env file that
only the service user can read).

    DJANGO_SECRET_KEY     required, no default
    DJANGO_DEBUG          "1"/"true"/"yes"/"on" turns debug on (default off)
    DJANGO_ALLOWED_HOSTS  comma-separated (default none: every request is
                          refused with 400 until it is set, DEBUG off)
    DATABASE_URL          read by dj-database-url (default: the SQLite file
                          data/db.sqlite3 beside manage.py, data/ being the
                          directory a deploy keeps across releases)
    DJANGO_SECURE_SSL_REDIRECT  "1" redirects plain HTTP to HTTPS (default off)
    CATALOG_API_TOKEN     the bearer token POST /books/add/ asks for (default
                          none: the endpoint refuses every request with 403)

Behind a proxy that terminates TLS and sets X-Forwarded-Proto. Static files
are collected into BASE_DIR / "staticfiles" (``manage.py collectstatic``) and
served by whitenoise under hashed names (manifest storage): with DEBUG off a
page fails with 500 until collectstatic has run.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    """Return the environment variable ``name`` read as a boolean."""
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    return value in ("1", "true", "yes", "on")


def env_list(name):
    """Return the comma-separated environment variable ``name`` as a list."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set: put it in the environment.")

DEBUG = env_bool("DJANGO_DEBUG")

CATALOG_API_TOKEN = os.environ.get("CATALOG_API_TOKEN", "")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")


# Application definition

INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'books',
]

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'whitenoise.middleware.WhiteNoiseMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

ROOT_URLCONF = 'config.urls'

TEMPLATES = [
    {
        'BACKEND': 'django.template.backends.django.DjangoTemplates',
        'DIRS': [],
        'APP_DIRS': True,
        'OPTIONS': {
            'context_processors': [
                'django.template.context_processors.request',
                'django.contrib.auth.context_processors.auth',
                'django.contrib.messages.context_processors.messages',
            ],
        },
    },
]

WSGI_APPLICATION = 'config.wsgi.application'


# Database

DATABASES = {
    'default': dj_database_url.config(
        default='sqlite:///' + str(BASE_DIR / 'data' / 'db.sqlite3'),
        conn_max_age=60,
    ),
}


# Password validation

AUTH_PASSWORD_VALIDATORS = [
    {'NAME': 'django.contrib.auth.password_validation.UserAttributeSimilarityValidator'},
    {'NAME': 'django.contrib.auth.password_validation.MinimumLengthValidator'},
    {'NAME': 'django.contrib.auth.password_validation.CommonPasswordValidator'},
    {'NAME': 'django.contrib.auth.password_validation.NumericPasswordValidator'},
]


# Internationalization

LANGUAGE_CODE = 'en-us'
TIME_ZONE = 'UTC'
USE_I18N = True
USE_TZ = True


# Static files: collected inside the project tree, served by whitenoise.

STATIC_URL = 'static/'
STATIC_ROOT = BASE_DIR / 'staticfiles'
STORAGES = {
    'default': {'BACKEND': 'django.core.files.storage.FileSystemStorage'},
    'staticfiles': {'BACKEND': 'whitenoise.storage.CompressedManifestStaticFilesStorage'},
}


# Behind a proxy that terminates TLS.

SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG


# Errors go to the service's standard error (the journal), DEBUG or not.

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'root': {'handlers': ['console'], 'level': 'WARNING'},
}

DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'
