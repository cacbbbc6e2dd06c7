# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask URLs over and over while a deploy runs; on SIGTERM, write what each answered as JSON.

Runs on the container host (started by the scenario with systemd-run):
``poll.py [--timeout=S] OUT HOST URL...``. Every 20 ms it asks every URL
once with the Host header HOST and a client timeout of S seconds (2 by
default: the role's graceful reload keeps old workers serving until new ones
have imported the project, so no request should wait for that import; a
longer one across a downtime window, whose connections wait in the socket's
backlog). OUT gets ``{url: {"ok": n, "failed": [[status
or error, seconds since start], ...], "longest": seconds}}``: the longest
wait for an answer is a measure, not a test.
"""

import json
import signal
import sys
import time
import urllib.error
import urllib.request

INTERVAL = 0.02
TIMEOUT = 2


class Stop(Exception):
    pass


def stop(_signum, _frame):
    raise Stop()


def ask(url, host, timeout=TIMEOUT):
    request = urllib.request.Request(url, headers={'Host': host})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        return 'no answer: %s' % getattr(exc, 'reason', exc)


def main(out, host, urls, timeout=TIMEOUT):
    seen = dict((url, {'ok': 0, 'failed': [], 'longest': 0.0}) for url in urls)
    start = time.monotonic()
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            for url in urls:
                asked = time.monotonic()
                status = ask(url, host, timeout)
                seen[url]['longest'] = max(seen[url]['longest'], round(time.monotonic() - asked, 3))
                if status == 200:
                    seen[url]['ok'] += 1
                else:
                    seen[url]['failed'].append([status, round(time.monotonic() - start, 2)])
            time.sleep(INTERVAL)
    except (Stop, KeyboardInterrupt):
        pass
    with open(out, 'w') as handle:
        json.dump(seen, handle, indent=1, sort_keys=True)


if __name__ == '__main__':
    ARGS = sys.argv[1:]
    WAIT = TIMEOUT
    if ARGS and ARGS[0].startswith('--timeout='):
        WAIT = float(ARGS.pop(0).split('=', 1)[1])
    main(ARGS[0], ARGS[1], ARGS[2:], WAIT)
