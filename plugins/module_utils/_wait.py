# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for the app to answer over HTTP: the moment a window ends.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import collections
import re
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

# What a wait ended with: whether the app answered the status asked, and its last answer in words.
Waited = collections.namedtuple('Waited', 'answered last')

# How much of a page's text the last answer shows.
BODY_SHOWN = 160
_BODY_READ = 4096
_TAG = re.compile(r'<(script|style)\b.*?</\1\s*>|<[^>]*>', re.IGNORECASE | re.DOTALL)
_BLANKS = re.compile(r'\s+')


def page_text(body):
    """The start of a page's text: tags dropped, blanks collapsed, at most BODY_SHOWN characters."""
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    text = _BLANKS.sub(' ', _TAG.sub(' ', body or '')).strip()
    return text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN - 3].rstrip() + '...'


def describe(code, location=None, body=None, error=None):
    """One answer in words: ``HTTP 500: Server Error (500)``, ``HTTP 301 to https://...``, ``no answer (...)``."""
    if code is None:
        return 'no answer (%s)' % (error or 'nothing listens')
    said = 'HTTP %d' % code
    if location:
        said += ' to %s' % location
    text = page_text(body)
    return '%s: %s' % (said, text) if text else said


def hint(last, status):
    """What to do about the last answer, naming the variables to set."""
    if last.startswith('HTTP 3'):
        return ('the health check does not follow redirects: set deploy_healthcheck_url to the page the app '
                'answers %s on (a SECURE_SSL_REDIRECT, APPEND_SLASH or login redirect sends it elsewhere)' % status)
    if last.startswith('HTTP 400'):
        return ('Django answers 400 when ALLOWED_HOSTS does not list the host asked: add the health URL\'s host to '
                'ALLOWED_HOSTS, or set deploy_healthcheck_url to a host it lists')
    if last.startswith('HTTP '):
        return ('set deploy_healthcheck_url (and deploy_healthcheck_status) to what the app answers when it is '
                'healthy, or read its log for why it answered so')
    return 'read the service\'s log for why it does not answer, or set deploy_healthcheck_url to where it listens'


def ask(url, timeout):
    """Request URL once; returns (status or None, its answer in words)."""
    try:
        answer = open_url(url, timeout=timeout, follow_redirects='none', validate_certs=False)
        return answer.getcode(), describe(answer.getcode(), body=answer.read(_BODY_READ))
    except HTTPError as exc:
        try:
            body = exc.read(_BODY_READ)
        except (OSError, ValueError, AttributeError):
            body = None
        return exc.code, describe(exc.code, location=exc.headers.get('Location') if exc.headers else None,
                                  body=body)
    except (URLError, OSError, ValueError) as exc:
        return None, describe(None, error=str(getattr(exc, 'reason', None) or exc))


def wait_for_url(url, status=200, timeout=30.0, interval=0.02, clock=time.monotonic, sleep=time.sleep):
    """Request URL until it answers STATUS; a Waited: whether it did within TIMEOUT seconds, and its last answer."""
    deadline = clock() + timeout
    while True:
        code, last = ask(url, max(1.0, min(5.0, timeout)))
        if code == status:
            return Waited(True, last)
        if clock() >= deadline:
            return Waited(False, last)
        sleep(interval)
