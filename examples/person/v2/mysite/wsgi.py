"""
WSGI config for the example "person" project.

It exposes the WSGI callable as a module-level variable named ``application``
(gunicorn: ``gunicorn mysite.wsgi:application``).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')

application = get_wsgi_application()
