# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and write a site at a steady rate while a deploy runs; on SIGTERM, write every answer as JSON.

Runs on the container host (the realistic scenario starts it with
systemd-run, benchmarks/bench_nofail.py too)::

    traffic.py --out FILE [--host H] [--rate N] [--timeout S] [--write URL] READ_URL...

Every 1/N second it starts one request in its own thread, whether or not
the ones before it have been answered (an open loop, like a site's visitors:
a request waiting in a held socket's backlog does not hold the next one back).
The requests alternate between a read (GET, the READ_URLs in turn) and,
with --write, a write (POST of a book's title and author, with the bearer
token the environment variable CATALOG_API_TOKEN holds, never an argument).
No keep-alive: every request opens its own connection. A read succeeds with
200, a write with 201; anything else, a reset or no answer within S seconds
(10 by default) fails it. Each answer's release is its X-Release header.
N is 20 by default: a request every 50 ms meets any gap in service longer
than that, and costs a busy test machine less than a faster client (at 50
a second, in two minutes of the realistic scenario sampled with perf beside
another scenario, gunicorn took 14 % of the samples of two cores, and the
processes named python3, this client among them, 8 %).

On SIGTERM no new request starts; the ones in flight get their timeout, then
FILE gets::

    {"rate": N, "timeout": S, "started": t, "stopped": t,
     "requests": [[kind, url, sent, seconds, status, release], ...],
     "summary": {kind: {"ok": n, "failed": n, "longest": s, "p99": s}}}

with ``sent`` the wall-clock time (seconds since the epoch) the request was
started, ``seconds`` how long its answer took and ``status`` the HTTP status
or the error. Figures, not verdicts: whoever reads FILE decides.
"""

import argparse
import http.client
import itertools
import json
import math
import os
import signal
import threading
import time
import urllib.parse


def ask(method, url, host, timeout, body=None, headers=None):
    """One request on its own connection: (status or error text, X-Release or None)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        sent = dict(headers or {}, Host=host, Connection='close')
        connection.request(method, parts.path or '/', body=body, headers=sent)
        answer = connection.getresponse()
        answer.read()
        return answer.status, answer.getheader('X-Release')
    except (OSError, http.client.HTTPException) as exc:
        return 'no answer: %s: %s' % (type(exc).__name__, exc), None
    finally:
        connection.close()


def percentile(values, share):
    """The value below which SHARE of VALUES lie (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    # the nearest rank, ceil(SHARE * n), counted from 1 (less a hair: 0.99 * 100 is 99.00000000000001)
    rank = int(math.ceil(share * len(ordered) - 1e-9))
    return ordered[max(0, min(len(ordered), rank) - 1)]


def summarise(rows):
    """{kind: {ok, failed, longest, p99}} of the ROWS."""
    summary = {}
    for kind, good in (('read', 200), ('write', 201)):
        mine = [row for row in rows if row[0] == kind]
        if not mine:
            continue
        waits = [row[3] for row in mine]
        summary[kind] = {
            'ok': sum(1 for row in mine if row[4] == good),
            'failed': sum(1 for row in mine if row[4] != good),
            'longest': round(max(waits), 3),
            'p99': round(percentile(waits, 0.99), 3),
        }
    return summary


class Traffic(object):
    """The open loop: start() one thread per request until stop() is asked."""

    def __init__(self, args, token):
        self.args = args
        self.token = token
        self.rows = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.pending = {}

    def one(self, kind, url, number):
        sent = time.time()
        began = time.monotonic()
        with self.lock:
            self.pending[number] = [kind, url, round(sent, 6), None, 'no answer: still waiting at the end', None]
        if kind == 'read':
            status, release = ask('GET', url, self.args.host, self.args.timeout)
        else:
            body = urllib.parse.urlencode({'title': 'Traffic %d' % number, 'author': 'traffic.py'})
            headers = {'Content-Type': 'application/x-www-form-urlencoded',
                       'Authorization': 'Bearer %s' % self.token}
            status, release = ask('POST', url, self.args.host, self.args.timeout, body, headers)
        row = [kind, url, round(sent, 6), round(time.monotonic() - began, 6), status, release]
        with self.lock:
            del self.pending[number]
            self.rows.append(row)

    def run(self):
        reads = itertools.cycle(self.args.read)
        period = 1.0 / self.args.rate
        tick = time.monotonic()
        for number in itertools.count():
            if self.stopping.is_set():
                break
            if self.args.write and number % 2:
                kind, url = 'write', self.args.write
            else:
                kind, url = 'read', next(reads)
            thread = threading.Thread(target=self.one, args=(kind, url, number), daemon=True)
            thread.start()
            self.threads.append(thread)
            tick += period
            self.stopping.wait(max(0.0, tick - time.monotonic()))
        deadline = time.monotonic() + self.args.timeout + 2
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--host', default='localhost')
    parser.add_argument('--rate', type=float, default=20.0)
    parser.add_argument('--timeout', type=float, default=10.0)
    parser.add_argument('--write')
    parser.add_argument('read', nargs='+')
    args = parser.parse_args()
    token = os.environ.get('CATALOG_API_TOKEN', '')
    if args.write and not token:
        parser.error('--write needs the token in the environment variable CATALOG_API_TOKEN')
    traffic = Traffic(args, token)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: traffic.stopping.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: traffic.stopping.set())
    started = time.time()
    traffic.run()
    with traffic.lock:
        rows = sorted(traffic.rows + [[kind, url, sent, round(time.time() - sent, 6), status, release]
                                      for kind, url, sent, _s, status, release in traffic.pending.values()],
                      key=lambda row: row[2])
    result = {'rate': args.rate, 'timeout': args.timeout, 'started': started, 'stopped': time.time(),
              'requests': rows, 'summary': summarise(rows)}
    # Run as root: never through a link, never into a file someone made beforehand.
    fd = os.open(args.out + '.tmp', os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(result, handle)
    os.rename(args.out + '.tmp', args.out)


if __name__ == '__main__':
    main()
