# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/realistic/files/traffic.py, the client the realistic scenario and bench_nofail.py read and write with.

Against a real HTTP server on a local port: the loop is open (a request held by the server does not hold the
next one back), reads and writes alternate, the token goes in the header and never on the command line, each
answer keeps its X-Release, and a request not answered within the timeout counts as failed.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CLIENT = os.path.join(ROOT, 'molecule', 'realistic', 'files', 'traffic.py')


def load_client():
    spec = importlib.util.spec_from_file_location('traffic_client', CLIENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def site():
    """A threaded HTTP server: GET / answers 200, POST /add 201 (with the right token) and GET /slow after 1.5 s."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def answer(self, status):
            self.send_response(status)
            self.send_header('X-Release', 'r7')
            self.send_header('Content-Length', '0')
            self.end_headers()

        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append(('GET', self.path, self.headers.get('Connection'), time.monotonic()))
            if self.path == '/slow':
                time.sleep(1.5)
            self.answer(200)

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get('Content-Length', 0))).decode()
            seen.append(('POST', self.path, self.headers.get('Authorization'), body))
            self.answer(201 if self.headers.get('Authorization') == 'Bearer tok-5b1e' else 403)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1], seen
    server.shutdown()
    server.server_close()


def run_client(tmp_path, base, seconds, *args, token='tok-5b1e'):
    out = tmp_path / 'traffic.json'
    env = dict(os.environ, CATALOG_API_TOKEN=token)
    proc = subprocess.Popen([sys.executable, CLIENT, '--out', str(out)] + list(args), env=env)
    time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    return json.loads(out.read_text())


def test_percentile_and_summary():
    client = load_client()
    assert client.percentile([], 0.99) == 0.0
    assert client.percentile(list(range(1, 101)), 0.99) == 99
    assert client.percentile([0.5], 0.99) == 0.5
    rows = [['read', 'u', 1.0, 0.01, 200, 'a'], ['read', 'u', 1.1, 2.0, 'no answer: timeout', None],
            ['write', 'w', 1.2, 0.02, 201, 'a'], ['write', 'w', 1.3, 0.03, 500, 'a']]
    assert client.summarise(rows) == {'read': {'ok': 1, 'failed': 1, 'longest': 2.0, 'p99': 2.0},
                                      'write': {'ok': 1, 'failed': 1, 'longest': 0.03, 'p99': 0.03}}


def test_reads_and_writes_alternate_at_the_rate_with_the_token_in_the_header(site, tmp_path):
    base, seen = site
    result = run_client(tmp_path, base, 1.6, '--rate', '40', '--write', base + '/add', base + '/')
    rows = result['requests']
    assert 50 <= len(rows) <= 75, len(rows)
    assert result['summary']['read']['failed'] == 0 and result['summary']['write']['failed'] == 0
    assert {row[5] for row in rows} == {'r7'}
    kinds = [row[0] for row in rows]
    assert abs(kinds.count('read') - kinds.count('write')) <= 1
    posts = [entry for entry in seen if entry[0] == 'POST']
    assert posts and all(entry[2] == 'Bearer tok-5b1e' and 'title=Traffic+' in entry[3] for entry in posts)
    assert all(entry[2] == 'close' for entry in seen if entry[0] == 'GET')


def test_a_held_request_does_not_hold_the_next_and_fails_at_the_timeout(site, tmp_path):
    base, _seen = site
    result = run_client(tmp_path, base, 1.0, '--rate', '20', '--timeout', '0.5', base + '/slow', base + '/')
    rows = result['requests']
    fast = [row for row in rows if row[1].endswith('/') and not row[1].endswith('/slow')]
    slow = [row for row in rows if row[1].endswith('/slow')]
    # every slow request timed out at 0.5 s while the fast ones, sent between them, were answered
    assert len(fast) >= 8 and all(row[4] == 200 for row in fast)
    assert slow and all(str(row[4]).startswith('no answer: ') for row in slow)
    assert result['summary']['read']['failed'] == len(slow)


def test_writing_without_a_token_is_refused_before_any_request(tmp_path):
    env = dict(os.environ)
    env.pop('CATALOG_API_TOKEN', None)
    done = subprocess.run([sys.executable, CLIENT, '--out', str(tmp_path / 'x.json'), '--write', 'http://127.0.0.1:9/a',
                           'http://127.0.0.1:9/'], env=env, capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 2 and 'CATALOG_API_TOKEN' in done.stderr
    assert not (tmp_path / 'x.json').exists()
