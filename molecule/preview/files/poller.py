"""Request a URL every few milliseconds until a stop file appears; log every answer.

    poller.py URL LOG STOPFILE [INTERVAL_SECONDS]

One line per request: start and end (epoch seconds), HTTP status (0 when the
request failed: refused, reset, timed out) and the release the page names in
<meta name="release" content="...">. Runs on the host, Python 3 stdlib only.
"""

import os
import re
import sys
import time
import urllib.error
import urllib.request

RELEASE = re.compile(rb'<meta name="release" content="([^"]*)">')


def fetch(opener, url):
    try:
        with opener.open(url, timeout=5) as answer:
            found = RELEASE.search(answer.read())
            return answer.status, found.group(1).decode() if found else '-'
    except urllib.error.HTTPError as exc:
        return exc.code, '-'
    except Exception:  # refused, reset, timeout: a failed request
        return 0, '-'


def main():
    url, log, stop = sys.argv[1:4]
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.005
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with open(log, 'w', buffering=1) as handle:
        while not os.path.exists(stop):
            start = time.time()
            status, release = fetch(opener, url)
            handle.write('%.6f %.6f %d %s\n' % (start, time.time(), status, release))
            time.sleep(interval)
    return 0


if __name__ == '__main__':
    sys.exit(main())
