# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What release_switch says when something goes wrong: the failed window, and files it could not write.

Private to the simpledeploy.django collection: the interface may change. Pure: text only.
"""

from __future__ import annotations

from ansible_collections.simpledeploy.django.plugins.module_utils._state import RELEASE_FILE


# What failed, by strategy, in "the ... failed at STEP".
KINDS = {'simple': 'downtime window', 'reload': 'graceful reload',
         'expand': 'expand (migrations applied while the old release served, then a graceful reload)'}
# The schema after a failed expand that was not migrated back.
EXPANDED = ('left as migrated, which the old release runs with (expand); expand_migrate_back '
            '(deploy_expand_migrate_back) migrates it back')


def kind(strategy):
    """KINDS' word for STRATEGY (a downtime window for a record without one)."""
    return KINDS.get(strategy, KINDS['simple'])


def schema_as_before(schema):
    """Whether the schema is as before the run, from what the undo SAID of it (None: not touched)."""
    return not (schema or '').startswith('NOT') and schema != EXPANDED


def not_written(path, exc):
    """The refusal when a file that must be on disk before the stop cannot be written."""
    return ('nothing was stopped: cannot write %s: %s. Free space on (or repair) its filesystem, then run again'
            % (path, exc.strerror or exc))


def state_not_written(path, exc, live, then):
    """The warning when the marker cannot be written after the window: LIVE says what serves, THEN what comes next."""
    return ('%s, but the state file %s could not be written: %s. The %s file of each tree says what is live; free '
            'space on (or repair) its filesystem: %s' % (live, path, exc.strerror or exc, RELEASE_FILE, then))


def left_as_is(strategy, step, live_release, migrated, service, gates=(), held=False):
    """What a failed window left, with nothing rolled back: the release in code/, the schema, the service (and
    GATES, the start and serve gates still closed: no start runs, no worker takes a connection, until they go).
    HELD: the service was started beside migrate, its workers wait at the serve gate."""
    how = ('as the reload left it' if strategy in ('reload', 'expand')
           else 'running, its new workers waiting at the serve gate' if held and step != 'start'
           else 'failed to start' if step == 'start' else 'left stopped')
    closed = (' (%s closed: a start, by hand or through its socket, and workers that loaded the app wait until '
              'the next run opens %s, or until you remove %s once the host is put right)'
              % (' and '.join(gates), 'them' if len(gates) > 1 else 'it', 'those files' if len(gates) > 1
                 else 'that file')) if gates else ''
    return 'code/ holds release %s, %sservice %s %s%s' % (
        live_release, 'the schema is as migrate left it, ' if migrated else '', service, how, closed)


def failure_message(kind, step, error, service, rollback=True, restored=(), schema=None, live_release=None,
                    answered=None, undo_error=None, backup=None, left=None, first=False):
    """The one message of a failed window: what failed, what was restored (or left), where the logs are.

    KIND is 'downtime window' or 'graceful reload'; RESTORED what undo()
    returned; SCHEMA what became of the schema; LIVE_RELEASE the release in
    code/ afterwards; ANSWERED whether the app answered its ready URL again
    (None: not asked); LEFT, with ROLLBACK false, the state things were left in;
    FIRST, no release served before this run (nothing to go back to).
    """
    text = 'the %s failed at %s: %s.' % (kind, step, str(error).strip().rstrip('.'))
    if not rollback:
        text += ' Nothing was rolled back (rollback is false): %s.' % left
    elif undo_error is not None:
        text += (' The rollback failed too: %s (restored before that: %s); the host needs a look.'
                 % (str(undo_error).strip().rstrip('.'), ', '.join(restored) or 'nothing'))
    elif first:
        text += (' This was the first deploy: there is no earlier release to go back to; the service %s is stopped '
                 'and disabled%s, nothing else is left half-done; fix what failed at %s and run again.'
                 % (service, ', schema %s' % schema if schema else '', step))
    else:
        text += ' Restored: %s.' % ', '.join(_restored(restored, service, schema, live_release, answered))
    if backup:
        text += ' Backup taken before migrating: %s.' % backup
    return text + ' Logs: journalctl -u %s -n 50' % service


def _restored(restored, service, schema, live_release, answered):
    """The parts of 'Restored: ...', from what undo() returned."""
    said = []
    if 'code' in restored:
        said.append('code of release %s' % (live_release or 'the previous release'))
    if 'venv' in restored:
        said.append('its virtualenv')
    configs = [entry[len('config '):] for entry in restored if entry.startswith('config ')]
    if configs:
        said.append('its %s' % ' and '.join(configs))
    if schema:
        said.append('schema %s' % schema)
    started = 'restarted' if 'service restarted' in restored else 'started'
    service_text = 'service %s %s' % (service, started)
    if 'service untouched' in restored:
        service_text = 'service %s untouched: the old release served throughout' % service
    elif any(entry.startswith('service left stopped') for entry in restored):
        service_text = 'service %s not started: a first deploy, nothing served before' % service
    elif answered is not None:
        service_text += ' and answering: %s' % ('yes' if answered else 'no')
    said.append(service_text)
    return said
