# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""venv_handoff as a task runs it: a real virtualenv built by an unprivileged build user, then root's."""

from __future__ import annotations

import collections
import os
import pwd
import shutil
import stat
import subprocess

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _handoff
from ansible_collections.simpledeploy.django.plugins.modules import venv_handoff
from ansible_collections.simpledeploy.django.tests.unit.conftest import claimed_uid

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='owners and other users need root')

KEY = 'abcdef012345'
Entry = collections.namedtuple('Entry', 'pw_uid pw_gid')


@pytest.fixture
def build_user(monkeypatch):
    """A user name the module resolves to a user ID that no account and no process has."""
    with claimed_uid(62000, 63000) as uid:
        real = pwd.getpwnam
        monkeypatch.setattr(venv_handoff.pwd, 'getpwnam',
                            lambda name: Entry(uid, uid) if name == 'person-build' else real(name))
        yield uid
        _handoff.stop_processes(uid, uid)


@pytest.fixture
def venvs(root_parent):
    path = os.path.join(root_parent, 'venvs')
    os.mkdir(path, 0o755)
    return path


@pytest.fixture
def handoff(run_module):
    return lambda args, check_mode=False: run_module(venv_handoff, args, check_mode=check_mode)


def test_a_real_virtualenv_built_by_the_build_user_ends_up_roots_and_runs(handoff, venvs, build_user):
    if not os.access('/usr/bin/python3', os.X_OK):
        pytest.skip('needs /usr/bin/python3')
    path = os.path.join(venvs, KEY)
    made = handoff(dict(path=path, build_user='person-build', state='building'))
    assert made['changed'] and made['home'] == os.path.join(path, _handoff.BUILD_HOME), made
    # What the role does (through runuser, which needs an account): python -m venv as the build user,
    # with its private HOME and TMPDIR.
    env = ['env', 'HOME=' + made['home'], 'TMPDIR=' + made['home']]
    subprocess.run(env + ['/usr/bin/python3', '-m', 'venv', '--without-pip', path], check=True, cwd=made['home'],
                   user=build_user, group=build_user, extra_groups=[])
    assert os.lstat(os.path.join(path, 'pyvenv.cfg')).st_uid == build_user
    result = handoff(dict(path=path, build_user='person-build'))
    assert result['changed'] and result['entries'] > 5 and result['removed'] == [_handoff.BUILD_HOME], result
    python = os.path.join(path, 'bin', 'python')
    assert os.path.islink(python) and os.lstat(python).st_uid == 0
    assert os.stat('/usr/bin/python3').st_uid == 0 and stat.S_IMODE(os.stat('/usr/bin/python3').st_mode) & 0o755
    assert subprocess.run([python, '-c', 'import sys; print(sys.prefix)'], check=True, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.strip() == path
    assert _handoff.is_handed_over(path)
    with open(os.path.join(path, _handoff.VENV_READY)) as handle:
        assert handle.read() == KEY + '\n'


def test_check_mode_with_the_build_user_still_to_be_made_reports_and_changes_nothing(handoff, venvs):
    path = os.path.join(venvs, KEY)
    for state in ('building', 'handed_off', 'absent'):
        result = handoff(dict(path=path, build_user='no-such-build-user', state=state), check_mode=True)
        assert not result.get('failed') and result['changed'] is (state != 'absent'), result
    assert os.listdir(venvs) == []


def test_a_missing_build_user_and_root_are_refused(handoff, venvs):
    path = os.path.join(venvs, KEY)
    missing = handoff(dict(path=path, build_user='no-such-build-user', state='building'))
    assert missing['failed'] and 'no-such-build-user does not exist' in missing['msg']
    root = handoff(dict(path=path, build_user='root', state='building'))
    assert root['failed'] and 'is root' in root['msg']
    assert os.listdir(venvs) == []


def test_a_foreign_entry_fails_the_task_naming_it(handoff, venvs, build_user):
    path = os.path.join(venvs, KEY)
    handoff(dict(path=path, build_user='person-build', state='building'))
    with open(os.path.join(path, 'planted'), 'w') as handle:
        handle.write('root made this\n')
    result = handoff(dict(path=path, build_user='person-build'))
    assert result['failed'] and os.path.join(path, 'planted') in result['msg'] and 'nothing was handed over' in result['msg']
    assert os.lstat(path).st_uid == build_user
    gone = handoff(dict(path=path, build_user='person-build', state='absent'))
    assert gone['changed'] and not os.path.lexists(path)


SETUP_PY = '''
import os
from setuptools import setup
with open(os.environ['BUILD_REPORT'], 'w') as handle:
    handle.write('%d\\n' % os.getuid())
setup(name='buildprobe', version='1.0', py_modules=['buildprobe'])
'''


def test_pip_runs_an_sdists_build_code_as_the_build_user_and_root_gets_the_result(
        handoff, venvs, build_user, world_readable_dir):
    """What the role does, end to end: the setup.py of a package pip builds runs as the build user, not root."""
    if not os.access('/usr/bin/python3', os.X_OK):
        pytest.skip('needs /usr/bin/python3')
    source = os.path.join(world_readable_dir, 'buildprobe')
    os.mkdir(source)
    os.chmod(source, 0o755)
    with open(os.path.join(source, 'setup.py'), 'w') as handle:
        handle.write(SETUP_PY)
    with open(os.path.join(source, 'buildprobe.py'), 'w') as handle:
        handle.write('VALUE = 42\n')
    path = os.path.join(venvs, KEY)
    home = handoff(dict(path=path, build_user='person-build', state='building'))['home']
    report = os.path.join(home, 'report')
    env = ['env', 'HOME=' + home, 'TMPDIR=' + home, 'BUILD_REPORT=' + report]
    # What runuser gives the build: not this test process's PYTHONPATH (ansible-test's, in a private /tmp dir)
    as_builder = dict(cwd=home, user=build_user, group=build_user, extra_groups=[],
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      env=dict(PATH=os.environ.get('PATH', '/usr/bin:/bin'), LC_ALL='C.UTF-8'))
    subprocess.run(env + ['/usr/bin/python3', '-m', 'venv', path], check=True, **as_builder)
    python = os.path.join(path, 'bin', 'python')
    if subprocess.run([python, '-c', 'import setuptools'], check=False).returncode != 0:
        pytest.skip('no setuptools in a new virtualenv of /usr/bin/python3 (Python 3.12+): needs an index')
    shutil.copytree(source, os.path.join(home, 'src'))
    subprocess.run(['chown', '-R', '%d:%d' % (build_user, build_user), os.path.join(home, 'src')], check=True)
    installed = subprocess.run(env + [python, '-m', 'pip', 'install', '--no-index', '--no-build-isolation',
                                      '--no-cache-dir', '--disable-pip-version-check', os.path.join(home, 'src')],
                               check=False, universal_newlines=True, **as_builder)
    assert installed.returncode == 0, installed.stdout
    with open(report) as handle:
        assert int(handle.read()) == build_user  # the build code ran as the build user, not as root
    result = handoff(dict(path=path, build_user='person-build'))
    assert result['changed'] and not os.path.exists(home), result
    out = subprocess.run([python, '-c', 'import buildprobe; print(buildprobe.VALUE)'], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    assert out.strip() == '42'
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            assert os.lstat(os.path.join(root, name)).st_uid == 0, os.path.join(root, name)
