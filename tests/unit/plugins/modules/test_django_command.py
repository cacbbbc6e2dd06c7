# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""django_command (and _hooks under it) on the Person project with a custom management command, real Django."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _hooks
from ansible_collections.simpledeploy.django.plugins.modules import django_command

SECRET = 'hook-secret-never-shown-0123'

# A management command of the project's: writes a marker file (the user, the secret's length, its arguments)
# into MARKER_DIR; "--fail" raises with the secret in the message; "--sleep" hangs.
COMMAND = '''
import json, os, pwd, time
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--fail", action="store_true")
        parser.add_argument("--sleep", type=float, default=0)

    def handle(self, name, fail, sleep, **options):
        time.sleep(sleep)
        if fail:
            raise RuntimeError("the hook exploded with key " + settings.SECRET_KEY)
        with open(os.path.join(os.environ["MARKER_DIR"], name), "w") as handle:
            json.dump({"user": pwd.getpwuid(os.geteuid()).pw_name, "cwd": os.getcwd(), "nice": os.nice(0),
                       "key": len(settings.SECRET_KEY), "settings": os.environ["DJANGO_SETTINGS_MODULE"]}, handle)
'''


def add_command(project):
    commands = os.path.join(project, 'people', 'management', 'commands')
    os.makedirs(commands)
    for directory in (os.path.dirname(commands), commands):
        open(os.path.join(directory, '__init__.py'), 'w').close()
    with open(os.path.join(commands, 'hook.py'), 'w') as handle:
        handle.write(COMMAND)
    return project


@pytest.fixture
def project(tmp_path, copy_person):
    """The Person project with the command 'hook', an environment file (root's, 0600) and a marker directory."""
    path = add_command(copy_person('v1', str(tmp_path / 'project')))
    markers = tmp_path / 'markers'
    markers.mkdir()
    env_file = tmp_path / 'app.env'
    env_file.write_text('DJANGO_SECRET_KEY=%s\nMARKER_DIR=%s\n' % (SECRET, markers))
    env_file.chmod(0o600)
    return dict(path=path, markers=str(markers), env_file=str(env_file))


def args_for(venv, project, commands, **extra):
    return dict(dict(project_path=project['path'], virtualenv=venv.path, env_file=project['env_file'],
                     commands=commands), **extra)


def marker(project, name):
    with open(os.path.join(project['markers'], name)) as handle:
        return json.load(handle)


def test_commands_run_in_order_in_the_project_with_the_environment_file(run_module, django52_venv, project):
    result = run_module(django_command, args_for(django52_venv, project, ['hook first', ['hook', 'second']],
                                                 settings='mysite.settings'))
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is True
    assert [entry['command'] for entry in result['commands']] == ['manage.py hook first', 'manage.py hook second']
    assert all(entry['rc'] == 0 and entry['seconds'] > 0 for entry in result['commands'])
    first = marker(project, 'first')
    assert first['key'] == len(SECRET) and first['cwd'] == project['path']
    assert first['settings'] == 'mysite.settings'
    assert os.path.exists(os.path.join(project['markers'], 'second'))
    # The environment file's values never went on a command line nor into the result.
    assert SECRET not in result.raw


def test_nice_lowers_the_commands_priority_and_only_theirs(run_module, django52_venv, project):
    """The role's deploy_prepare_nice: the commands (and the Django they start) yield the CPU to the live
    release's workers; the module's own process keeps its priority."""
    base = os.nice(0)
    result = run_module(django_command, args_for(django52_venv, project, ['hook niced'], nice=7))
    assert not result.get('failed'), result.get('msg')
    assert marker(project, 'niced')['nice'] == min(base + 7, 19)
    assert os.nice(0) == base
    result = run_module(django_command, args_for(django52_venv, project, ['hook plain']))
    assert marker(project, 'plain')['nice'] == base
    result = run_module(django_command, args_for(django52_venv, project, ['hook never'], nice=20))
    assert result['failed'] is True and 'nice must be between 0 and 19, got 20' in result['msg']


def test_a_failing_command_stops_the_rest_and_says_its_last_error_line_masked(run_module, django52_venv, project):
    result = run_module(django_command, args_for(django52_venv, project, ['hook a', 'hook b --fail', 'hook c']))
    assert result['failed'] is True
    msg = result['msg']
    assert msg.startswith('manage.py hook b --fail failed (rc=1): ')
    # The traceback's last line, the secret in it masked.
    assert 'RuntimeError: the hook exploded with key ********' in msg
    assert SECRET not in result.raw
    assert [entry['command'] for entry in result['commands']] == ['manage.py hook a', 'manage.py hook b --fail']
    assert result['commands'][-1]['rc'] == 1
    assert os.path.exists(os.path.join(project['markers'], 'a'))
    assert not os.path.exists(os.path.join(project['markers'], 'c'))


def test_a_command_that_hangs_is_stopped_at_its_time_limit(run_module, django52_venv, project):
    result = run_module(django_command, args_for(django52_venv, project, ['hook late --sleep 60'], timeout=2))
    assert result['failed'] is True
    assert 'manage.py hook late --sleep 60 did not finish within 2 s and was stopped' in result['msg']
    assert result['commands'][0]['seconds'] < 30
    assert not os.path.exists(os.path.join(project['markers'], 'late'))


def test_check_mode_says_what_would_run_and_runs_nothing(run_module, django52_venv, project):
    result = run_module(django_command, args_for(django52_venv, project, ['hook never', ['hook', 'nor this']]),
                        check_mode=True)
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is True
    assert result['commands'] == [dict(command='manage.py hook never', rc=None, seconds=None),
                                  dict(command="manage.py hook 'nor this'", rc=None, seconds=None)]
    assert os.listdir(project['markers']) == []


def test_no_commands_change_nothing(run_module, django52_venv, project):
    result = run_module(django_command, args_for(django52_venv, project, []))
    assert result['changed'] is False and result['commands'] == []


def test_missing_manage_py_fails_before_running_anything(run_module, django52_venv, project, tmp_path):
    result = run_module(django_command, dict(args_for(django52_venv, project, ['hook x']),
                                             project_path=str(tmp_path / 'nowhere')))
    assert result['failed'] is True and 'missing %s' % (tmp_path / 'nowhere' / 'manage.py') in result['msg']


def test_commands_run_as_the_app_user_with_root_s_environment_file(run_module, system_django_venv,
                                                                   world_readable_dir, copy_person, tmp_path):
    path = add_command(copy_person('v1', os.path.join(world_readable_dir, 'project')))
    markers = os.path.join(world_readable_dir, 'markers')
    os.mkdir(markers)
    os.chmod(markers, 0o777)
    # Root's, 0600, in a directory the app user cannot enter: only the module reads it.
    env_file = tmp_path / 'app.env'
    env_file.write_text('DJANGO_SECRET_KEY=%s\nMARKER_DIR=%s\n' % (SECRET, markers))
    env_file.chmod(0o600)
    project = dict(path=path, markers=markers, env_file=str(env_file))
    result = run_module(django_command, args_for(system_django_venv, project, ['hook as-user', 'hook bad --fail'],
                                                 run_as='nobody'))
    assert result['failed'] is True
    assert marker(project, 'as-user')['user'] == 'nobody'
    assert marker(project, 'as-user')['key'] == len(SECRET)
    assert '(as nobody) failed (rc=1)' in result['msg'] and 'exploded with key ********' in result['msg']
    assert SECRET not in result.raw


@pytest.mark.parametrize('command, args', [
    ('compilemessages', ['compilemessages']),
    ('createcachetable --database "my db"', ['createcachetable', '--database', 'my db']),
    (['hook', 'a b', 3], ['hook', 'a b', '3']),
])
def test_a_command_is_a_shell_like_line_or_a_list(command, args):
    assert _hooks.parse_command(command) == args


@pytest.mark.parametrize('command, why', [
    ('', 'an empty command'),
    ([], 'an empty command'),
    ('hook "unclosed', 'cannot read the command'),
    ('manage.py migrate', 'give only what follows manage.py'),
    ('python3 manage.py check', 'give only what follows manage.py'),
])
def test_a_command_that_is_not_one_is_refused(command, why):
    with pytest.raises(ValueError, match=why):
        _hooks.parse_command(command)


def test_the_argv_runs_the_virtualenv_s_python_as_the_user_under_a_time_limit():
    assert _hooks.command_argv('/v/bin/python', ['hook', 'x'], 'app', 30, '/usr/bin/timeout', '/usr/sbin/runuser') == [
        '/usr/bin/timeout', '-k', '10', '30', '/usr/sbin/runuser', '-u', 'app', '--', '/v/bin/python', 'manage.py',
        'hook', 'x']
    argv = _hooks.command_argv('/v/bin/python', ['check'], None, 0, None, None)
    assert argv == ['/v/bin/python', 'manage.py', 'check']


def test_the_readme_s_example_commands_run(run_module, django52_venv, project, migrated_database):
    """README, "Hooks": createcachetable, check --deploy as a list, clearsessions (on a migrated database)."""
    import shutil
    shutil.copy(migrated_database(django52_venv, 'v1'), os.path.join(project['path'], 'db.sqlite3'))
    result = run_module(django_command, args_for(django52_venv, project, [
        'createcachetable', ['check', '--deploy', '--fail-level', 'ERROR'], 'clearsessions']))
    assert not result.get('failed'), result.get('msg')
    assert [entry['rc'] for entry in result['commands']] == [0, 0, 0]
