# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""simpledeploy.django.health_check against a loopback server that answers as a Django project in production
settings does (400 for a Host ALLOWED_HOSTS does not list, 301 to https:// without the proxy's header)."""

from __future__ import annotations

import http.server
import os
import threading

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import health_check
from ansible_collections.simpledeploy.django.tests.unit.conftest import proxied_django

TOKEN = 'probe-token-77aa9e'


@pytest.fixture
def app():
    """/ redirects to /catalog/, which answers 200, for Host example.com with X-Forwarded-Proto https."""
    with proxied_django('example.com', b'<h1>Catalog</h1>') as server:
        yield server


def test_it_answers_with_the_host_and_the_proxy_header_and_never_shows_a_header_value(run_module, app):
    result = run_module(health_check, dict(url=app.url, host='example.com', timeout=0,
                                           headers={'X-Forwarded-Proto': 'https', 'X-Probe-Token': TOKEN}))
    assert not result.get('failed'), result['msg']
    assert result['answered'] is True and result['status'] == 200 and result['hint'] is None
    assert result['last'] == 'HTTP 200: Catalog (after redirects to /catalog/)'
    assert app.asked[-1]['X-Probe-Token'] == TOKEN and TOKEN not in result.raw
    assert result['changed'] is False


@pytest.mark.parametrize('host, last, hint', [
    (None, 'HTTP 400: Bad Request (400)', 'set deploy_healthcheck_host'),
    ('example.com', 'HTTP 301 to https://example.com/', 'SECURE_PROXY_SSL_HEADER'),
])
def test_it_fails_with_the_last_answer_and_what_to_set(run_module, app, host, last, hint):
    result = run_module(health_check, dict(url=app.url, host=host, timeout=0, headers={'X-Probe-Token': TOKEN}))
    assert result['failed'] and result['answered'] is False and result['last'] == last
    assert result['msg'].startswith('%s did not answer a 2xx status within 0.0 s (last answer: %s); ' % (app.url, last))
    assert hint in result['msg'] and TOKEN not in result.raw


def test_without_fail_it_only_reports_and_nothing_listening_has_no_status(run_module, app):
    url = app.url
    app.shutdown()
    app.server_close()
    result = run_module(health_check, dict(url=url, timeout=0, fail=False))
    assert not result.get('failed')
    assert result['answered'] is False and result['status'] is None and result['last'].startswith('no answer (')


def test_a_page_showing_a_value_of_the_environment_file_is_masked(run_module, tmp_path):
    secret = 'settings-secret-0a9b8c7d'
    page = ('<h1>ImproperlyConfigured</h1><p>cannot log in with %s</p>' % secret).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            self.send_response(500)
            self.send_header('Content-Length', str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env_file = tmp_path / 'app.env'
    env_file.write_text('CACHE_PASSWORD=%s\nDJANGO_DEBUG=1\n' % secret)
    try:
        url = 'http://127.0.0.1:%d/' % server.server_address[1]
        result = run_module(health_check, dict(url=url, timeout=0, env_file=str(env_file)))
    finally:
        server.shutdown()
        server.server_close()
    assert result['failed'] and 'last answer: HTTP 500: ImproperlyConfigured cannot log in with ********' in result['msg']
    assert secret not in result.raw


@pytest.mark.parametrize('call, named', [
    (dict(headers={'X-Probe-Token': TOKEN + '\r\nX-Evil: 1'}), 'X-Probe-Token'),
    (dict(host='example.com\r\nX-Evil: 1'), 'host'),
])
def test_a_header_of_more_than_one_line_is_refused_naming_it_never_its_value(run_module, app, call, named):
    result = run_module(health_check, dict(url=app.url, timeout=0, **call))
    assert result['failed'] and result['msg'].startswith('nothing was done: %s cannot hold a line break' % named)
    assert TOKEN not in result.raw and app.asked == []


@pytest.mark.parametrize('state, asked', [('inactive', False), ('activating', False), ('active', True)])
def test_with_a_service_the_url_is_asked_only_while_it_is_active(run_module, app, tmp_path, monkeypatch,
                                                                 state, asked):
    # Through a socket unit, asking a stopped service would start it: the deploy's first question must not.
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    script = bindir / 'systemctl'
    script.write_text('#!/bin/sh\necho "$@" >> %s/calls\necho ActiveState=%s\necho MainPID=0\n' % (tmp_path, state))
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))
    result = run_module(health_check, dict(url=app.url, host='example.com', timeout=0, fail=False, service='web',
                                           headers={'X-Forwarded-Proto': 'https'}))
    assert not result.get('failed')
    assert (tmp_path / 'calls').read_text().split()[-1] == 'web'
    assert result['active'] is asked and bool(app.asked) is asked and result['answered'] is asked
    if not asked:
        assert result['status'] is None and result['last'] == 'not asked: web is %s' % state


def test_with_a_stopped_service_and_fail_it_fails_saying_it_did_not_ask(run_module, app, tmp_path, monkeypatch):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    (bindir / 'systemctl').write_text('#!/bin/sh\necho ActiveState=inactive\n')
    (bindir / 'systemctl').chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))
    result = run_module(health_check, dict(url=app.url, timeout=0, service='web'))
    assert result['failed'] and result['msg'] == '%s: not asked: web is inactive' % app.url
    assert app.asked == []
