# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``migrate`` job: Django's own ``migrate``, one at a time per database.

Private to the simpledeploy.django collection: the interface may change.

Runs inside the project's Django process (see ``runner``). On PostgreSQL it
first takes a session-level advisory lock on a connection of its own (so
nothing ``migrate`` does to its connection can drop it): two runs on hosts
that share the database never migrate it at once, and the one that waited
finds nothing left to apply, since ``migrate`` reads the plan again under the
lock. The lock goes with the session: a killed child never leaves it held.
``migrate`` prints its progress on stdout as it goes (the module side reads
the "Applying ..." lines even when the child dies).

Parameters: ``database`` (alias), ``args`` (migrate's arguments, e.g.
``[app, target]``), ``lock_key`` (the advisory lock's bigint), ``lock_timeout``
(seconds). Result: ``{vendor, lock, waited}``.
"""

from __future__ import absolute_import, division, print_function

import sys
import time

from .protocol import Failure

# Seconds between two tries for the advisory lock.
_POLL = 0.2


def take_advisory_lock(conn, key, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait until the PostgreSQL session of CONN holds the advisory lock KEY; returns the seconds waited.

    Raises Failure at stage ``lock`` when TIMEOUT seconds pass first.
    """
    start = clock()
    with conn.cursor() as cursor:
        while True:
            cursor.execute('SELECT pg_try_advisory_lock(%s)', [key])
            if cursor.fetchone()[0]:
                return round(clock() - start, 3)
            if clock() - start >= timeout:
                raise Failure('lock', type='LockTimeout',
                              message='another migrate held the advisory lock %d for more than %g s' % (key, timeout),
                              waited=round(clock() - start, 3))
            sleep(_POLL)


def run(params, settings):
    """The job: ``migrate ARGS`` on the database ``params['database']``, under the lock."""
    from django.core.management import call_command
    from django.db import connections
    alias = params.get('database', 'default')
    if alias not in settings.DATABASES:
        raise Failure('database', type='UnknownDatabase',
                      message='not in settings.DATABASES (defined: %s)' % ', '.join(sorted(settings.DATABASES)))
    try:
        vendor = connections[alias].vendor
    except Exception as exc:
        raise Failure('backend', exc)
    result = {'vendor': vendor, 'lock': None, 'waited': 0.0}
    lock = None
    try:
        if vendor == 'postgresql':
            key = int(params['lock_key'])
            try:
                # A connection of its own: migrate may close or reset the default one.
                lock = connections.create_connection(alias)
                result['waited'] = take_advisory_lock(lock, key, float(params['lock_timeout']))
            except Failure:
                raise
            except Exception as exc:
                raise Failure('lock', exc)
            result['lock'] = 'postgresql advisory lock %d' % key
        try:
            call_command('migrate', *params.get('args', []), database=alias, interactive=False, verbosity=1)
        except Exception as exc:
            raise Failure('migrate', exc, **result)
    finally:
        if lock is not None:
            try:
                lock.close()
            except Exception:
                pass
    sys.stdout.flush()
    return result
