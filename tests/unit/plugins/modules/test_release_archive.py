# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The release_archive module: in-process through main(), and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.simpledeploy.django.plugins.modules import release_archive
from ansible_collections.simpledeploy.django.tests.unit.conftest import make_project


@pytest.fixture
def project(tmp_path):
    src = make_project(tmp_path / 'src')
    (src / '.git').mkdir()
    (src / '.git' / 'HEAD').write_text('ref: refs/heads/main\n')
    (src / 'db.sqlite3').write_bytes(b'SQLite format 3\x00')
    return src


def run_module(capsys, args, check_mode=False):
    """Run main() in this process; return (exit code, result dict)."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            release_archive.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def test_first_run_writes_then_second_changes_nothing(capsys, project, tmp_path):
    dest = tmp_path / 'releases'
    args = {'src': str(project), 'dest': str(dest), 'keep_paths': ['db.sqlite3', 'media', '.env']}
    code, first = run_module(capsys, args)
    assert code == 0, first
    assert first['changed'] is True
    assert first['archive'] == str(dest / (first['release_id'] + '.tar.gz'))
    assert first['manifest'] == str(dest / (first['release_id'] + '.manifest.json'))
    assert os.path.getsize(first['archive']) == first['archive_bytes'] > 0
    assert sorted(first['excluded_paths']) == ['.git', 'db.sqlite3']
    with tarfile.open(first['archive']) as tar:
        names = tar.getnames()
    assert 'manage.py' in names and '.git' not in names and 'db.sqlite3' not in names
    assert first['files'] == sum(1 for name in names if (project / name).is_file())

    code, second = run_module(capsys, args)
    assert code == 0
    assert second['changed'] is False
    assert second['release_id'] == first['release_id']


def test_check_mode_writes_nothing(capsys, project, tmp_path):
    dest = tmp_path / 'releases'
    code, result = run_module(capsys, {'src': str(project), 'dest': str(dest)}, check_mode=True)
    assert code == 0
    assert result['changed'] is True
    assert result['archive_bytes'] == 0
    assert not dest.exists()


def test_code_change_gives_new_release(capsys, project, tmp_path):
    dest = tmp_path / 'releases'
    dummy, first = run_module(capsys, {'src': str(project), 'dest': str(dest)})
    with open(str(project / 'manage.py'), 'a') as handle:
        handle.write('# v2\n')
    dummy, second = run_module(capsys, {'src': str(project), 'dest': str(dest)})
    assert second['changed'] is True
    assert second['release_id'] != first['release_id']
    assert len(list(dest.glob('*.tar.gz'))) == 2


def test_missing_manage_py_fails_clearly(capsys, tmp_path):
    src = tmp_path / 'empty'
    src.mkdir()
    code, result = run_module(capsys, {'src': str(src), 'dest': str(tmp_path / 'out')})
    assert code == 1
    assert result['failed'] is True
    assert result['msg'].startswith(
        'src %s has no manage.py; set deploy_source to the directory that holds manage.py' % src)


@pytest.mark.parametrize('keep, message', [
    ('../db.sqlite3', "contains '..'"),
    ('/var/lib/site/db.sqlite3', 'absolute path'),
])
def test_bad_keep_paths_fail_clearly(capsys, project, tmp_path, keep, message):
    dest = tmp_path / 'out'
    code, result = run_module(capsys, {'src': str(project), 'dest': str(dest), 'keep_paths': [keep]})
    assert code == 1
    assert message in result['msg'] and keep in result['msg']
    assert not dest.exists()


def test_unknown_option_refused(capsys, project, tmp_path):
    code, result = run_module(capsys, {'src': str(project), 'dest': str(tmp_path), 'excludes': ['x']})
    assert code == 1
    assert 'excludes' in result['msg']


def test_runs_as_a_real_subprocess(project, tmp_path):
    """The module file executed by a Python interpreter, as Ansible runs it on a host."""
    dest = tmp_path / 'releases'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path),
               LANG='C.UTF-8', LC_ALL='C.UTF-8')

    def run(check_mode):
        args = {'src': str(project), 'dest': str(dest), 'exclude': ['*.md'],
                '_ansible_check_mode': check_mode}
        proc = subprocess.run([sys.executable, release_archive.__file__,
                               json.dumps({'ANSIBLE_MODULE_ARGS': args})],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              cwd=str(tmp_path), check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        return json.loads(proc.stdout.decode())

    checked = run(True)
    assert checked['changed'] is True and not dest.exists()
    written = run(False)
    assert written['changed'] is True
    assert written['release_id'] == checked['release_id']
    assert os.path.isfile(written['archive'])
    assert run(False)['changed'] is False


def test_a_pin_changed_in_a_nested_requirements_file_changes_the_digest(capsys, project, tmp_path):
    (project / 'requirements').mkdir()
    (project / 'requirements.txt').write_text('-r requirements/base.txt\n-c constraints.txt\n')
    (project / 'requirements' / 'base.txt').write_text('Django==5.2.8\ngunicorn==22.0.0\n')
    (project / 'constraints.txt').write_text('asgiref==3.8.1\n')
    args = {'src': str(project), 'dest': str(tmp_path / 'releases'), 'requirements': 'requirements.txt'}
    code, first = run_module(capsys, args)
    assert code == 0, first
    assert first['requirements_files'] == ['requirements.txt', 'requirements/base.txt', 'constraints.txt']
    (project / 'requirements' / 'base.txt').write_text('Django==5.2.8\ngunicorn==23.0.0\n')
    code, second = run_module(capsys, args)
    assert second['requirements_digest'] != first['requirements_digest']
    (project / 'constraints.txt').write_text('asgiref==3.8.2\n')
    code, third = run_module(capsys, args)
    assert third['requirements_digest'] not in (first['requirements_digest'], second['requirements_digest'])
    code, none = run_module(capsys, dict(args, requirements=''))
    assert none['requirements_files'] == [] and none['requirements_digest'] == ''


def test_a_nested_requirements_file_left_out_of_the_release_fails_naming_it(capsys, project, tmp_path):
    (project / 'requirements.txt').write_text('-r pins/base.txt\n')
    (project / 'pins').mkdir()
    (project / 'pins' / 'base.txt').write_text('Django==5.2.8\n')
    args = {'src': str(project), 'dest': str(tmp_path / 'releases'), 'requirements': 'requirements.txt',
            'exclude': ['pins']}
    code, result = run_module(capsys, args)
    assert code == 1 and result['failed']
    assert result['msg'] == ('requirements: pins/base.txt is not in the release (included by requirements.txt): '
                             'check the name, and that deploy_exclude does not leave it out')
