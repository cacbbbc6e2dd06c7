# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health check that fits Django: redirects on the host followed, the Host ALLOWED_HOSTS accepts, the
proxy's HTTPS header; against real loopback servers that answer as Django does (400 for a Host it does not
allow, 301 to https:// without the proxy's header, relative redirects)."""

from __future__ import annotations

import http.server
import threading
import types

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _wait


class _Site(object):
    """A loopback HTTP server; ROUTE(path, headers) returns (status, headers, body). Every request is
    recorded in self.asked as (path, headers)."""

    def __init__(self, route):
        site = self
        self.asked = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                site.asked.append((self.path, dict(self.headers)))
                status, headers, body = route(self.path, self.headers)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        self.netloc = '127.0.0.1:%d' % self.server.server_address[1]
        self.url = 'http://%s/' % self.netloc
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def django_like(allowed=('example.com',), proxy=('X-Forwarded-Proto', 'https'), ssl_redirect=True):
    """Answers as a Django project in production settings: 400 for a Host ALLOWED_HOSTS does not list,
    SECURE_SSL_REDIRECT's 301 to https://HOST/ without the proxy's header, / redirecting to /catalog/."""
    def route(path, headers):
        host = (headers.get('Host') or '').split(':')[0]
        if allowed is not None and host not in allowed:
            return 400, [], b'<h1>Bad Request (400)</h1>'
        if ssl_redirect and headers.get(proxy[0]) != proxy[1]:
            return 301, [('Location', 'https://%s%s' % (headers.get('Host'), path))], b''
        if path == '/':
            return 302, [('Location', '/catalog/')], b''
        if path == '/catalog/':
            return 200, [], b'<h1>Local Library</h1>'
        return 404, [], b'<h1>Not Found</h1>'
    return route


def test_a_relative_redirect_is_followed_to_the_page_that_answers():
    with _Site(django_like(allowed=None, ssl_redirect=False)) as app:
        waited = _wait.wait_for_url(app.url, 200, timeout=0.5)
    assert waited == (True, 'HTTP 200: Local Library (after redirects to /catalog/)')
    assert [path for path, dummy in app.asked] == ['/', '/catalog/']


def test_the_host_allowed_hosts_lists_and_the_proxy_header_make_a_production_project_answer():
    with _Site(django_like()) as app:
        bare = _wait.wait_for_url(app.url, 200, timeout=0.2)
        with_host = _wait.wait_for_url(app.url, 200, timeout=0.2, headers=_wait.request_headers('example.com'))
        both = _wait.wait_for_url(app.url, 200, timeout=0.5, headers=_wait.request_headers(
            'example.com', _wait.proxy_headers(('HTTP_X_FORWARDED_PROTO', 'https'))))
    assert bare == (False, 'HTTP 400: Bad Request (400)')
    assert 'ALLOWED_HOSTS' in _wait.hint(bare.last) and 'deploy_healthcheck_host' in _wait.hint(bare.last)
    # SECURE_SSL_REDIRECT's 301 leaves the host (another scheme): the answer, not a success, not followed.
    assert with_host == (False, 'HTTP 301 to https://example.com/')
    assert 'SECURE_PROXY_SSL_HEADER' in _wait.hint(with_host.last)
    assert both == (True, 'HTTP 200: Local Library (after redirects to /catalog/)')
    # Every request, the redirected one too, carried the Host and the header.
    assert app.asked[-1][0] == '/catalog/' and app.asked[-1][1]['Host'] == 'example.com'
    assert app.asked[-1][1]['X-Forwarded-Proto'] == 'https'


def test_an_absolute_redirect_to_the_host_sent_is_asked_at_the_urls_own_address():
    # Django builds absolute redirects from the Host it was sent: http://example.com/catalog/.
    def route(path, headers):
        if path == '/':
            return 301, [('Location', 'http://example.com/catalog/?page=1')], b''
        return (200, [], b'ok') if path == '/catalog/?page=1' else (404, [], b'')
    with _Site(route) as app:
        waited = _wait.wait_for_url(app.url, 200, timeout=0.5, headers={'Host': 'example.com'})
    assert waited.answered, waited.last
    assert [path for path, dummy in app.asked] == ['/', '/catalog/?page=1']


def test_a_redirect_to_another_host_or_port_is_not_followed():
    with _Site(lambda path, headers: (200, [], b'elsewhere')) as other:
        with _Site(lambda path, headers: (302, [('Location', other.url + 'x')], b'')) as app:
            waited = _wait.wait_for_url(app.url, 200, timeout=0.2)
    assert waited == (False, 'HTTP 302 to %sx' % other.url)
    assert other.asked == []
    assert 'deploy_healthcheck_host' in _wait.hint(waited.last)


def test_redirects_are_followed_a_bounded_number_of_times():
    with _Site(lambda path, headers: (302, [('Location', '/a' if path != '/a' else '/b')], b'')) as app:
        code, last = _wait.ask(app.url, 2)
    assert code == 302 and len(app.asked) == _wait.MAX_REDIRECTS + 1
    assert last.startswith('HTTP 302 to ') and '(after redirects to /a, /b, /a, /b, /a)' in last


@pytest.mark.parametrize('answer, status, answered', [
    (204, 200, True),     # the default: any 2xx
    (299, 200, True),
    (300, 200, False),
    (200, 204, False),    # another status asked: that one exactly
    (204, 204, True),
])
def test_the_default_accepts_any_2xx_and_another_status_is_required_exactly(answer, status, answered):
    with _Site(lambda path, headers: (answer, [], b'')) as app:
        assert _wait.wait_for_url(app.url, status, timeout=0.1).answered is answered


def test_a_3xx_status_asked_is_the_redirect_itself_not_followed():
    with _Site(django_like(allowed=None, ssl_redirect=False)) as app:
        waited = _wait.wait_for_url(app.url, 302, timeout=0.2)
    assert waited == (True, 'HTTP 302 to /catalog/')
    assert len(app.asked) == 1


@pytest.mark.parametrize('allowed, host', [
    (['.example.com', 'www.example.com'], 'example.com'),
    (['*', 'localhost'], 'localhost'),
    (['*.example.com', 'api.example.com'], 'api.example.com'),
    (['*'], None),
    ([], None),
    (None, None),
])
def test_the_default_host_is_the_first_entry_of_allowed_hosts_that_is_not_a_wildcard(allowed, host):
    assert _wait.default_host(allowed) == host


@pytest.mark.parametrize('setting, headers', [
    (['HTTP_X_FORWARDED_PROTO', 'https'], {'X-Forwarded-Proto': 'https'}),
    (('HTTP_X_FORWARDED_SSL', 'on'), {'X-Forwarded-Ssl': 'on'}),
    (['wsgi.url_scheme', 'https'], {}),
    (None, {}),
    ([], {}),
])
def test_the_proxy_header_is_the_one_secure_proxy_ssl_header_names(setting, headers):
    assert _wait.proxy_headers(setting) == headers


def test_headers_given_win_over_the_host_and_each_other_whatever_their_case():
    assert _wait.request_headers('example.com', {'x-forwarded-proto': 'http', 'HOST': 'other.example'}) == {
        'x-forwarded-proto': 'http', 'HOST': 'other.example'}
    assert _wait.request_headers(None, {}) == {}


def test_taken_headers_leave_the_invocation_and_only_secret_looking_values_stay_masked():
    module = types.SimpleNamespace(params={'ready_headers': {'X-Forwarded-Proto': 'https', 'X-Token': 'abcd',
                                                             'Authorization': 'Bearer s3cr3t-value'}},
                                   no_log_values={'https', 'abcd', 'Bearer s3cr3t-value', 'other'})
    headers = _wait.take_headers(module, 'ready_headers')
    assert headers['Authorization'] == 'Bearer s3cr3t-value' and headers['X-Forwarded-Proto'] == 'https'
    assert set(module.params['ready_headers'].values()) == {'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
    assert module.no_log_values == {'abcd', 'Bearer s3cr3t-value', 'other'}
