# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask URLs over and over while a deploy runs; on SIGTERM, write what each answered as JSON.

Runs on the container host (started by the scenario with systemd-run):
``poll.py OUT HOST URL...``. Each round asks every URL once with the Host
header HOST (10 s client timeout: a reload may queue requests for the
moment new workers import Django; issue 12 is about that gap, this is
about whether the asset answers at all). OUT gets ``{url: {"ok": n,
"failed": [[status or error, seconds since start], ...]}}``.
"""

import json
import signal
import sys
import time
import urllib.error
import urllib.request

INTERVAL = 0.05
TIMEOUT = 10


class Stop(Exception):
    pass


def stop(_signum, _frame):
    raise Stop()


def ask(url, host):
    request = urllib.request.Request(url, headers={'Host': host})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        return 'no answer: %s' % getattr(exc, 'reason', exc)


def main(out, host, urls):
    seen = dict((url, {'ok': 0, 'failed': []}) for url in urls)
    start = time.monotonic()
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            for url in urls:
                status = ask(url, host)
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
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
