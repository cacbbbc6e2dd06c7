# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one line the deploy role prints per host (documented in deploy_summary.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# Migrations named one by one in the line; the rest are counted per app.
LISTED = 5


def _verdict(migration):
    compatible = migration.get('backward_compatible')
    words = ['backward compatible' if compatible else 'compatibility unknown' if compatible is None
             else 'NOT backward compatible']
    if 'reversible' in migration:
        words.append('reversible' if migration['reversible'] else 'irreversible')
    return ', '.join(words)


def _migration(migration):
    label = '%s.%s' % (migration['app'], migration['name'])
    operations = migration.get('operations')
    if operations is None:
        return label
    what = '; '.join(op.get('description') or op.get('kind', '?') for op in operations) or 'no operation'
    return '%s (%s: %s)' % (label, what, _verdict(migration))


def migrations_text(migrations):
    """'N: a.0001 (...), b.0002 (...)', or counts per app beyond LISTED."""
    if not migrations:
        return '0'
    if len(migrations) <= LISTED:
        return '%d: %s' % (len(migrations), ', '.join(_migration(m) for m in migrations))
    per_app = {}
    for migration in migrations:
        per_app[migration['app']] = per_app.get(migration['app'], 0) + 1
    return '%d (%s)' % (len(migrations), ', '.join('%s: %d' % item for item in sorted(per_app.items())))


def _yes_no(value):
    return 'unknown' if value is None else 'yes' if value else 'no'


def _files(files):
    if not files:
        return ''
    return ' (files: %d added, %d changed, %d removed)' % (
        files.get('added', 0), files.get('changed', 0), files.get('removed', 0))


def static_text(static, check_mode=False):
    """'; static files: ...' for the summary: collected, would be, or why not; '' when not asked."""
    if not static:
        return ''
    if not static.get('enabled'):
        return '; static files: not collected (%s)' % (static.get('reason') or 'unknown reason')
    if check_mode:
        return '; static files: would be collected into %s' % static.get('static_root')
    carried = static.get('carried') or 0
    return '; static files: %s collected into %s in %s s%s' % (
        static.get('collected'), static.get('static_root'), static.get('seconds'),
        ' (%d of the previous release kept beside them)' % carried if carried else '')


HOOK_POINTS = (('before_switch', 'before the switch'), ('window', 'in the window'), ('after_live', 'after live'))


def hooks_text(hooks, check_mode=False):
    """'; hooks: manage.py x before the switch (0.41 s), ...', or '' when none ran (or would run)."""
    said = []
    for key, when in HOOK_POINTS:
        for command in (hooks or {}).get(key) or []:
            seconds = command.get('seconds')
            said.append('%s %s%s' % (command.get('command'), when,
                                     '' if check_mode or seconds is None else ' (%s s)' % seconds))
    if not said:
        return ''
    return '; %s: %s' % ('hooks that would run' if check_mode else 'hooks', ', '.join(said))


def lock_text(migrate_lock):
    """What the lock timeouts migrate hit cost, or '' when it hit none."""
    # An invalid index dropped before the first try is listed with after 0 and no blockers: not a timeout.
    retries = [retry for retry in (migrate_lock or {}).get('retries') or [] if retry.get('after') or retry.get('blockers')]
    if not retries:
        return ''
    held = []
    for retry in retries:
        for blocker in retry.get('blockers') or []:
            name = 'pid %s on %s' % (blocker.get('pid'), blocker.get('table'))
            if name not in held:
                held.append(name)
    return ' (after %d lock timeout%s over %s s%s)' % (
        len(retries), '' if len(retries) == 1 else 's', retries[-1].get('after'),
        ': tables held by ' + ', '.join(held[:3]) if held else '')


def ahead_text(unknown):
    """The applied migrations the release does not know (a newer release applied them), or ''."""
    if not unknown:
        return ''
    return '; the database has %d migration%s this release does not know: %s' % (
        len(unknown), '' if len(unknown) == 1 else 's', ', '.join(unknown[:5]) + (', ...' if len(unknown) > 5 else ''))


def _short(release):
    return release or 'nothing'


def deploy_summary(result):
    """One line saying what a deploy did, or in check mode would do, on one host.

    RESULT is the role's ``deploy_result`` fact (see deploy_summary.yml).
    """
    if not isinstance(result, dict):
        raise AnsibleFilterError('deploy_summary expects the deploy_result dict, got %s' % type(result).__name__)
    app = result.get('app', '?')
    plan = result.get('plan')
    switched = result.get('switched')
    how = ''
    if result.get('strategy'):
        how = ', strategy %s (%s)' % (result['strategy'], result.get('strategy_reason', ''))
    if result.get('check_mode'):
        if not switched:
            return '%s: check mode: release %s is already live, nothing would change' % (
                app, _short(result.get('current_release')))
        if plan is None:
            pending = ('unknown until the virtualenv is built (on a first deploy every migration '
                       'is applied)')
        else:
            pending = migrations_text(plan.get('migrations', []))
            if plan.get('migrations'):
                pending += '; all backward compatible: %s, all reversible: %s, all online safe: %s' % (
                    _yes_no(plan.get('backward_compatible')), _yes_no(plan.get('reversible')),
                    _yes_no(plan.get('online_safe')))
        if result.get('code_changed'):
            what = 'would replace release %s with %s%s' % (
                _short(result.get('current_release')), result.get('release'), _files(result.get('files')))
        elif result.get('restarted'):
            what = 'would keep release %s and restart it to apply a changed unit or environment' % result.get('release')
        else:
            what = 'would keep release %s (migrations pending, or an earlier run left unfinished)' % result.get('release')
        return '%s: check mode, nothing changed: %s; migrations pending: %s%s%s; the site would go down: %s%s' % (
            app, what, pending, ahead_text(result.get('unknown_applied')), how, 'yes' if result.get('downtime') else 'no',
            static_text(result.get('static'), True) + hooks_text(result.get('hooks'), True))
    if result.get('restarted'):
        return '%s: release %s already live; restarted to apply a changed unit or environment (downtime window %s s)' % (
            app, _short(result.get('current_release')), result.get('window'))
    if not switched:
        return '%s: release %s already live: nothing stopped, nothing changed' % (
            app, _short(result.get('current_release')))
    applied = migrations_text(plan.get('migrations', [])) if plan and result.get('migrated') else '0'
    if result.get('migrated'):
        applied += lock_text(result.get('migrate_lock'))
    if result.get('downtime'):
        window = 'downtime window %s s' % result.get('window')
    elif result.get('strategy') == 'simple':
        window = 'no downtime (nothing served before)'
    elif result.get('strategy') == 'expand':
        window = 'no downtime (migrated while release %s served)' % _short(result.get('previous_release'))
    else:
        window = 'no downtime'
    fleet = result.get('fleet')
    if fleet:
        if fleet.get('window') is not None:
            window = 'down %s s (stopped for the shared database\'s migration until it answered again)' % fleet['window']
        shared = ('this host migrated it' if result.get('migrated')
                  else 'migrated once, by %s' % fleet.get('migrator'))
        window += '; database shared by %s hosts: %s while all of them %s' % (
            fleet.get('hosts'), shared, 'served' if fleet.get('expand') else 'were stopped')
        if not result.get('migrated'):
            applied = '0 here'
    applied += ahead_text(result.get('unknown_applied'))
    return '%s: release %s live (was %s)%s; migrations applied: %s; %s%s' % (
        app, result.get('release'), _short(result.get('previous_release')), how, applied, window,
        static_text(result.get('static')) + hooks_text(result.get('hooks')))


class FilterModule(object):
    """The deploy role's summary line."""

    def filters(self):
        return {'deploy_summary': deploy_summary}
