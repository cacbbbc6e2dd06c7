# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``manage.py migrate``, one at a time per database.

Private to the simpledeploy.django collection: the interface may change.

Several web hosts share one PostgreSQL database: two runs (two playbooks, two
AWX jobs, two ``serial`` batches that both found migrations pending) must
never migrate it at the same time. The child below takes a session-level
PostgreSQL advisory lock on a connection of its own (so nothing ``migrate``
does to its connection can drop it), then runs Django's own ``migrate``
command, which reads the plan again under the lock: a run that waited finds
nothing left to apply. The lock goes with the session, so a killed child
never leaves it held. SQLite is one file on one host: no lock is needed there
beyond the role's deploy lock.
"""

from __future__ import annotations

import hashlib
import json
import struct

from ansible_collections.simpledeploy.django.plugins.module_utils._django import (
    CHILD_PRELUDE,
    last_error_line,
    parse_marked_json,
    run_manage,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError

MIGRATE_MARKER = '@@simpledeploy.django.migrate@@ '
LOCK_NAME = 'simpledeploy.django migrate'
DEFAULT_LOCK_TIMEOUT = 600.0


def lock_key(name=LOCK_NAME):
    """The bigint key of the advisory lock: the first 8 bytes of SHA-256(NAME), signed.

    The same for every host and every run, so that they all contend for it;
    other software is very unlikely to use the same number.
    """
    return struct.unpack('>q', hashlib.sha256(name.encode('utf-8')).digest()[:8])[0]


# Executed by ``manage.py shell -c`` in the project's virtualenv, as the app's
# user. One JSON line behind the marker: the lock taken (or null) and the
# seconds spent waiting for it; migrate's own output goes to stdout before it.
MIGRATE_CODE = CHILD_PRELUDE + r'''
import time as _tm


def _sd_main():
    settings = _sd_setup()
    from django.core.management import call_command
    from django.db import connections
    alias = _o.environ["SIMPLEDEPLOY_DATABASE"]
    args = _j.loads(_o.environ["SIMPLEDEPLOY_MIGRATE_ARGS"])
    key = int(_o.environ["SIMPLEDEPLOY_LOCK_KEY"])
    timeout = float(_o.environ["SIMPLEDEPLOY_LOCK_TIMEOUT"])
    if alias not in settings.DATABASES:
        _sd_fail("database", type="UnknownDatabase",
                 message="not in settings.DATABASES (defined: %s)" % ", ".join(sorted(settings.DATABASES)))
    try:
        vendor = connections[alias].vendor
    except Exception as exc:
        _sd_fail("backend", exc)
    result = {"vendor": vendor, "lock": None, "waited": 0.0}
    lock = None
    if vendor == "postgresql":
        start = _tm.monotonic()
        try:
            # A connection of its own: migrate may close or reset the default one.
            lock = connections.create_connection(alias)
            with lock.cursor() as cursor:
                while True:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                    if cursor.fetchone()[0]:
                        break
                    if _tm.monotonic() - start >= timeout:
                        _sd_fail("lock", type="LockTimeout",
                                 message="another migrate held the advisory lock %d for more than %g s"
                                         % (key, timeout), waited=round(_tm.monotonic() - start, 3))
                    _tm.sleep(0.2)
        except Exception as exc:
            _sd_fail("lock", exc)
        result.update(lock="postgresql advisory lock %d" % key, waited=round(_tm.monotonic() - start, 3))
    try:
        call_command("migrate", *args, database=alias, interactive=False, verbosity=1)
    except Exception as exc:
        _sd_fail("migrate", exc, **result)
    finally:
        if lock is not None:
            try:
                lock.close()
            except Exception:
                pass
    _s.stdout.flush()
    _sd_emit(result)


_sd_main()
'''


class MigrateError(StepError):
    """``migrate`` failed or could not take the lock; the message says which and why."""

    def __init__(self, message, lines=None, info=None):
        super(MigrateError, self).__init__(message)
        self.lines = lines or []
        self.info = info or {}


def output_lines(stdout, marker=MIGRATE_MARKER):
    """What migrate printed, without the blank lines and the marker line of the child."""
    return [line for line in (stdout or '').splitlines() if line.strip() and not line.startswith(marker)]


def error_message(error, args):
    """One line for the ``error`` object of MIGRATE_CODE."""
    shown = ' '.join(['manage.py', 'migrate'] + list(args))
    what = error.get('message') or error.get('type') or 'unknown error'
    what = what.strip().splitlines()[-1] if what.strip() else what
    stage = error.get('stage')
    if stage == 'lock':
        return '%s could not take the database lock: %s' % (shown, what)
    if stage == 'migrate':
        return '%s failed: %s: %s' % (shown, error.get('type', 'Error'), what)
    return '%s failed before migrating (%s): %s' % (shown, stage, what)


def migrate(module, project, virtualenv, args=(), settings=None, env_file=None, run_as=None,
            alias='default', lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Run ``manage.py migrate ARGS`` under the advisory lock (PostgreSQL).

    Returns ``(lines, info)``: migrate's output and ``{vendor, lock, waited}``.
    Raises MigrateError (with the lines printed so far) when it fails.
    """
    args = [str(arg) for arg in args]
    extra = {
        'SIMPLEDEPLOY_MARKER': MIGRATE_MARKER,
        'SIMPLEDEPLOY_DATABASE': alias,
        'SIMPLEDEPLOY_MIGRATE_ARGS': json.dumps(args),
        'SIMPLEDEPLOY_LOCK_KEY': str(lock_key()),
        'SIMPLEDEPLOY_LOCK_TIMEOUT': repr(float(lock_timeout)),
    }
    rc, out, err = run_manage(module, project, virtualenv, ['shell', '--verbosity', '0', '-c', MIGRATE_CODE],
                              settings=settings, env_file=env_file, run_as=run_as, check_rc=False,
                              extra_env=extra)
    lines = output_lines(out)
    data = parse_marked_json(out, MIGRATE_MARKER)
    if data is None:
        raise MigrateError('%s failed (rc=%s): %s'
                           % (' '.join(['manage.py', 'migrate'] + args), rc, last_error_line(err, out)), lines)
    if 'error' in data:
        error = data['error']
        info = dict((k, error[k]) for k in ('vendor', 'lock', 'waited') if k in error)
        raise MigrateError(error_message(error, args), lines, info)
    return lines, data
