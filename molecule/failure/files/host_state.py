"""Print the failure scenario's host state as one JSON object: what files/faults.py records before and after a run.

    host_state.py --root ROOT --url URL --service NAME --lock FILE [--config FILE]... [--fingerprint DIR]...

Runs on the host as root (Python 3 stdlib), copied there by prepare.yml, so
that reading the state is one `podman exec` instead of one per item. Prints
{"page", "service", "lock", "staging", "config", "fingerprint", and "rows",
"columns", "migrations" (or "db_error")}:

- page: the release the page at URL names in its <meta name="release">,
  None for a page without one (a 500), or "no answer: " and the error when
  none came within 5 s or the connection failed;
- config: the first 16 hex digits of each --config file's sha256, in order,
  each followed by a space (a missing file is left out);
- fingerprint: the first 16 hex digits of the sha256 of
  /usr/local/lib/sd-fingerprint.py's listing of the --fingerprint
  directories, or None without them.
"""

import argparse
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request

FINGERPRINT = '/usr/local/lib/sd-fingerprint.py'


def page_release(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:  # an error page is a page too
        body = exc.read()
    except OSError as exc:  # e.g. "timed out": the request waited in the socket for 5 s
        return 'no answer: %s' % exc
    found = re.search(rb'name="release" content="([^"]*)"', body)
    return found.group(1).decode() if found else None


def database(root):
    path = os.path.join(root, 'shared', 'db.sqlite3')
    try:
        with sqlite3.connect('file:%s?mode=ro' % path, uri=True) as conn:
            return dict(
                rows=conn.execute('select count(*) from people_person').fetchone()[0],
                columns=[row[1] for row in conn.execute('pragma table_info(people_person)')],
                migrations=[row[0] for row in conn.execute(
                    "select name from django_migrations where app = 'people' order by id")])
    except sqlite3.Error as exc:
        return dict(db_error='%s: %s' % (type(exc).__name__, exc))


def config(paths):
    digests = []
    for path in paths:
        try:
            with open(path, 'rb') as handle:
                digests.append(hashlib.sha256(handle.read()).hexdigest()[:16] + ' ')
        except FileNotFoundError:
            continue
    return ''.join(digests)


def fingerprint(dirs):
    if not dirs:
        return None
    listing = subprocess.run([sys.executable, FINGERPRINT] + dirs, stdout=subprocess.PIPE, check=True).stdout
    return hashlib.sha256(listing).hexdigest()[:16]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--root', required=True)
    parser.add_argument('--url', required=True)
    parser.add_argument('--service', required=True)
    parser.add_argument('--lock', required=True)
    parser.add_argument('--config', action='append', default=[])
    parser.add_argument('--fingerprint', action='append', default=[])
    args = parser.parse_args()
    active = subprocess.run(['systemctl', 'is-active', args.service], stdout=subprocess.PIPE,
                            universal_newlines=True, check=False).stdout.strip()
    state = dict(page=page_release(args.url), service=active, fingerprint=fingerprint(args.fingerprint),
                 config=config(args.config), lock=os.path.lexists(args.lock),
                 staging=os.path.lexists(os.path.join(args.root, 'staging')))
    state.update(database(args.root))
    print(json.dumps(state))
    return 0


if __name__ == '__main__':
    sys.exit(main())
