# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""failure_message: a failed command says its own error, on pip's real conflict and a real manage.py traceback.

The results are shaped as ansible.builtin.command returns them (cmd as the argv, rc, stdout, stderr, and
only "The command exited with a non-zero return code." as msg), from commands run for real here. The role
itself (rescue.yml through ansible-playbook): tests/unit/test_role_failure_message.py.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.simpledeploy.django.plugins.filter.failure_message import FilterModule, failure_message
from ansible_collections.simpledeploy.django.plugins.module_utils import _failure
from ansible_collections.simpledeploy.django.tests.unit.conftest import copy_example

GENERIC = 'The command exited with a non-zero return code.'
TASK = 'Preflight | Install the requirements and the WSGI server into it'


def run(argv, **kwargs):
    """ansible.builtin.command's result for ARGV, run for real (its trailing newlines stripped, as it does)."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    result = dict(cmd=list(argv), rc=proc.returncode, stdout=proc.stdout.rstrip('\r\n'),
                  stderr=proc.stderr.rstrip('\r\n'), changed=True, msg='')
    if proc.returncode:
        result.update(failed=True, msg=GENERIC)
    return result


@pytest.fixture(scope='module')
def django(django52_venv):
    return django52_venv


@pytest.fixture(scope='module')
def throwaway_venv(tmp_path_factory, django):
    """A new, empty virtualenv with pip (made from the cached Django venv's interpreter)."""
    path = str(tmp_path_factory.mktemp('pip') / 'venv')
    subprocess.run([django.python, '-m', 'venv', path], check=True)
    return path


# ------------------------------------------------------------------ pip's real conflict

def test_pips_real_conflict_is_named_with_pips_own_reason(throwaway_venv, tmp_path):
    """The issue's case: the project pins gunicorn==22.0.0 and the role adds gunicorn==23.0.0."""
    requirements = tmp_path / 'requirements.txt'
    requirements.write_text('# the project\'s own pin\ngunicorn==22.0.0\n')
    python = os.path.join(throwaway_venv, 'bin', 'python')
    argv = ['runuser', '-u', 'person-build', '--', 'env', 'HOME=/srv/person/.build', 'TMPDIR=/srv/person/.build',
            python, '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--no-cache-dir',
            '--dry-run', '-r', str(requirements), 'gunicorn==23.0.0']
    result = run(argv[7:], env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1'))
    if 'conflict' not in result['stdout'] + result['stderr']:
        pytest.skip('pip could not reach an index with gunicorn 22.0.0 and 23.0.0: %s'
                    % _failure.last_lines(result['stderr'])[-1:])
    result['cmd'] = argv  # as the role runs it: as the build user, in a clean environment

    message = failure_message(result, 'person', TASK, {'DJANGO_SECRET_KEY': 'not-in-pips-output-1234'})

    assert result['rc'] == 1
    assert message.startswith('person: the deploy failed at "%s": %s -m pip install ' % (TASK, python))
    assert '-r %s gunicorn==23.0.0 (as person-build) failed (rc=1): ' % requirements in message
    # pip's own reason, from its stderr, not only "non-zero return code"
    # (pip names the pin "gunicorn==22.0.0" or "-r <file> (line 2)", by its version)
    assert 'failed (rc=1): ' in message and 'ERROR: Cannot install ' in message.split('failed (rc=1): ', 1)[1]
    assert 'and gunicorn==23.0.0 because these package versions have conflicting dependencies.' in message
    assert 'ResolutionImpossible' in message
    assert GENERIC not in message
    assert 'HOME=' not in message and 'runuser' not in message
    assert '\n' not in message


# ------------------------------------------------------------------ a real manage.py traceback

BROKEN_SETTINGS = {
    'import': ('\nimport simpledeploy_no_such_module  # noqa\n',
               "ModuleNotFoundError: No module named 'simpledeploy_no_such_module'"),
    'syntax': ('\nDATABASES = {\n', "SyntaxError: '{' was never closed"),
    'secret-in-error': ('\nraise RuntimeError("cannot log in to the cache with " + os.environ["CACHE_PASSWORD"])\n',
                        'RuntimeError: cannot log in to the cache with ********'),
}


@pytest.mark.parametrize('broken', sorted(BROKEN_SETTINGS))
def test_a_manage_py_traceback_ends_the_message(django, tmp_path, broken):
    appended, last_line = BROKEN_SETTINGS[broken]
    project = copy_example('v1', tmp_path / 'project')
    with open(os.path.join(project, 'mysite', 'settings.py'), 'a', encoding='utf-8') as handle:
        handle.write(appended)
    env = {'DJANGO_SECRET_KEY': 'a-long-django-secret-key-0123456789', 'CACHE_PASSWORD': 'hunter2-cache-pw'}
    result = run([django.python, 'manage.py', 'check'], cwd=project,
                 env=dict(os.environ, PYTHONDONTWRITEBYTECODE='1', **env))
    assert result['rc'] == 1 and 'Traceback' in result['stderr'], result

    message = failure_message(result, 'person', 'Hooks | Run manage.py check', env)

    assert message.startswith('person: the deploy failed at "Hooks | Run manage.py check": %s manage.py check '
                              'failed (rc=1): ' % django.python)
    assert message.endswith(last_line)
    assert 'settings.py' in message  # the traceback's frame above the exception
    assert 'hunter2-cache-pw' not in message and 'a-long-django-secret-key' not in message
    assert len(message.split(' | ')) <= _failure.TAIL_LINES + 2


# ------------------------------------------------------------------ masking

def test_url_credentials_and_deploy_env_values_are_masked():
    stderr = ('Looking in indexes: https://__token__:pypi-AgEIcHlwaS5vcmc@pkgs.example.com/simple\n'
              'ERROR: Could not find a version that satisfies the requirement private-lib==1.0\n'
              'connecting with password s3cr3t-database-pw to db.internal.example\n'
              'ERROR: No matching distribution found for private-lib==1.0')
    result = dict(cmd=['/srv/p/venvs/k/bin/python', '-m', 'pip', 'install', 'private-lib==1.0'], rc=1,
                  stdout='', stderr=stderr, msg=GENERIC, failed=True)
    env = {'DATABASE_PASSWORD': 's3cr3t-database-pw', 'DEBUG': 'false', 'PORT': '8000'}

    message = failure_message(result, 'person', TASK, env)

    assert 'pypi-AgEIcHlwaS5vcmc' not in message and '__token__' not in message
    assert 'https://***@pkgs.example.com/simple' in message
    assert 's3cr3t-database-pw' not in message
    assert 'connecting with password ******** to db.internal.example' in message
    assert 'No matching distribution found for private-lib==1.0' in message


def test_a_value_of_the_environment_in_the_commands_arguments_stays_shown():
    """Ansible shows the failed command's arguments in clear anyway: masking them there would only blank
    the path; the same value elsewhere in the message is then shown too."""
    result = dict(cmd=['/srv/shop-prod/venvs/k/bin/python', '-m', 'venv', '/srv/shop-prod/venvs/k'], rc=1,
                  stdout='', stderr='Error: [Errno 28] No space left on device: /srv/shop-prod/venvs/k', msg=GENERIC)
    message = failure_message(result, 'shop', 'Preflight | Create a new virtualenv, as the build user',
                              {'SITE_DIR': 'shop-prod'})
    assert message.endswith('/srv/shop-prod/venvs/k/bin/python -m venv /srv/shop-prod/venvs/k failed (rc=1): '
                            'Error: [Errno 28] No space left on device: /srv/shop-prod/venvs/k')


def test_a_value_of_the_environment_that_is_the_apps_name_stays_shown():
    # DJANGO_DB_USER=person: the app's name is in every path, unit and line of the run anyway
    result = dict(msg='role "person" does not exist; token abcdef-123456 refused', failed=True)
    message = failure_message(result, 'person', 'Preflight | Read the plan',
                              {'DJANGO_DB_USER': 'person', 'API_TOKEN': 'abcdef-123456'})
    assert message == ('person: the deploy failed at "Preflight | Read the plan": role "person" does not exist; '
                       'token ******** refused')


def test_a_secret_in_a_modules_message_is_masked():
    result = dict(msg='could not connect to postgres://app:pa55word-xyz@db/app', failed=True, changed=False)
    message = failure_message(result, 'person', 'Preflight | Read the plan', {'DATABASE_URL': 'postgres://app:pa55word-xyz@db/app'})
    assert 'pa55word-xyz' not in message
    assert message.startswith('person: the deploy failed at "Preflight | Read the plan": could not connect to ')


# ------------------------------------------------------------------ other failures

def test_a_modules_own_message_is_kept_as_it_is():
    # migration_status fails with cmd, rc and stderr too, and a message that says what to fix
    result = dict(msg="Django settings could not be loaded (DJANGO_SETTINGS_MODULE=mysite.settings): "
                      "ImproperlyConfigured: DJANGO_SECRET_KEY is not set", rc=1, cmd=['/srv/p/venv/bin/python', '-c', 'x'],
                  stdout='', stderr='Traceback (most recent call last):\n  File "x"\nImproperlyConfigured: ...',
                  failed=True, stage='settings')
    assert failure_message(result, 'person', 'Preflight | Run the system checks', {}) == (
        'person: the deploy failed at "Preflight | Run the system checks": Django settings could not be loaded '
        '(DJANGO_SETTINGS_MODULE=mysite.settings): ImproperlyConfigured: DJANGO_SECRET_KEY is not set')


def test_the_failed_item_of_a_loop_is_the_one_shown():
    result = dict(msg='One or more items failed', failed=True, changed=True, results=[
        dict(cmd=['/v/bin/python', 'manage.py', 'compilemessages'], rc=0, stdout='done', stderr='', failed=False,
             item='compilemessages'),
        dict(cmd=['/v/bin/python', 'manage.py', 'createcachetable'], rc=1, stdout='',
             stderr='CommandError: Cache table \'cache\' could not be created.', failed=True, msg=GENERIC,
             item='createcachetable'),
    ])
    assert failure_message(result, 'person', 'Hooks | Run', None) == (
        'person: the deploy failed at "Hooks | Run": /v/bin/python manage.py createcachetable failed (rc=1): '
        'CommandError: Cache table \'cache\' could not be created.')


def test_a_command_that_could_not_start_is_named():
    result = dict(cmd=['runuser', '-u', 'p-build', '--', 'env', 'HOME=/h', '/usr/bin/python3.99', '-m', 'venv', '/v'],
                  rc=2, stdout='', stderr='', failed=True,
                  msg="[Errno 2] No such file or directory: b'/usr/bin/python3.99'")
    assert failure_message(result, 'p', 'T') == (
        'p: the deploy failed at "T": /usr/bin/python3.99 -m venv /v (as p-build) failed (rc=2): '
        "[Errno 2] No such file or directory: b'/usr/bin/python3.99'")


def test_a_command_with_no_output_says_so():
    result = dict(cmd='/bin/false', rc=1, stdout='', stderr='', msg=GENERIC, failed=True)
    assert failure_message(result, 'p', 'T') == 'p: the deploy failed at "T": /bin/false failed (rc=1): no output'


def test_stdout_when_stderr_is_empty():
    result = dict(cmd=['/v/bin/python', 'manage.py', 'check'], rc=1, stderr='', failed=True, msg=GENERIC,
                  stdout='SystemCheckError: System check identified some issues:\n\nERRORS:\n'
                         '?: (admin.E403) A DjangoTemplates instance must be configured.\n\n'
                         'System check identified 1 issue (0 silenced).')
    assert failure_message(result, 'p', 'T').endswith(
        'failed (rc=1): SystemCheckError: System check identified some issues: | ERRORS: | '
        '?: (admin.E403) A DjangoTemplates instance must be configured. | System check identified 1 issue (0 silenced).')


def test_a_module_that_died_shows_the_end_of_its_output():
    result = dict(msg='MODULE FAILURE\nSee stdout/stderr for the exact error', rc=1, failed=True,
                  module_stdout='',
                  module_stderr='Traceback (most recent call last):\n  File "x", line 1\nOSError: [Errno 5] Input/output error')
    assert failure_message(result, 'p', 'T') == (
        'p: the deploy failed at "T": MODULE FAILURE: Traceback (most recent call last): | File "x", line 1 | '
        'OSError: [Errno 5] Input/output error')


def test_a_result_hidden_by_no_log_says_so():
    result = dict(censored="the output has been hidden due to the fact that 'no_log: true' was specified for this "
                           "result", changed=False, failed=True)
    assert failure_message(result, 'p', 'T').endswith("'no_log: true' was specified for this result")


# ------------------------------------------------------------------ the parts

def test_an_error_headline_above_the_last_lines_comes_first():
    text = '\n'.join(['ERROR: Failed building wheel for lxml'] + ['  line %d of the compiler' % n for n in range(9)])
    assert _failure.last_lines(text) == ['ERROR: Failed building wheel for lxml', '...', 'line 4 of the compiler',
                                         'line 5 of the compiler', 'line 6 of the compiler',
                                         'line 7 of the compiler', 'line 8 of the compiler']
    # one among the last lines already: none added
    assert _failure.last_lines('error: first\n' + '\n'.join('x%d' % n for n in range(4)) + '\nERROR: last') == [
        'x0', 'x1', 'x2', 'x3', 'ERROR: last']


def test_a_long_line_is_cut():
    (line,) = _failure.last_lines('x' * 1000)
    assert len(line) == _failure.LINE_WIDTH and line.endswith('...')


@pytest.mark.parametrize('argv, shown', [
    (['/srv/p/venvs/abc/bin/python', '-m', 'pip', 'install', '-r', '/srv/p/staging/requirements.txt'],
     '/srv/p/venvs/abc/bin/python -m pip install -r /srv/p/staging/requirements.txt'),
    (['runuser', '-u', 'p-build', '--', 'env', 'HOME=/x', 'TMPDIR=/x', '/v/bin/python', '-m', 'venv', '/v'],
     '/v/bin/python -m venv /v (as p-build)'),
    # deploy_prepare_nice puts the build under nice: the message names pip, as the build user
    (['nice', '-n', '10', 'runuser', '-u', 'p-build', '--', 'env', 'HOME=/x', '/v/bin/python', '-m', 'pip', 'install',
      '-r', '/s/requirements.txt'], '/v/bin/python -m pip install -r /s/requirements.txt (as p-build)'),
    (['/usr/bin/nice', '-n10', '/v/bin/python', '-m', 'venv', '/v'], '/v/bin/python -m venv /v'),
    (['/v/bin/python', 'manage.py', 'shell', '-c', 'print("a b")'],
     '/v/bin/python manage.py shell -c \'print("a b")\''),
    (['/v/bin/python', '--flag=' + 'a' * 200], '/v/bin/python --flag=' + 'a' * 41 + '...' + 'a' * 48),
    (['/v/bin/pip'] + ['p%d' % n for n in range(20)],
     '/v/bin/pip p0 p1 p2 p3 p4 ... (10 more) ... p15 p16 p17 p18 p19'),
    ('/usr/bin/python3 -m venv "/srv/my app/venv"', "/usr/bin/python3 -m venv '/srv/my app/venv'"),
    ([], 'the command'),
])
def test_the_command_is_shown_short(argv, shown):
    assert _failure.shown_command(_failure.argv_of(argv)) == shown


def test_the_filter_is_registered_and_refuses_what_is_not_a_result():
    assert FilterModule().filters()['failure_message'] is failure_message
    with pytest.raises(AnsibleFilterError, match='expects the failed task'):
        failure_message('non-zero return code', 'p', 'T')
    with pytest.raises(AnsibleFilterError, match='env to be a dict'):
        failure_message({}, 'p', 'T', ['SECRET'])
