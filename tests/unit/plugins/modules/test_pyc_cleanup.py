# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pyc_cleanup module: main() in-process (check mode, diff, failures), on a
real Django project in a real virtualenv, and once as a real subprocess."""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

import ansible
import ansible.module_utils.common.warnings
from ansible_collections.simpledeploy.django.plugins.module_utils import _bytecode
from ansible_collections.simpledeploy.django.plugins.modules import pyc_cleanup


def make(root, spec):
    for rel, content in spec.items():
        path = os.path.join(str(root), rel)
        if content is None:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(content)


def listing(root):
    found = []
    for dirpath, dirnames, filenames in os.walk(str(root)):
        rel = os.path.relpath(dirpath, str(root))
        found.extend(os.path.normpath(os.path.join(rel, name)) + '/' for name in dirnames)
        found.extend(os.path.normpath(os.path.join(rel, name)) for name in filenames)
    return sorted(found)


TREE = {
    'app/__init__.py': '',
    'app/views.py': '',
    'app/__pycache__/views.cpython-312.pyc': 'fresh',
    'app/__pycache__/forms.cpython-312.pyc': 'stale',
    'app/helpers.pyc': 'orphan',
    'gone/__pycache__/__init__.cpython-311.pyc': 'pkg',
    'venv/lib/orphan.pyc': 'venv',
    'media': None,
}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / 'tree'
    make(root, TREE)
    return root


def test_check_mode_with_diff_reports_and_changes_nothing(run_module, tree):
    before = listing(tree)
    result = run_module(pyc_cleanup, {'path': str(tree), 'exclude': ['venv'], '_ansible_diff': True},
                        check_mode=True)
    assert listing(tree) == before
    assert result['changed'] is True
    expected = ['app/__pycache__/forms.cpython-312.pyc', 'app/helpers.pyc',
                'gone/', 'gone/__pycache__/', 'gone/__pycache__/__init__.cpython-311.pyc']
    assert result['paths'] == expected
    assert (result['removed_files'], result['removed_dirs'], result['bytes']) == (3, 2, len('staleorphanpkg'))
    assert result['diff']['before'] == ''.join(path + '\n' for path in expected)
    assert result['diff']['after'] == ''
    assert result['mode'] == 'stale'
    assert result['invocation']['module_args']['list_limit'] == 100


def test_removes_then_second_run_changes_nothing(run_module, tree):
    first = run_module(pyc_cleanup, {'path': str(tree), 'exclude': [str(tree / 'venv')]})
    assert first['changed'] is True
    assert listing(tree) == ['app/', 'app/__init__.py', 'app/__pycache__/', 'app/__pycache__/views.cpython-312.pyc',
                             'app/views.py', 'media/', 'venv/', 'venv/lib/', 'venv/lib/orphan.pyc']
    second = run_module(pyc_cleanup, {'path': str(tree), 'exclude': [str(tree / 'venv')]})
    assert second['changed'] is False
    assert (second['removed_files'], second['removed_dirs'], second['paths']) == (0, 0, [])
    assert 'diff' not in second


def test_mode_all_and_list_limit(run_module, tree):
    result = run_module(pyc_cleanup, {'path': str(tree), 'mode': 'all', 'list_limit': 2})
    assert result['mode'] == 'all'
    assert result['removed_files'] == 5
    assert result['removed_dirs'] == 5  # two __pycache__, gone/, and venv/lib/ and venv/ (not excluded)
    assert result['paths'] == ['app/__pycache__/', 'app/__pycache__/forms.cpython-312.pyc']
    assert result['paths_truncated'] is True
    assert listing(tree) == ['app/', 'app/__init__.py', 'app/views.py', 'media/']


@pytest.mark.parametrize('args, message', [
    ({'path': 'MISSING'}, 'does not exist'),
    ({'path': 'FILE'}, 'is not a directory'),
    ({'path': 'TREE', 'mode': 'everything'}, 'value of mode must be one of: stale, all'),
    ({'path': 'TREE', 'list_limit': -1}, 'list_limit must be 0 or more'),
    ({'path': 'TREE', 'exclude': ['..']}, "exclude entry '..' does not name a path inside"),
    ({}, 'missing required arguments: path'),
])
def test_bad_arguments_fail_clearly(run_module, tree, args, message):
    paths = {'MISSING': str(tree / 'missing'), 'FILE': str(tree / 'app' / 'views.py'), 'TREE': str(tree)}
    if 'path' in args:
        args = dict(args, path=paths[args['path']])
    before = listing(tree)
    result = run_module(pyc_cleanup, args)
    assert result['failed'] is True
    assert message in result['msg']
    if args.get('path') in (paths['MISSING'], paths['FILE']):
        assert args['path'] in result['msg']
    assert listing(tree) == before


def test_unreadable_directory_fails_naming_it(run_module, tree, monkeypatch):
    real_scandir = os.scandir
    locked = str(tree)

    def scandir(path):
        # the walk lists each directory through its descriptor
        if (os.readlink('/proc/self/fd/%d' % path) if isinstance(path, int) else path) == locked:
            raise PermissionError(13, 'Permission denied', path)
        return real_scandir(path)

    monkeypatch.setattr(os, 'scandir', scandir)
    before = listing(tree)
    result = run_module(pyc_cleanup, {'path': str(tree)})
    assert result['failed'] is True
    assert result['msg'] == 'cannot read directory %s: Permission denied' % locked
    assert result['path'] == locked
    assert result['changed'] is False
    assert listing(tree) == before


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Module warnings pile up from one in-process run to the next: start with none
    (and as on a managed host, where they go to the result)."""
    monkeypatch.setattr(ansible.module_utils._internal, 'is_controller', False)
    monkeypatch.setattr(ansible.module_utils.common.warnings, '_global_warnings', {})


def _swap_for_link(directory, target):
    os.rename(directory, directory + '.moved')
    os.symlink(target, directory)
    return os.readlink(directory)


def test_directory_swapped_for_a_link_before_the_removal(run_module, attacker, world_readable_dir, tmp_path,
                                                         monkeypatch, fresh_warnings):
    """The app user owns uploads/ in the tree; after the walk planned its
    stale bytecode, it swaps uploads/pkg for a link to a directory of root's
    holding the same names. Root's files stay; the run warns and says which
    directory it skipped."""
    root = os.path.join(world_readable_dir, 'tree')
    make(root, dict(TREE, uploads=None))
    os.chown(os.path.join(root, 'uploads'), attacker.uid, attacker.gid)
    pkg = os.path.join(root, 'uploads', 'pkg')
    attacker.run(make, pkg, {'__pycache__/gone.cpython-312.pyc': 'app', 'legacy.pyc': 'app'})
    outside = tmp_path / 'etc-like'
    make(outside, {'__pycache__/gone.cpython-312.pyc': 'root', 'legacy.pyc': 'root'})
    real_execute = _bytecode.execute

    def swap_then_execute(plan, *args, **kwargs):
        assert attacker.run(_swap_for_link, pkg, str(outside)) == str(outside)
        return real_execute(plan, *args, **kwargs)

    monkeypatch.setattr(_bytecode, 'execute', swap_then_execute)
    result = run_module(pyc_cleanup, {'path': root, 'exclude': ['venv']})
    assert listing(outside) == ['__pycache__/', '__pycache__/gone.cpython-312.pyc', 'legacy.pyc']
    assert listing(pkg + '.moved') == ['__pycache__/', '__pycache__/gone.cpython-312.pyc', 'legacy.pyc']
    assert result['skipped_dirs'] == ['uploads/pkg/']
    assert result['changed'] is True
    assert result['paths'] == ['app/__pycache__/forms.cpython-312.pyc', 'app/helpers.pyc',
                               'gone/', 'gone/__pycache__/', 'gone/__pycache__/__init__.cpython-311.pyc']
    assert result['removed_files'] == 3
    [warning] = [item['event']['msg'] for item in result['warnings']]
    assert warning.startswith('Skipped under %s, because something replaced them' % root)
    assert 'nothing in them was removed: uploads/pkg/.' in warning


def test_normal_tree_skips_nothing_and_warns_nothing(run_module, tree, fresh_warnings):
    result = run_module(pyc_cleanup, {'path': str(tree)})
    assert result['skipped_dirs'] == []
    assert 'warnings' not in result
    assert result['removed_files'] == 4


def test_undeletable_file_fails_with_what_went(run_module, tree):
    """A real EPERM (even for root): app/__pycache__ is made immutable."""
    locked = str(tree / 'app' / '__pycache__')
    chattr = shutil.which('chattr')
    if os.geteuid() != 0:
        os.chmod(locked, 0o555)
    elif not chattr or subprocess.run([chattr, '+i', locked], check=False).returncode != 0:
        pytest.skip('cannot make a directory undeletable here (no chattr +i)')
    try:
        result = run_module(pyc_cleanup, {'path': str(tree)})
    finally:
        if os.geteuid() == 0:
            subprocess.run([chattr, '-i', locked], check=False)
        os.chmod(locked, 0o755)
    stuck = os.path.join(locked, 'forms.cpython-312.pyc')
    assert result['failed'] is True
    assert result['path'] == stuck
    assert result['msg'].startswith('cannot remove %s: ' % stuck)
    assert os.path.exists(stuck)
    went = [rel for rel in ('app/helpers.pyc', 'gone/__pycache__/__init__.cpython-311.pyc', 'venv/lib/orphan.pyc')
            if not os.path.exists(str(tree / rel))]
    assert result['removed_files'] == len(went)
    assert result['changed'] is bool(went)
    assert result['removed_dirs'] == 0


# ------------------------------------------------------- a real Django project

def _django_env():
    env = dict(os.environ, DJANGO_DEBUG='1', LC_ALL='C.UTF-8', LANG='C.UTF-8')
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    env.pop('PYTHONPATH', None)
    env.pop('DJANGO_SETTINGS_MODULE', None)
    return env


def _manage(venv, project, *args):
    return subprocess.run([venv.python, 'manage.py'] + list(args), cwd=str(project), env=_django_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)


def _upgrade_in_place(tree, new_release):
    """What many hand-made deploys do (rsync --delete --exclude '*.pyc'): the new
    release's files over the old tree, sources it dropped deleted, bytecode left."""
    wanted = set()
    for dirpath, dirnames, filenames in os.walk(new_release):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), new_release)
            wanted.add(rel)
            os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
            shutil.copy2(os.path.join(dirpath, name), os.path.join(tree, rel))
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [name for name in dirnames if name != '__pycache__']
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), tree)
            if rel not in wanted and not name.endswith(('.pyc', '.pyo')) and name != 'db.sqlite3':
                os.unlink(os.path.join(dirpath, name))


def test_old_release_bytecode_stops_being_imported(run_module, django_venv, person_v1, person_v2):
    """v1 compiled (legacy .pyc beside sources too, as `compileall -b` does), then v2
    put over it: v1's people/legacy.py is gone but its bytecode still imports."""
    for extra in ([], ['-b']):
        compiled = subprocess.run([django_venv.python, '-m', 'compileall', '-q'] + extra + [person_v1],
                                  env=_django_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  check=False)
        assert compiled.returncode == 0, compiled.stdout
    _upgrade_in_place(person_v1, person_v2)
    assert not os.path.exists(os.path.join(person_v1, 'people', 'legacy.py'))
    probe = ('shell', '-c', 'from people import legacy; print(legacy.describe())')
    before = _manage(django_venv, person_v1, *probe)
    assert before.returncode == 0, before.stderr
    assert 'people.legacy from release v1' in before.stdout

    checked = run_module(pyc_cleanup, {'path': person_v1}, check_mode=True)
    assert 'people/legacy.pyc' in checked['paths']
    assert _manage(django_venv, person_v1, *probe).returncode == 0

    result = run_module(pyc_cleanup, {'path': person_v1})
    assert result['changed'] is True
    assert result['paths'] == checked['paths']
    tag = 'cpython-%d%d' % tuple(int(part) for part in subprocess.check_output(
        [django_venv.python, '-c', 'import sys; print(sys.version_info[0], sys.version_info[1])'],
        text=True).split())
    assert 'people/__pycache__/legacy.%s.pyc' % tag in result['paths']
    after = _manage(django_venv, person_v1, *probe)
    assert after.returncode != 0
    assert "cannot import name 'legacy'" in after.stderr or 'No module named' in after.stderr
    # v1's bytecode of sources that v2 still has is not stale: kept, and Django runs
    assert os.path.exists(os.path.join(person_v1, 'people', '__pycache__', 'models.%s.pyc' % tag))
    checked_ok = _manage(django_venv, person_v1, 'check')
    assert checked_ok.returncode == 0, checked_ok.stderr
    assert run_module(pyc_cleanup, {'path': person_v1})['changed'] is False


# ------------------------------------------------------- a real subprocess

def _host_pythons():
    """This interpreter, plus every Python 3.9+ found in SIMPLEDEPLOY_TEST_PYTHONS
    (os.pathsep-separated) or pyenv's versions: the module must run on the
    managed host's own Python 3.9 or newer."""
    found = {'%d.%d' % sys.version_info[:2]: sys.executable}
    candidates = os.environ.get('SIMPLEDEPLOY_TEST_PYTHONS', '').split(os.pathsep)
    candidates.extend(sorted(glob.glob(os.path.join(os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv'),
                                                    'versions', '3.*', 'bin', 'python3'))))
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        proc = subprocess.run([candidate, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        version = proc.stdout.strip()
        if proc.returncode == 0 and version and tuple(int(p) for p in version.split('.')) >= (3, 9):
            found.setdefault(version, candidate)
    return [pytest.param(found[version], id='py' + version)
            for version in sorted(found, key=lambda v: tuple(int(p) for p in v.split('.')))]


@pytest.mark.parametrize('python', _host_pythons())
def test_runs_as_a_real_subprocess(tree, tmp_path, python):
    """The module file executed by a Python interpreter, as Ansible runs it on a host."""
    # The collection and the directory holding the ansible package, nothing of
    # sys.path (the controller's standard library would break another Python).
    collections_root = os.path.abspath(os.path.join(os.path.dirname(pyc_cleanup.__file__), *(['..'] * 5)))
    ansible_root = os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([collections_root, ansible_root]),
               LANG='C.UTF-8', LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1')
    args_file = tmp_path / 'args.json'

    def run(**args):
        args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(args, path=str(tree))}))
        proc = subprocess.run([python, '-m', pyc_cleanup.__name__, str(args_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path),
                              check=False, text=True)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    checked = run(mode='all', exclude=['venv'], _ansible_check_mode=True)
    assert checked['changed'] is True and os.path.exists(str(tree / 'app' / 'helpers.pyc'))
    done = run(mode='all', exclude=['venv'])
    assert done['removed_files'] == checked['removed_files'] == 4
    assert done['paths'] == checked['paths']
    assert not os.path.exists(str(tree / 'app' / '__pycache__'))
    assert os.path.exists(str(tree / 'venv' / 'lib' / 'orphan.pyc'))
    assert run(mode='all', exclude=['venv'])['changed'] is False
