# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for the app to answer, against a real loopback server."""

from __future__ import annotations

from ansible_collections.simpledeploy.django.plugins.module_utils import _wait


class _Answer(object):
    """A loopback HTTP server answering STATUS, on a free port."""

    def __init__(self, status):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                self.send_response(status)
                self.end_headers()

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
    with _Answer(200) as app:
        assert _wait.wait_for_url(app.url, 200, timeout=5) is True


def test_wait_for_url_gives_up_on_a_wrong_status_or_nothing_listening():
    with _Answer(500) as app:
        assert _wait.wait_for_url(app.url, 200, timeout=0.2) is False
        url = app.url
    assert _wait.wait_for_url(url, 200, timeout=0.2) is False
