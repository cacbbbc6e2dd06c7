# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for the app to answer, against a real loopback server."""

from __future__ import annotations

from ansible_collections.simpledeploy.django.plugins.module_utils import _wait


class _Answer(object):
    """A loopback HTTP server answering STATUS, on a free port."""

    def __init__(self, status, body=b'', headers=()):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_wait_for_url_returns_when_the_app_answers():
    with _Answer(200, b'<p>ok</p>') as app:
        assert _wait.wait_for_url(app.url, 200, timeout=5) == (True, 'HTTP 200: ok')


def test_wait_for_url_gives_up_on_a_wrong_status_or_nothing_listening():
    with _Answer(500) as app:
        assert _wait.wait_for_url(app.url, 200, timeout=0.2).answered is False
        url = app.url
    waited = _wait.wait_for_url(url, 200, timeout=0.2)
    assert waited.answered is False and waited.last.startswith('no answer (') and 'refused' in waited.last


def test_the_last_answer_shows_the_status_and_the_start_of_the_page():
    page = (b'<!doctype html><html><head><title>Server Error</title><style>h1 {color: red}</style></head>'
            b'<body>\n<h1>Server Error (500)</h1>\n<p>' + b'x' * 400 + b'</p></body></html>')
    with _Answer(500, page) as app:
        waited = _wait.wait_for_url(app.url, 200, timeout=0.2)
    assert waited.last.startswith('HTTP 500: Server Error Server Error (500) xxx')
    assert waited.last.endswith('...') and len(waited.last) == len('HTTP 500: ') + _wait.BODY_SHOWN
    assert 'color' not in waited.last and 'doctype' not in waited.last
    assert 'deploy_healthcheck_url' in _wait.hint(waited.last, 200)


def test_a_redirect_is_named_with_where_it_goes_and_the_hint_says_what_to_set():
    with _Answer(301, headers=[('Location', 'https://person.example/')]) as app:
        waited = _wait.wait_for_url(app.url, 200, timeout=0.2)
    assert waited == (False, 'HTTP 301 to https://person.example/')
    said = _wait.hint(waited.last, 200)
    assert 'SECURE_PROXY_SSL_HEADER' in said and 'deploy_healthcheck_headers' in said


def test_a_400_points_at_allowed_hosts():
    with _Answer(400, b'<h1>Bad Request (400)</h1>') as app:
        waited = _wait.wait_for_url(app.url, 200, timeout=0.2)
    assert waited.last == 'HTTP 400: Bad Request (400)'
    assert 'ALLOWED_HOSTS' in _wait.hint(waited.last, 200)
