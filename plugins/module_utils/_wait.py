# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for the app to answer over HTTP: the moment a window ends, and the health check.

Private to the simpledeploy.django collection: the interface may change.

What a health check asks, by default, of a Django project:

- a 2xx in the end: redirects that stay on the host asked (a relative
  Location, or the same scheme and host:port, or the Host header sent) are
  followed, at most MAX_REDIRECTS; one that leaves it (SECURE_SSL_REDIRECT's
  301 to https://...) is the answer, not a success;
- a Host header that ALLOWED_HOSTS accepts (default_host), and the header
  SECURE_PROXY_SSL_HEADER names with its value (proxy_headers), as the
  proxy in front of the app would send them.

Header values are never put in a message (a header may carry a token).
"""

from __future__ import annotations

import collections
import re
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urljoin, urlsplit, urlunsplit

from ansible.module_utils.urls import open_url

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets

# What a wait ended with: whether the app answered the status asked, and its last answer in words.
Waited = collections.namedtuple('Waited', 'answered last')

# How much of a page's text the last answer shows.
BODY_SHOWN = 160
_BODY_READ = 4096
_TAG = re.compile(r'<(script|style)\b.*?</\1\s*>|<[^>]*>', re.IGNORECASE | re.DOTALL)
_BLANKS = re.compile(r'\s+')

# Redirects followed on the host asked, per request.
MAX_REDIRECTS = 5


def default_host(allowed_hosts):
    """The Host header ALLOWED_HOSTS accepts: its first entry that is not a wildcard, a leading dot
    dropped (``.example.com`` -> ``example.com``); None when there is none (``*`` alone, or empty)."""
    for entry in allowed_hosts or ():
        host = str(entry).strip().lstrip('.')
        if host and '*' not in host:
            return host
    return None


def proxy_headers(secure_proxy_ssl_header):
    """The header SECURE_PROXY_SSL_HEADER names, as a proxy sends it: ``('HTTP_X_FORWARDED_PROTO', 'https')``
    -> ``{'X-Forwarded-Proto': 'https'}``; empty when it is not set or names no HTTP header."""
    if not secure_proxy_ssl_header or len(secure_proxy_ssl_header) != 2:
        return {}
    meta, value = secure_proxy_ssl_header
    if not str(meta).startswith('HTTP_') or len(str(meta)) == len('HTTP_'):
        return {}
    name = '-'.join(part.capitalize() for part in str(meta)[len('HTTP_'):].split('_'))
    return {name: str(value)}


def request_headers(host=None, headers=None):
    """The headers sent: HOST as ``Host`` (when given), then HEADERS, which win (names compared without case)."""
    sent = {}
    for name, value in ([('Host', host)] if host else []) + list((headers or {}).items()):
        for old in [key for key in sent if key.lower() == str(name).lower()]:
            del sent[old]
        sent[str(name)] = str(value)
    return sent


_BAD_HEADER = re.compile(r'[\r\n\x00]')


def take_headers(module, option, host_option=None):
    """The headers of the module's no_log dict OPTION, taken out of its params: the result's invocation then
    shows their names only. Of their values, only those the masking rule holds for secrets
    (_secrets.secret_strings) stay registered: no_log registered them all, and a registered ``https`` would
    blank every https:// of the result. Fails the module, before anything, on a header (or the Host of
    HOST_OPTION) that holds a line break or a NUL byte, naming it, never its value."""
    headers = dict((str(name), str(value)) for name, value in (module.params.get(option) or {}).items())
    bad = [name for name, value in headers.items() if _BAD_HEADER.search(name + value)]
    if host_option and _BAD_HEADER.search(module.params.get(host_option) or ''):
        bad.insert(0, host_option)
    if bad:
        module.fail_json(msg='nothing was done: %s cannot hold a line break or a NUL byte (a header is one line)'
                         % ', '.join(bad))
    module.no_log_values.difference_update(headers.values())
    module.no_log_values.update(_secrets.secret_strings(headers))
    module.params[option] = dict((name, 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER') for name in headers)
    return headers


def accepts(code, status=200):
    """Whether CODE is what the check asks: any 2xx for 200 (the default), else STATUS exactly."""
    if code is None:
        return False
    if status == 200:
        return 200 <= code < 300
    return code == status


def expected(status=200):
    """What the check asks, in words."""
    return 'a 2xx status' if status == 200 else 'HTTP %d' % status


def page_text(body):
    """The start of a page's text: tags dropped, blanks collapsed, at most BODY_SHOWN characters."""
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    text = _BLANKS.sub(' ', _TAG.sub(' ', body or '')).strip()
    return text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN - 3].rstrip() + '...'


def describe(code, location=None, body=None, error=None, redirects=()):
    """One answer in words: ``HTTP 500: Server Error (500)``, ``HTTP 301 to https://...``, ``no answer (...)``;
    REDIRECTS, the Locations followed to get it, are named at the end."""
    if code is None:
        said = 'no answer (%s)' % (error or 'nothing listens')
    else:
        said = 'HTTP %d' % code
        if location:
            said += ' to %s' % location
        text = page_text(body)
        if text:
            said = '%s: %s' % (said, text)
    if redirects:
        said += ' (after redirects to %s)' % ', '.join(redirects)
    return said


def hint(last, status=200, host=None):
    """What to do about the last answer, naming the variables to set. HOST: the Host header sent, if any."""
    sent = 'Host %s' % host if host else 'the health URL\'s host'
    if re.match(r'HTTP 3\d\d to https://', last):
        return ('the app redirects to https (SECURE_SSL_REDIRECT): set SECURE_PROXY_SSL_HEADER in its settings '
                '(the health check then sends that header, as the proxy does), or set deploy_healthcheck_headers '
                'to the header the proxy sends, e.g. {"X-Forwarded-Proto": "https"}')
    if last.startswith('HTTP 3'):
        return ('the health check follows redirects only on the host it asks (at most %d): set '
                'deploy_healthcheck_url to the page the app answers %s on, or deploy_healthcheck_host to the host '
                'it redirects to' % (MAX_REDIRECTS, expected(status)))
    if last.startswith('HTTP 400'):
        return ('Django answers 400 when ALLOWED_HOSTS does not list the Host header (%s sent): set '
                'deploy_healthcheck_host to a host ALLOWED_HOSTS lists' % sent)
    if last.startswith('HTTP '):
        return ('set deploy_healthcheck_url (and deploy_healthcheck_status) to what the app answers when it is '
                'healthy, or read its log for why it answered so')
    return 'read the service\'s log for why it does not answer, or set deploy_healthcheck_url to where it listens'


def follow(url, location, host=None):
    """Where to follow a redirect from URL to LOCATION: the same host's URL, or None when it leaves the host.

    It stays on the host when it is relative, or has URL's scheme and its host:port or the Host header sent
    (HOST: Django builds absolute redirects from the Host it was sent); it is then asked at URL's own address.
    """
    target = urlsplit(urljoin(url, location))
    asked = urlsplit(url)
    if target.scheme != asked.scheme:
        return None
    if target.netloc.lower() not in (asked.netloc.lower(), (host or asked.netloc).lower()):
        return None
    return urlunsplit((asked.scheme, asked.netloc, target.path or '/', target.query, ''))


def _request(url, timeout, headers):
    """Request URL once, no redirect followed: (status or None, Location, body, error)."""
    try:
        answer = open_url(url, timeout=timeout, follow_redirects='none', validate_certs=False, headers=headers)
        return answer.getcode(), None, answer.read(_BODY_READ), None
    except HTTPError as exc:
        try:
            body = exc.read(_BODY_READ)
        except (OSError, ValueError, AttributeError):
            body = None
        return exc.code, exc.headers.get('Location') if exc.headers else None, body, None
    except (URLError, OSError, ValueError) as exc:
        return None, None, None, str(getattr(exc, 'reason', None) or exc)


def ask(url, timeout, headers=None, status=200):
    """Request URL, following the redirects that stay on its host (none when STATUS is a 3xx, which asks for
    the redirect itself); returns (the last status or None, the last answer in words)."""
    headers = headers or {}
    host = next((value for name, value in headers.items() if name.lower() == 'host'), None)
    followed = []
    while True:
        code, location, body, error = _request(url, timeout, headers)
        then = location and code and 300 <= code < 400 and not 300 <= status < 400 and follow(url, location, host)
        if not then or len(followed) >= MAX_REDIRECTS:
            return code, describe(code, location, body, error, followed)
        followed.append(location)
        url = then


def wait_for_url(url, status=200, timeout=30.0, interval=0.02, headers=None, clock=time.monotonic,
                 sleep=time.sleep, request_timeout=None):
    """Request URL (with HEADERS) until it answers STATUS (accepts()); a Waited: whether it did within TIMEOUT
    seconds (0: asked once), and its last answer. Each request waits REQUEST_TIMEOUT seconds at most (by default
    TIMEOUT, from 1 to 5)."""
    code, last = _until(url, status, timeout, interval, headers, clock, sleep, request_timeout)
    return Waited(accepts(code, status), last)


def check(url, status=200, timeout=30.0, headers=None, request_timeout=None, interval=1.0):
    """wait_for_url, asking every INTERVAL seconds, with the last status: (status or None, last, answered)."""
    code, last = _until(url, status, timeout, interval, headers, time.monotonic, time.sleep, request_timeout)
    return code, last, accepts(code, status)


def _until(url, status, timeout, interval, headers, clock, sleep, request_timeout):
    deadline = clock() + timeout
    while True:
        code, last = ask(url, request_timeout or max(1.0, min(5.0, timeout)), headers, status)
        if accepts(code, status) or clock() >= deadline:
            return code, last
        sleep(interval)
