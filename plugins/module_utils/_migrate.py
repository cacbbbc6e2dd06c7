# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Django's ``migrate``, one at a time per database: the module side of the migrate job.

Private to the simpledeploy.django collection: the interface may change.

Several web hosts share one PostgreSQL database: two runs (two playbooks, two
AWX jobs, two ``serial`` batches that both found migrations pending) must
never migrate it at the same time. The job (``in_django/migrate.py``) takes
a session-level PostgreSQL advisory lock on a connection of its own, then
runs Django's own ``migrate``, which reads the plan again under the lock: a
run that waited finds nothing left to apply. SQLite is one file on one host:
no lock is needed there beyond the role's deploy lock.
"""

from __future__ import annotations

import hashlib
import struct

from ansible_collections.simpledeploy.django.plugins.module_utils._django import (
    DjangoError,
    Warm,
    error_text,
    run_in_django,
    start_error,
)
from ansible_collections.simpledeploy.django.plugins.module_utils._errors import StepError
from ansible_collections.simpledeploy.django.plugins.module_utils.in_django.protocol import printed_lines

LOCK_NAME = 'simpledeploy.django migrate'
DEFAULT_LOCK_TIMEOUT = 600.0
# PostgreSQL's lock_timeout for migrate's statements, and how long it tries again after hitting it.
DEFAULT_TABLE_LOCK_TIMEOUT = 2.0
DEFAULT_RETRY_BUDGET = 30.0


def lock_key(name=LOCK_NAME):
    """The bigint key of the advisory lock: the first 8 bytes of SHA-256(NAME), signed.

    The same for every host and every run, so that they all contend for it;
    other software is very unlikely to use the same number.
    """
    return struct.unpack('>q', hashlib.sha256(name.encode('utf-8')).digest()[:8])[0]


class MigrateError(StepError):
    """``migrate`` failed or could not take the lock; the message says which and why."""

    def __init__(self, message, lines=None, info=None):
        super(MigrateError, self).__init__(message)
        self.lines = lines or []
        self.info = info or {}


def error_message(error, args):
    """One line for an ``error`` of the migrate job's own stages."""
    shown = ' '.join(['manage.py', 'migrate'] + list(args))
    stage = error.get('stage')
    if stage == 'lock':
        return '%s could not take the database lock: %s' % (shown, error.get('message') or error_text(error))
    if stage == 'migrate':
        return '%s failed: %s' % (shown, error_text(error))
    return '%s failed before migrating (%s): %s' % (shown, stage, error_text(error))


def job_params(args, alias, lock_timeout, table_lock_timeout, retry_budget, targets=None):
    """The migrate job's parameters (TARGETS: ``[(app, name)]``, one migrate each, instead of ARGS)."""
    return {'database': alias, 'args': [str(arg) for arg in args], 'lock_key': lock_key(),
            'lock_timeout': float(lock_timeout), 'table_lock_timeout': float(table_lock_timeout),
            'retry_budget': float(retry_budget),
            'targets': [[str(app), str(name)] for app, name in targets or ()]}


def shown_args(args, targets=None):
    """The migrate arguments as a message shows them: ARGS, or each of TARGETS."""
    if targets:
        return ['; '.join('%s %s' % (app, name) for app, name in targets)]
    return [str(arg) for arg in args]


def start(module, project, virtualenv, args=(), settings=None, env_file=None, run_as=None, alias='default',
          lock_timeout=DEFAULT_LOCK_TIMEOUT, table_lock_timeout=DEFAULT_TABLE_LOCK_TIMEOUT,
          retry_budget=DEFAULT_RETRY_BUDGET, targets=None):
    """The migrate job's child started ahead (a _django.Warm): Django loaded, it migrates when migrate(warm=...)
    says go. Cancel it when it is not used."""
    return Warm(module, project, virtualenv, 'migrate',
                job_params(args, alias, lock_timeout, table_lock_timeout, retry_budget, targets),
                settings=settings, env_file=env_file, run_as=run_as)


def migrate(module, project, virtualenv, args=(), settings=None, env_file=None, run_as=None,
            alias='default', lock_timeout=DEFAULT_LOCK_TIMEOUT, table_lock_timeout=DEFAULT_TABLE_LOCK_TIMEOUT,
            retry_budget=DEFAULT_RETRY_BUDGET, warm=None, targets=None):
    """Run Django's ``migrate ARGS`` (or ``migrate APP NAME`` for each of TARGETS, in order) under the advisory
    lock (PostgreSQL): the migrate job.

    On PostgreSQL its statements run with TABLE_LOCK_TIMEOUT (0: none), tried again for RETRY_BUDGET seconds
    (in_django/migrate.py). Returns ``(lines, info)``: migrate's output and ``{vendor, lock, waited, retries}``.
    Raises MigrateError (with the lines printed so far) when it fails. WARM: the child start() started, told to
    go now (the other arguments were given to start()).
    """
    args = [str(arg) for arg in args]
    shown = shown_args(args, targets)
    try:
        if warm is not None:
            child = warm.go()
        else:
            child = run_in_django(module, project, virtualenv, 'migrate',
                                  job_params(args, alias, lock_timeout, table_lock_timeout, retry_budget, targets),
                                  settings=settings, env_file=env_file, run_as=run_as)
    except DjangoError as exc:
        raise MigrateError('%s could not start: %s' % (' '.join(['manage.py', 'migrate'] + shown), exc))
    lines = printed_lines(child.stdout)
    if child.result is not None:
        return lines, child.result
    error = child.error or {}
    info = dict((k, error[k]) for k in ('vendor', 'lock', 'waited', 'retries') if k in error)
    message = start_error(child, module.no_log_values)
    if message:
        message = '%s failed: %s' % (' '.join(['manage.py', 'migrate'] + shown), message)
    raise MigrateError(message or error_message(error, shown), lines, info)
