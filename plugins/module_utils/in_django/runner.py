# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one entry point of the code run inside the project's Django process.

Private to the simpledeploy.django collection: the interface may change.

Started by the module side (``_django.run_in_django``) as
``python -m <package>.runner JOB`` in the project's directory (so that the
project is first on ``sys.path``, as it is for ``manage.py``), with the
parameters as JSON on stdin. It loads the project the way ``manage.py`` does,
runs the job and reports through ``protocol``:

1. Django is imported (stage ``import``);
2. the project's ``manage.py`` runs up to the moment it hands over to
   Django's ``execute_from_command_line``, which is replaced for that moment
   by a stop (stage ``manage``): whatever it sets, the settings module by
   ``os.environ.setdefault`` first of all, is set exactly as for any
   ``manage.py`` command. A ``DJANGO_SETTINGS_MODULE`` already in the
   environment (the role's ``deploy_settings_module``, or the environment
   file) wins, as it does for ``manage.py``. The project's own commands
   (``shell`` included) are never run;
3. the settings are loaded (stage ``settings``) and ``django.setup()`` loads
   the apps (stage ``setup``);
4. a job started ahead of its time (``go_fd``) says it is ready and waits
   for the module side's word (``wait_for_go``);
5. the job runs (its own stages); an exception it did not expect is
   reported at stage ``unexpected``.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import runpy
import sys
import traceback

from . import database, migrate, plan, static
from .protocol import ERROR_EXIT, Failure, emit

JOBS = {
    'plan': plan.run,
    'migrate': migrate.run,
    'database': database.run,
    'static': static.run,
}


class _HandedOver(BaseException):
    """Raised in place of execute_from_command_line: manage.py has set everything up.

    A BaseException, so that a manage.py that catches Exception lets it through.
    """


def run_manage_py(path):
    """Run the project's manage.py until it hands over to Django's command line.

    Returns True when it did, False when it ended without calling
    ``execute_from_command_line`` (a custom manage.py): the settings module
    must then come from the environment.
    """
    try:
        from django.core import management
    except Exception as exc:
        raise Failure('import', exc, python=sys.executable)
    real = management.execute_from_command_line
    handed_over = []

    def stop_here(argv=None):
        handed_over.append(argv)
        raise _HandedOver()

    management.execute_from_command_line = stop_here
    # What manage.py reads from its command line, should it read it: a command that changes nothing.
    saved_argv, sys.argv = sys.argv, [path, 'version']
    try:
        runpy.run_path(path, run_name='__main__')
    except _HandedOver:
        pass
    except SystemExit:
        pass
    except Exception as exc:
        raise Failure('manage', exc, path=path)
    finally:
        management.execute_from_command_line = real
        sys.argv = saved_argv
    return bool(handed_over)


def setup_django(manage_py):
    """Load the project like ``manage.py`` does, then its settings and apps; returns ``settings``."""
    handed_over = run_manage_py(manage_py)
    module = os.environ.get('DJANGO_SETTINGS_MODULE')
    if not module:
        raise Failure('settings', type='NoSettingsModule',
                      message='%s did not set DJANGO_SETTINGS_MODULE%s and the environment does not either'
                      % (manage_py, '' if handed_over else ' (nor call execute_from_command_line)'))
    import django
    from django.conf import settings
    try:
        settings.INSTALLED_APPS  # pylint: disable=pointless-statement
    except Exception as exc:
        raise Failure('settings', exc, settings_module=module)
    try:
        django.setup()
    except Exception as exc:
        raise Failure('setup', exc, settings_module=module)
    return settings


def wait_for_go(params):
    """A job started ahead of its time (PARAMS has ``go_fd`` and ``ready_fd``, two pipes the module side passed):
    says ``ready`` on the one, Django loaded, then waits for a line on the other. The line is a JSON object of
    parameters added to PARAMS (the backup's path, known only then); nothing (the pipe closed: the module side
    gave up, or died) ends the job without running it. Returns the parameters to run with."""
    if params.get('go_fd') is None:
        return params
    with os.fdopen(int(params['ready_fd']), 'w') as ready:
        ready.write('ready\n')
    with os.fdopen(int(params['go_fd'])) as go:
        line = go.readline()
    if not line.strip():
        raise Failure('cancelled', type='Cancelled', message='the module side did not say go: nothing was run')
    try:
        extra = json.loads(line)
    except ValueError as exc:
        raise Failure('cancelled', exc)
    return dict((key, value) for key, value in dict(params, **extra).items() if key not in ('go_fd', 'ready_fd'))


def run(job, params, manage_py='manage.py'):
    """Run JOB with PARAMS in the project whose manage.py is MANAGE_PY; returns the job's result."""
    if job not in JOBS:
        raise Failure('job', type='UnknownJob', message='no job %r (jobs: %s)' % (job, ', '.join(sorted(JOBS))))
    settings = setup_django(os.path.abspath(manage_py))
    return JOBS[job](wait_for_go(params), settings)


def main(argv=None, stdin=None):
    """``python -m <package>.runner JOB`` with JSON parameters on stdin; exits 0 or ERROR_EXIT."""
    argv = sys.argv if argv is None else argv
    try:
        job = argv[1] if len(argv) > 1 else ''
        params = json.load(stdin or sys.stdin)
        result = run(job, params)
    except Failure as failure:
        if failure.cause is not None:
            traceback.print_exception(type(failure.cause), failure.cause, failure.cause.__traceback__)
        sys.stdout.flush()
        emit({'error': failure.report()})
        return ERROR_EXIT
    except Exception as exc:  # a bug: say where, with the traceback
        traceback.print_exc()
        sys.stdout.flush()
        emit({'error': Failure('unexpected', exc).report()})
        return ERROR_EXIT
    sys.stdout.flush()
    emit({'result': result})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
