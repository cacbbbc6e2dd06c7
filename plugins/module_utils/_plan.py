# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration plan of a release, read inside its Django and judged here.

Private to the simpledeploy.django collection: the interface may change.

The module side of the ``plan`` job (``in_django/plan.py``): runs it with
``_django.run_in_django``, turns its errors into one line that says what to
fix, and judges each pending migration (``_compat.judge_plan``).
"""

from __future__ import annotations

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets, _wait
from ansible_collections.simpledeploy.django.plugins.module_utils._compat import expand_verdict, judge_plan
from ansible_collections.simpledeploy.django.plugins.module_utils._django import (
    DjangoError,
    error_text,
    run_in_django,
    start_error,
)


def plan_error_message(error, database='default'):
    """One-line message, naming what to fix, for an ``error`` of the plan job's own stages."""
    stage = error.get('stage')
    what = error_text(error)
    if stage == 'checks':
        return ("Django's system checks reported %d error(s): %s"
                % (len(error.get('messages', [])), ' | '.join(error.get('messages', []))))
    if stage == 'database':
        return ('database %r is not defined in settings.DATABASES (defined: %s)'
                % (database, ', '.join(error.get('defined', []))))
    if stage == 'backend':
        return ('Django could not load the database backend of %r: %s; install the driver '
                "in the project's virtualenv" % (database, what))
    if stage == 'connect':
        where = ' '.join('%s=%s' % (k.lower(), error[k]) for k in ('HOST', 'PORT', 'NAME') if error.get(k))
        return ('the database %r could not be reached (%s %s): %s; check that the database '
                'server is up and that the connection settings and credentials are right'
                % (database, error.get('vendor'), where, what))
    if stage == 'conflicts':
        return ('conflicting migrations (more than one leaf) in %s; run makemigrations --merge '
                'and commit the result' % ', '.join(
                    '%s: %s' % (app, ', '.join(names)) for app, names in sorted(error.get('conflicts', {}).items())))
    if stage == 'history':
        return 'the migration history of the database is inconsistent: %s' % what
    if stage == 'missing':
        return ('looking for model changes without a migration (makemigrations --check) '
                'failed: %s; detect_missing=false skips that check' % what)
    return 'reading the migration plan failed: %s' % what


def settings_report(found):
    """The plan job's settings report, with what the health check sends by default: ``healthcheck``, the
    ``host`` ALLOWED_HOSTS accepts (None: the URL's own) and the ``headers`` SECURE_PROXY_SSL_HEADER names."""
    found = dict(found or {})
    found['healthcheck'] = {'host': _wait.default_host(found.get('allowed_hosts')),
                            'headers': _wait.proxy_headers(found.get('secure_proxy_ssl_header'))}
    return found


def _fail(module, child, database):
    """Fail the module with one line, the child's output and the stage."""
    secrets = module.no_log_values
    error = child.error or {}
    msg = start_error(child, secrets) or _secrets.protect(plan_error_message(error, database), secrets)
    fail = dict(msg=msg, rc=child.rc, stdout=_secrets.protect(child.stdout, secrets), stderr=child.stderr,
                cmd=child.cmd)
    if error.get('stage'):
        fail['stage'] = error['stage']
    if error.get('stage') == 'checks':
        fail['checks'] = error.get('messages', []) + error.get('warnings', [])
    module.fail_json(**fail)


def older_blockers(judged):
    """``['app.name: why']``: the JUDGED migrations (applied, judged as if still to run) the release before them
    cannot run with, or might not (a verdict of None)."""
    found = []
    for migration in judged:
        if migration.get('backward_compatible') is not True:
            why = '; '.join(migration.get('reasons') or []) or 'its verdict is unknown'
            found.append('%s.%s: %s' % (migration['app'], migration['name'], why))
    return found


def migration_plan(module, project_path, virtualenv, settings=None, environment=None,
                   env_file=None, database='default', run_as=None, check=False,
                   detect_missing=True, expand_data_steps=False, judge=None):
    """Report the migrations ``manage.py migrate`` would apply, without changing anything.

    Runs the plan job once (one Django start-up, the optional system checks
    and the missing-migration check included). Returns a dict with
    ``pending``, ``total``, ``migrations`` (in plan order, each ``{app, name,
    operations, reversible, backward_compatible, reasons}``, see
    ``_compat.judge_plan``), ``reversible``, ``backward_compatible``,
    ``online_safe``, ``expand`` (``{possible, reasons}``: ``_compat.expand_verdict``, data steps
    counted with ``expand_data_steps``), ``by_app``, ``applied_leaves``, ``known_leaves``, ``database_exists``,
    ``vendor``,
    ``location``, ``django_version``, ``settings`` (``settings_report``); with ``check``, ``checks`` (warnings);
    with ``detect_missing``, ``missing`` and ``missing_migrations`` (``{app:
    [change]}``); ``unknown_applied`` (``[{app, name}]``, applied migrations this code does not know, numbered after its own)
    and ``leftover_applied`` (the same, numbered before: files deleted since); with
    ``judge`` (``['app.name']``, applied migrations), ``judged`` (those this code knows, judged like pending ones
    as if they were still to run: whether the release before them runs on the schema they made) and
    ``judged_unknown`` (those it does not know either) and ``older_blockers`` (``older_blockers(judged)``). Fails the module with a one-line ``msg``, Django's
    ``stderr`` and the failed ``stage`` otherwise.
    """
    params = {'database': database, 'check': bool(check), 'detect_missing': bool(detect_missing),
              'judge': list(judge or ())}
    try:
        child = run_in_django(module, project_path, virtualenv, 'plan', params, settings=settings,
                              environment=environment, env_file=env_file, run_as=run_as)
    except DjangoError as exc:
        module.fail_json(msg=str(exc))
    if child.result is None:
        _fail(module, child, database)
    data = child.result
    migrations, summary = judge_plan(data['migrations'], data.get('vendor'))
    possible, why = expand_verdict(migrations, expand_data_steps)
    by_app = {}
    for migration in migrations:
        by_app[migration['app']] = by_app.get(migration['app'], 0) + 1
    result = dict(
        pending=bool(migrations),
        total=len(migrations),
        migrations=migrations,
        by_app=by_app,
        reversible=summary['reversible'],
        backward_compatible=summary['backward_compatible'],
        online_safe=summary['online_safe'],
        expand=dict(possible=possible, reasons=why),
        applied_leaves=data.get('applied_leaves', []),
        known_leaves=data.get('known_leaves', []),
        database=database,
        database_exists=bool(data.get('database_exists')),
        vendor=data.get('vendor'),
        location=data.get('location'),
        django_version=data.get('django_version'),
        settings=settings_report(data.get('settings')),
    )
    result['unknown_applied'] = data.get('unknown_applied', [])
    result['leftover_applied'] = data.get('leftover_applied', [])
    if judge:
        result['judged'] = judge_plan(data.get('judged', []), data.get('vendor'))[0]
        result['judged_unknown'] = data.get('judged_unknown', [])
        result['older_blockers'] = older_blockers(result['judged'])
    if check:
        result['checks'] = data.get('checks', [])
    if detect_missing:
        missing = data.get('missing_migrations') or {}
        result['missing'] = bool(missing)
        result['missing_migrations'] = missing
    return result


LOCAL_HOSTS = ('', 'localhost', '127.0.0.1', '::1')


def identifiers(report):
    """App labels and migration names of a report: the project's code, never secrets."""
    found = set(report.get('by_app', {})) | set(report.get('missing_migrations') or {})
    # Only names this code has: unknown_applied, leftover_applied and judged_unknown come from django_migrations,
    # which the app's database user can write (a "name" holding a secret would unmask it).
    for item in (report.get('migrations', []) + report.get('applied_leaves', []) + report.get('known_leaves', [])
                 + report.get('judged', [])):
        found.update((item['app'], item['name']))
    return found


def public_hosts(report):
    """The entries of ALLOWED_HOSTS (and the health check's host): each one whole, as an environment value."""
    settings = report.get('settings') or {}
    hosts = set(settings.get('allowed_hosts') or ())
    hosts.add((settings.get('healthcheck') or {}).get('host'))
    return set(host for host in hosts if host)


def finish_report(module, report):
    """REPORT (migration_plan's) completed as migration_status returns it, in place: whether the database is
    remote (RV remote_database), and the values kept out of the module's masking that are the project's own
    names (app labels, migration names) or ALLOWED_HOSTS' entries (sent in every request's Host header, the
    health check needs them), so that the plan stays exact."""
    host = (report.get('location') or {}).get('host') or ''
    report['remote_database'] = (report.get('vendor') != 'sqlite' and host not in LOCAL_HOSTS
                                 and not host.startswith('/'))
    names = identifiers(report)
    module.no_log_values.difference_update([value for value in module.no_log_values
                                            if any(value in name for name in names)])
    module.no_log_values.difference_update(public_hosts(report))
    return report
