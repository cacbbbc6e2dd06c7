"""What a team writes to run the generated Wagtail project in production.

Imported last by mysite/settings/production.py (and by dev.py): the secret
key and the host names come from the environment, the two settings the
project's own production.py leaves unset. DJANGO_SECRET_KEY is required
(Django itself would only fail at the first request that signs something);
DJANGO_ALLOWED_HOSTS is a comma-separated list. Copied in by
generate_wagtail.py.
"""

import os

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set: put it in the environment.")

if os.environ.get("DJANGO_ALLOWED_HOSTS"):
    ALLOWED_HOSTS = [host.strip() for host in os.environ["DJANGO_ALLOWED_HOSTS"].split(",") if host.strip()]
