# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the pure bytecode logic: the classifier on listings, the planner
and executor on real trees, and the import danger with a real Python."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _bytecode
from ansible_collections.simpledeploy.django.plugins.module_utils._bytecode import (
    BytecodeError,
    CleanupExcludes,
    classify,
    cleanup,
    execute,
    plan_cleanup,
)

TAGS = ['cpython-36', 'cpython-37', 'cpython-38', 'cpython-39', 'cpython-310',
        'cpython-311', 'cpython-312', 'cpython-313', 'pypy39', 'pypy310']


# ---------------------------------------------------------------- classify()

@pytest.mark.parametrize('files, expected', [
    (['foo.py', 'foo.pyc'], []),
    (['foo.pyc'], ['foo.pyc']),
    (['foo.pyo'], ['foo.pyo']),
    (['foo.pyw', 'foo.pyc'], []),
    (['foo.py', 'foo.pyo', 'bar.pyo'], ['bar.pyo']),
    (['__init__.pyc', 'models.pyc', 'models.py'], ['__init__.pyc']),
    (['notes.txt', 'setup.cfg', 'x.pyc.bak', 'y.pycx', 'z.py'], []),
    (['foo.bar.pyc', 'foo.py'], ['foo.bar.pyc']),
    (['FOO.pyc', 'foo.py'], ['FOO.pyc']),
    ([], []),
], ids=repr)
def test_classify_ordinary_stale(files, expected):
    assert classify(files, 'stale') == expected


def test_classify_ordinary_sources_beyond_regular_files():
    # a foo.py that is a symlink (listed only among the sources) keeps foo.pyc
    assert classify(['foo.pyc', 'bar.pyc'], 'stale', sources={'foo.pyc', 'bar.pyc', 'foo.py'}) == ['bar.pyc']


@pytest.mark.parametrize('tag', TAGS)
@pytest.mark.parametrize('opt', ['', '.opt-1', '.opt-2'])
def test_classify_pycache_tags(tag, opt):
    name = 'views.%s%s.pyc' % (tag, opt)
    assert classify([name], 'stale', sources={'views.py', '__pycache__'}, pycache=True) == []
    assert classify([name], 'stale', sources={'urls.py', '__pycache__'}, pycache=True) == [name]
    assert classify([name], 'stale', sources={'views.pyw'}, pycache=True) == []
    assert classify([name], 'all', sources={'views.py'}, pycache=True) == [name]


@pytest.mark.parametrize('name, sources, stale', [
    ('test_x.cpython-312-pytest-8.3.2.pyc', {'test_x.py'}, False),
    ('test_x.cpython-312-pytest-8.3.2.pyc', {'test_y.py'}, True),
    ('a.b.cpython-312.pyc', {'a.b.py'}, False),
    ('a.b.cpython-312.pyc', {'a.py'}, False),   # kept: a prefix has a source
    ('a.b.cpython-312.pyc', {'b.py'}, True),
    ('m.cpython-34.pyo', {'m.py'}, False),
    ('m.cpython-34.pyo', set(), True),
    ('m.pyc', {'m.py'}, False),
    ('m.pyc', set(), True),
    ('m.cpython-312.pyc', {'m'}, True),          # a directory named m is no source
    ('.hidden.cpython-312.pyc', {'.hidden.py'}, False),
    ('.hidden.cpython-312.pyc', {'hidden.py'}, True),
])
def test_classify_pycache_names(name, sources, stale):
    assert classify([name], 'stale', sources=sources, pycache=True) == ([name] if stale else [])


def test_classify_pycache_keeps_non_bytecode():
    assert classify(['a.cpython-312.pyc.1402', 'README'], 'stale', sources=set(), pycache=True) == []
    assert classify(['a.cpython-312.pyc.1402', 'README'], 'all', sources=set(), pycache=True) == []


@pytest.mark.parametrize('files, expected', [
    (['foo.py', 'foo.pyc', 'bar.pyo', 'baz.txt'], ['bar.pyo', 'foo.pyc']),
    (['foo.py', 'foo.pyw'], []),
])
def test_classify_all(files, expected):
    assert classify(files, 'all') == expected


def test_classify_rejects_unknown_mode():
    with pytest.raises(ValueError, match='mode'):
        classify(['a.pyc'], 'everything')


# ---------------------------------------------------------------- real trees

def make(root, spec):
    """Create files (str content) and empty dirs (None) under root."""
    for rel, content in spec.items():
        path = os.path.join(str(root), rel)
        if content is None:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(content)


def snapshot(root):
    """Every path under root (dirs end with /), symlinks not followed."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(str(root)):
        rel = os.path.relpath(dirpath, str(root))
        for name in dirnames:
            found.add(os.path.normpath(os.path.join(rel, name)) + ('' if os.path.islink(os.path.join(dirpath, name)) else '/'))
        for name in filenames:
            found.add(os.path.normpath(os.path.join(rel, name)))
    return found


PROJECT = {
    'manage.py': 'print(1)\n',
    'mysite/__init__.py': '',
    'mysite/settings.py': 'X = 1\n',
    'mysite/__pycache__/__init__.cpython-312.pyc': 'b1',
    'mysite/__pycache__/settings.cpython-312.pyc': 'b22',
    'mysite/__pycache__/settings.cpython-312.opt-1.pyc': 'b333',
    'mysite/__pycache__/oldurls.cpython-312.pyc': 'b4444',          # stale: source gone
    'mysite/__pycache__/oldurls.cpython-39.opt-2.pyc': 'b55555',    # stale
    'mysite/legacy.pyc': 'L1',                                      # stale, importable
    'mysite/settings.pyc': 'L22',                                   # beside its source: kept
    'mysite/gui.pyw': '',
    'mysite/gui.pyo': 'L333',                                       # .pyw is a source: kept
    'polls/__init__.py': '',
    'polls/__pycache__/gone.cpython-311.pyc': 'gone',               # dir left empty: goes
    'polls/templates/polls/index.html': '<p>\n',
    'oldapp/__pycache__/__init__.cpython-312.pyc': 'o1',            # only bytecode: whole dir goes
    'oldapp/sub/__pycache__/models.cpython-312.pyc': 'o22',
    'oldapp/sub/views.pyc': 'o333',
    'media': None,                                                  # empty before: kept
    'static/css': None,
    'notes/readme.pyc.txt': 'not bytecode',
    'emptycache/__init__.py': '',
    'emptycache/__pycache__': None,                                 # empty before: kept in stale
}

STALE_GONE = {
    'mysite/__pycache__/oldurls.cpython-312.pyc',
    'mysite/__pycache__/oldurls.cpython-39.opt-2.pyc',
    'mysite/legacy.pyc',
    'polls/__pycache__/gone.cpython-311.pyc',
    'polls/__pycache__/',
    'oldapp/__pycache__/__init__.cpython-312.pyc',
    'oldapp/sub/__pycache__/models.cpython-312.pyc',
    'oldapp/sub/views.pyc',
    'oldapp/sub/__pycache__/',
    'oldapp/__pycache__/',
    'oldapp/sub/',
    'oldapp/',
}


@pytest.fixture
def project(tmp_path):
    make(tmp_path, PROJECT)
    return tmp_path


def test_stale_removes_exactly_the_stale(project):
    before = snapshot(project)
    result = cleanup(str(project), 'stale')
    after = snapshot(project)
    assert before - after == STALE_GONE
    assert after - before == set()
    assert result['changed'] is True
    assert result['removed_files'] == 7
    assert result['removed_dirs'] == 5
    assert result['bytes'] == len('b4444b55555L1goneo1o22o333')
    assert result['paths'] == sorted(STALE_GONE)
    assert result['paths_truncated'] is False
    assert result['mode'] == 'stale'


def test_all_removes_every_bytecode_and_pycache(project):
    result = cleanup(str(project), 'all')
    after = snapshot(project)
    assert not [p for p in after if p.endswith(('.pyc', '.pyo'))]
    assert not [p for p in after if '__pycache__' in p]
    # sources, non-bytecode files and the dirs empty before stay
    for kept in ('manage.py', 'mysite/settings.py', 'mysite/gui.pyw', 'polls/templates/polls/index.html',
                 'media/', 'static/css/', 'notes/readme.pyc.txt', 'emptycache/__init__.py'):
        assert kept in after
    assert 'oldapp/' not in after
    assert result['removed_files'] == 12
    # 5 __pycache__ (emptycache's one too, empty before) + oldapp/sub + oldapp
    assert result['removed_dirs'] == 7


@pytest.mark.parametrize('mode', ['stale', 'all'])
def test_check_mode_changes_nothing_and_reports_the_same(project, tmp_path_factory, mode):
    twin = tmp_path_factory.mktemp('twin')
    make(twin, PROJECT)
    before = snapshot(project)
    checked = cleanup(str(project), mode, check_mode=True)
    assert snapshot(project) == before
    real = cleanup(str(twin), mode)
    assert checked == real
    assert checked['changed'] is True


@pytest.mark.parametrize('mode', ['stale', 'all'])
def test_second_run_changes_nothing(project, mode):
    assert cleanup(str(project), mode)['changed'] is True
    again = cleanup(str(project), mode)
    assert again['changed'] is False
    assert (again['removed_files'], again['removed_dirs'], again['bytes'], again['paths']) == (0, 0, 0, [])


@pytest.mark.parametrize('tag', TAGS)
def test_real_tree_each_tag(tmp_path, tag):
    make(tmp_path, {
        'app/views.py': '',
        'app/__pycache__/views.%s.pyc' % tag: 'fresh',
        'app/__pycache__/views.%s.opt-1.pyc' % tag: 'fresh',
        'app/__pycache__/forms.%s.pyc' % tag: 'stale',
        'app/__pycache__/forms.%s.opt-2.pyc' % tag: 'stale',
    })
    result = cleanup(str(tmp_path))
    assert sorted(os.listdir(str(tmp_path / 'app' / '__pycache__'))) == [
        'views.%s.opt-1.pyc' % tag, 'views.%s.pyc' % tag]
    assert result['removed_files'] == 2


def test_pyw_sources_and_legacy_pyo(tmp_path):
    make(tmp_path, {
        'gui.pyw': '', 'gui.pyo': 'k', 'gui.pyc': 'k', '__pycache__/gui.cpython-312.pyc': 'k',
        'old.pyo': 'gone', 'keep.txt': 'k',
    })
    cleanup(str(tmp_path))
    assert snapshot(tmp_path) == {'gui.pyw', 'gui.pyo', 'gui.pyc', '__pycache__/', '__pycache__/gui.cpython-312.pyc',
                                  'keep.txt'}


def test_root_is_never_removed(tmp_path):
    make(tmp_path, {'tree/a.pyc': 'x', 'tree/__pycache__/b.cpython-312.pyc': 'y'})
    result = cleanup(str(tmp_path / 'tree'))
    assert snapshot(tmp_path) == {'tree/'}
    assert result['paths'] == ['__pycache__/', '__pycache__/b.cpython-312.pyc', 'a.pyc']


def test_directory_with_an_empty_dir_and_bytecode_stays(tmp_path):
    # uploads/ was empty before, so it stays, and so does its parent
    make(tmp_path, {'app/uploads': None, 'app/old.pyc': 'x', 'other/x.txt': 'x', 'other/y.pyc': 'y'})
    cleanup(str(tmp_path))
    assert snapshot(tmp_path) == {'app/', 'app/uploads/', 'other/', 'other/x.txt'}


def test_non_bytecode_in_pycache_keeps_it(tmp_path):
    make(tmp_path, {'__pycache__/gone.cpython-312.pyc': 'x', '__pycache__/gone.cpython-312.pyc.4711': 'tmp'})
    cleanup(str(tmp_path))
    assert snapshot(tmp_path) == {'__pycache__/', '__pycache__/gone.cpython-312.pyc.4711'}


def test_nested_bytecode_only_package_goes_whole(tmp_path):
    spec = {'site/app.py': ''}
    for depth in range(1, 6):
        pkg = '/'.join(['site/deep'] + ['p%d' % i for i in range(depth)])
        spec[pkg + '/__pycache__/__init__.cpython-312.pyc'] = 'x'
        spec[pkg + '/mod%d.pyc' % depth] = 'y'
    make(tmp_path, spec)
    result = cleanup(str(tmp_path))
    assert snapshot(tmp_path) == {'site/', 'site/app.py'}
    assert result['removed_files'] == 10
    assert result['removed_dirs'] == 11  # 5 __pycache__, 5 packages, deep/


@pytest.mark.parametrize('exclude', [['venv'], ['venv/'], ['./venv'], ['ven?'], ['*env'], ['ABS']])
@pytest.mark.parametrize('mode', ['stale', 'all'])
def test_excluded_venv_untouched(tmp_path, exclude, mode):
    make(tmp_path, {
        'venv/lib/python3.12/site-packages/six.pyc': 'orphan',
        'venv/lib/python3.12/site-packages/__pycache__/six.cpython-312.pyc': 'x',
        'venv/lib/python3.12/site-packages/__pycache__/gone.cpython-312.pyc': 'x',
        'app/__pycache__/gone.cpython-312.pyc': 'x',
    })
    exclude = [str(tmp_path / 'venv') if entry == 'ABS' else entry for entry in exclude]
    venv_before = {p for p in snapshot(tmp_path) if p.startswith('venv/')}
    result = cleanup(str(tmp_path), mode, exclude=exclude)
    after = snapshot(tmp_path)
    assert {p for p in after if p.startswith('venv/')} == venv_before
    assert 'app/' not in after
    assert result['excluded_outside'] == []


def test_exclude_deep_glob_and_file(tmp_path):
    make(tmp_path, {
        'a/node_modules/x.pyc': 'x', 'b/c/node_modules/y.pyc': 'y', 'keep.pyc': 'k', 'drop.pyc': 'd',
    })
    result = cleanup(str(tmp_path), exclude=['*/node_modules', 'keep.pyc'])
    assert snapshot(tmp_path) == {'a/', 'a/node_modules/', 'a/node_modules/x.pyc', 'b/', 'b/c/', 'b/c/node_modules/',
                                  'b/c/node_modules/y.pyc', 'keep.pyc'}
    assert result['paths'] == ['drop.pyc']


@pytest.mark.parametrize('exclude', [['venv'], ['./venv/'], [os.path.join('ABS', 'venv')]])
def test_an_exclude_entry_is_anchored_at_the_root(tmp_path, exclude):
    """Unlike release_archive's patterns, a bare name is not matched at any depth: app/venv is cleaned."""
    make(tmp_path, {'venv/x.pyc': 'x', 'app/models.py': '', 'app/venv/y.pyc': 'y'})
    exclude = [entry.replace('ABS', str(tmp_path)) for entry in exclude]
    result = cleanup(str(tmp_path), exclude=exclude)
    assert snapshot(tmp_path) == {'venv/', 'venv/x.pyc', 'app/', 'app/models.py'}
    assert result['paths'] == ['app/venv/', 'app/venv/y.pyc']


def test_exclude_outside_is_reported_and_ignored(tmp_path):
    make(tmp_path, {'tree/x.pyc': 'x'})
    result = cleanup(str(tmp_path / 'tree'), exclude=[str(tmp_path / 'elsewhere')])
    assert result['excluded_outside'] == [str(tmp_path / 'elsewhere')]
    assert result['removed_files'] == 1


@pytest.mark.parametrize('entry', ['.', '..', '../x'])
def test_exclude_naming_no_inner_path_fails(tmp_path, entry):
    with pytest.raises(BytecodeError, match='exclude'):
        cleanup(str(tmp_path), exclude=[entry])


def test_exclude_matcher_absolute_through_symlinked_root(tmp_path):
    make(tmp_path, {'releases/3/venv': None})
    os.symlink(str(tmp_path / 'releases' / '3'), str(tmp_path / 'current'))
    matcher = CleanupExcludes(str(tmp_path / 'current'), [str(tmp_path / 'releases' / '3' / 'venv')])
    assert matcher('venv') and not matcher('app') and matcher.outside == []


@pytest.mark.parametrize('mode', ['stale', 'all'])
def test_symlinked_dir_not_followed(tmp_path, mode):
    make(tmp_path, {
        'outside/orphan.pyc': 'x', 'outside/__pycache__/gone.cpython-312.pyc': 'x',
        'tree/app.py': '',
    })
    os.symlink(str(tmp_path / 'outside'), str(tmp_path / 'tree' / 'linked'))
    os.symlink(str(tmp_path / 'outside' / 'orphan.pyc'), str(tmp_path / 'tree' / 'link.pyc'))
    os.symlink(str(tmp_path / 'outside' / '__pycache__'), str(tmp_path / 'tree' / '__pycache__'))
    result = cleanup(str(tmp_path / 'tree'), mode)
    assert snapshot(tmp_path / 'outside') == {'orphan.pyc', '__pycache__/', '__pycache__/gone.cpython-312.pyc'}
    assert sorted(os.listdir(str(tmp_path / 'tree'))) == ['__pycache__', 'app.py', 'link.pyc', 'linked']
    assert result['changed'] is False


def test_symlinked_root_is_cleaned(tmp_path):
    make(tmp_path, {'releases/2/old.pyc': 'x', 'releases/2/new.py': ''})
    os.symlink(str(tmp_path / 'releases' / '2'), str(tmp_path / 'current'))
    assert cleanup(str(tmp_path / 'current'))['paths'] == ['old.pyc']
    assert os.listdir(str(tmp_path / 'releases' / '2')) == ['new.py']


def test_list_limit_caps_sorted_paths(tmp_path):
    make(tmp_path, dict(('m%02d.pyc' % i, 'x') for i in range(30)))
    result = cleanup(str(tmp_path), list_limit=5, diff=True)
    assert result['paths'] == ['m00.pyc', 'm01.pyc', 'm02.pyc', 'm03.pyc', 'm04.pyc']
    assert result['paths_truncated'] is True
    assert result['removed_files'] == 30
    assert result['diff']['before'].splitlines() == result['paths'] + ['... and 25 more']
    assert result['diff']['after'] == ''
    assert os.listdir(str(tmp_path)) == []
    assert cleanup(str(tmp_path), list_limit=0)['paths'] == []


def test_list_limit_zero_truncates(tmp_path):
    make(tmp_path, {'a.pyc': 'x'})
    result = cleanup(str(tmp_path), list_limit=0, check_mode=True)
    assert (result['paths'], result['paths_truncated'], result['removed_files']) == ([], True, 1)


@pytest.mark.parametrize('make_path, message', [
    (lambda root: str(root / 'missing'), 'does not exist'),
    (lambda root: str(root / 'file'), 'is not a directory'),
])
def test_bad_path(tmp_path, make_path, message):
    make(tmp_path, {'file': 'x'})
    path = make_path(tmp_path)
    with pytest.raises(BytecodeError, match=message) as info:
        cleanup(path)
    assert info.value.path == path


def test_bad_list_limit_and_mode(tmp_path):
    with pytest.raises(BytecodeError, match='list_limit'):
        cleanup(str(tmp_path), list_limit=-1)
    with pytest.raises(BytecodeError, match='mode'):
        cleanup(str(tmp_path), mode='some')


# ---------------------------------------------------------------- races and failures

def _scanned(arg):
    """The path os.scandir was given: the walk passes a directory descriptor."""
    if isinstance(arg, int):
        return os.readlink('/proc/self/fd/%d' % arg)
    return arg


def test_file_vanished_between_plan_and_execute(project):
    plan = plan_cleanup(str(project), 'stale')
    vanished = str(project / 'mysite' / 'legacy.pyc')
    os.unlink(vanished)
    assert execute(plan) == {vanished}
    assert STALE_GONE.isdisjoint(snapshot(project))


def test_directory_refilled_between_plan_and_execute(project):
    plan = plan_cleanup(str(project), 'stale')
    make(project, {'oldapp/sub/new.py': ''})
    skipped = execute(plan)
    assert skipped == {str(project / 'oldapp' / 'sub'), str(project / 'oldapp')}
    assert snapshot(project) >= {'oldapp/', 'oldapp/sub/', 'oldapp/sub/new.py'}
    assert 'oldapp/sub/views.pyc' not in snapshot(project)


def test_directory_vanished_during_walk(project, monkeypatch):
    real_scandir = os.scandir
    target = str(project / 'oldapp' / 'sub')

    def scandir(path):
        if os.path.isdir(target) and _scanned(path) == target:
            monkeypatch.setattr(os, 'scandir', real_scandir)  # rmtree lists too
            shutil.rmtree(target)
            monkeypatch.setattr(os, 'scandir', scandir)
        return real_scandir(path)

    monkeypatch.setattr(os, 'scandir', scandir)
    plan = plan_cleanup(str(project), 'stale')
    assert target not in plan.dirs
    assert str(project / 'oldapp') not in plan.dirs  # still counted a child: kept


def test_unreadable_directory_fails_naming_it(project, monkeypatch):
    real_scandir = os.scandir
    target = str(project / 'polls')

    def scandir(path):
        if _scanned(path) == target:
            raise PermissionError(13, 'Permission denied', path)
        return real_scandir(path)

    monkeypatch.setattr(os, 'scandir', scandir)
    with pytest.raises(BytecodeError) as info:
        cleanup(str(project), check_mode=True)
    assert info.value.path == target
    assert info.value.msg == 'cannot read directory %s: Permission denied' % target


def test_walk_failure_late_removes_nothing(project, monkeypatch):
    """The whole walk comes first: a directory that cannot be read, even the
    last one walked, fails the run with nothing removed."""
    real_scandir = os.scandir
    order = []

    def recording(path):
        order.append(_scanned(path))
        return real_scandir(path)

    monkeypatch.setattr(os, 'scandir', recording)
    cleanup(str(project), check_mode=True)
    last = order[-1]

    def failing(path):
        if _scanned(path) == last:
            raise PermissionError(13, 'Permission denied', path)
        return real_scandir(path)

    monkeypatch.setattr(os, 'scandir', failing)
    before = snapshot(project)
    with pytest.raises(BytecodeError) as info:
        cleanup(str(project))
    assert info.value.path == last
    assert info.value.partial == {}
    assert snapshot(project) == before


def _chattr(flag, path):
    chattr = shutil.which('chattr')
    if not chattr:
        return False
    return subprocess.run([chattr, flag, path], capture_output=True, check=False).returncode == 0


def test_undeletable_file_fails_naming_it_with_partial_figures(tmp_path):
    """A real EPERM, even for root: the directory is made immutable."""
    make(tmp_path, {'a/x.pyc': 'x', 'b/y.pyc': 'yy', 'b/keep.py': ''})
    locked = str(tmp_path / 'b')
    if os.geteuid() != 0 and os.name == 'posix':
        os.chmod(locked, 0o555)
    elif not _chattr('+i', locked):
        pytest.skip('cannot make a directory undeletable here (no chattr +i)')
    try:
        with pytest.raises(BytecodeError) as info:
            cleanup(str(tmp_path))
    finally:
        if os.geteuid() == 0:
            _chattr('-i', locked)
        os.chmod(locked, 0o755)
    assert info.value.path == os.path.join(locked, 'y.pyc')
    assert 'y.pyc' in info.value.msg
    assert os.path.exists(os.path.join(locked, 'y.pyc'))
    # the figures tell what really went before the failure (a/x.pyc or nothing)
    went = 0 if os.path.exists(str(tmp_path / 'a' / 'x.pyc')) else 1
    assert info.value.partial == dict(changed=bool(went), removed_files=went, removed_dirs=0, bytes=went)


# ---------------------------------------------------------------- the app user swaps a directory for a link

# What the app user (nobody) keeps in a directory of its own inside the tree:
# stale bytecode the cleanup plans to remove.
ATTACKER_PKG = {
    'pkg/mod.py': '',
    'pkg/legacy.pyc': 'app',                          # orphan: planned
    'pkg/__pycache__/gone.cpython-312.pyc': 'app',    # source gone: planned
    'pkg/__pycache__/mod.cpython-312.pyc': 'app',     # kept
}
# Root's directory elsewhere on the host, holding the same names.
OUTSIDE = {
    'mod.py': 'root',
    'legacy.pyc': 'root',
    '__pycache__/gone.cpython-312.pyc': 'root',
}


@pytest.fixture
def attacked_tree(attacker, world_readable_dir, tmp_path):
    """tree/ (root's) with app/old.pyc (stale, root's) and shared/ (the app
    user's, filled by the app user, who also planted links to the outside
    directory); outside/ is root's, out of the tree."""
    tree = os.path.join(world_readable_dir, 'tree')
    make(tree, {'app/views.py': '', 'app/old.pyc': 'root', 'shared': None})
    os.chown(os.path.join(tree, 'shared'), attacker.uid, attacker.gid)
    outside = tmp_path / 'outside'
    make(outside, OUTSIDE)

    def fill(shared, target):
        make(shared, ATTACKER_PKG)
        os.symlink(target, os.path.join(shared, 'linked'))
        os.symlink(os.path.join(target, '__pycache__'), os.path.join(shared, '__pycache__'))
        return sorted(os.listdir(shared))

    assert attacker.run(fill, os.path.join(tree, 'shared'), str(outside)) == ['__pycache__', 'linked', 'pkg']
    return tree, str(outside)


def _replace(directory, replacement, target):
    """As the app user: move directory away and put replacement in its place."""
    os.rename(directory, directory + '.moved')
    if replacement == 'link':
        os.symlink(target, directory)
    elif replacement == 'directory':
        make(directory, dict((rel[len('pkg/'):], 'new') for rel in ATTACKER_PKG))
    elif replacement == 'file':
        make(os.path.dirname(directory), {os.path.basename(directory): 'not a directory'})
    return os.path.lexists(directory)


@pytest.mark.parametrize('replacement', ['link', 'directory'])
def test_directory_swapped_between_plan_and_removal_is_skipped(attacker, attacked_tree, monkeypatch, replacement):
    """The app user swaps its shared/pkg for a link to root's outside/ (or for
    a new directory) after the walk planned shared/pkg/legacy.pyc and
    shared/pkg/__pycache__/gone...: nothing is removed through it."""
    tree, outside = attacked_tree
    pkg = os.path.join(tree, 'shared', 'pkg')
    outside_before = snapshot(outside)
    real_execute = _bytecode.execute
    swapped = []

    def swap_then_execute(plan, *args, **kwargs):
        assert os.path.join(pkg, 'legacy.pyc') in [path for path, size in plan.files]
        swapped.append(attacker.run(_replace, pkg, replacement, outside))
        return real_execute(plan, *args, **kwargs)

    monkeypatch.setattr(_bytecode, 'execute', swap_then_execute)
    result = cleanup(tree)
    assert swapped == [True]
    assert snapshot(outside) == outside_before
    for rel in ('legacy.pyc', '__pycache__/gone.cpython-312.pyc'):
        assert os.path.exists(os.path.join(pkg + '.moved', rel))
        if replacement == 'directory':
            assert os.path.exists(os.path.join(pkg, rel))
    assert result['skipped_dirs'] == ['shared/pkg/']
    assert result['paths'] == ['app/old.pyc']
    assert (result['removed_files'], result['removed_dirs'], result['bytes']) == (1, 0, len('root'))
    assert not os.path.exists(os.path.join(tree, 'app', 'old.pyc'))


class _Listing(object):
    """What os.scandir returns, over entries already read."""

    def __init__(self, entries):
        self.entries = entries

    def __enter__(self):
        return iter(self.entries)

    def __exit__(self, *exc_info):
        return False


@pytest.mark.parametrize('replacement, skipped', [('link', ['shared/pkg/']), ('file', ['shared/pkg/']),
                                                  ('gone', [])])
def test_directory_swapped_during_the_walk_is_not_entered(attacker, attacked_tree, monkeypatch, replacement,
                                                          skipped):
    """The app user swaps shared/pkg right after the walk listed shared/ (so
    the walk saw a directory there) and before the walk enters it."""
    tree, outside = attacked_tree
    shared = os.path.join(tree, 'shared')
    pkg = os.path.join(shared, 'pkg')
    outside_before = snapshot(outside)
    real_scandir = os.scandir
    swapped = []

    def scandir(path):
        with real_scandir(path) as listing:
            entries = list(listing)
        if not swapped and _scanned(path) == shared:
            assert [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)] == ['pkg']
            swapped.append(attacker.run(_replace, pkg, replacement, outside))
        return _Listing(entries)

    monkeypatch.setattr(os, 'scandir', scandir)
    result = cleanup(tree)
    monkeypatch.setattr(os, 'scandir', real_scandir)
    assert swapped == [replacement != 'gone']
    assert snapshot(outside) == outside_before
    assert result['skipped_dirs'] == skipped
    assert result['paths'] == ['app/old.pyc']
    assert os.path.exists(os.path.join(pkg + '.moved', 'legacy.pyc'))


@pytest.mark.parametrize('mode', ['stale', 'all'])
def test_links_planted_by_the_app_user_are_not_followed(attacked_tree, mode):
    tree, outside = attacked_tree
    outside_before = snapshot(outside)
    result = cleanup(tree, mode)
    assert snapshot(outside) == outside_before
    assert os.path.islink(os.path.join(tree, 'shared', 'linked'))
    assert os.path.islink(os.path.join(tree, 'shared', '__pycache__'))
    if mode == 'stale':
        assert result['paths'] == ['app/old.pyc', 'shared/pkg/__pycache__/gone.cpython-312.pyc', 'shared/pkg/legacy.pyc']
    assert result['skipped_dirs'] == []


def test_root_replaced_between_plan_and_execute_removes_nothing(tmp_path):
    """execute() on its own opens the root again and checks it is the one walked."""
    make(tmp_path, {'releases/2/old.pyc': 'x', 'releases/3/old.pyc': 'y', 'releases/3/keep.py': ''})
    current = str(tmp_path / 'current')
    os.symlink(str(tmp_path / 'releases' / '2'), current)
    plan = plan_cleanup(current)
    os.unlink(current)
    os.symlink(str(tmp_path / 'releases' / '3'), current)
    with pytest.raises(BytecodeError, match='no longer the directory that was walked') as info:
        execute(plan)
    assert info.value.path == current
    assert sorted(os.listdir(str(tmp_path / 'releases' / '3'))) == ['keep.py', 'old.pyc']
    assert os.listdir(str(tmp_path / 'releases' / '2')) == ['old.pyc']


@pytest.mark.parametrize('workers', [1, 4])
def test_deeper_than_the_descriptors_kept(tmp_path, workers):
    """A chain deeper than an opener keeps open (_HELD) is still removed whole."""
    spec = {'keep.py': ''}
    rel = ''
    for depth in range(_bytecode._HELD * 2):
        rel += 'd%d/' % depth
        for number in range(6):
            spec[rel + 'm%d.pyc' % number] = 'x'
    make(tmp_path, spec)
    plan = plan_cleanup(str(tmp_path))
    assert len(plan.files) == 6 * 2 * _bytecode._HELD
    assert execute(plan, workers=workers) == set()
    assert snapshot(tmp_path) == {'keep.py'}
    assert plan.skipped_dirs == []


# ---------------------------------------------------------------- the danger, for real

def _interpreters():
    """Real interpreters to prove things with: this one, python3 on PATH, those
    listed in SIMPLEDEPLOY_TEST_PYTHONS (os.pathsep-separated) and pyenv's
    installed versions when there are any; one per version, 2.7 included."""
    candidates = [sys.executable, shutil.which('python3')]
    candidates.extend(os.environ.get('SIMPLEDEPLOY_TEST_PYTHONS', '').split(os.pathsep))
    candidates.extend(sorted(glob.glob(os.path.join(os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv'),
                                                    'versions', '*', 'bin', 'python'))))
    found = {}
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        try:
            proc = subprocess.run([candidate, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = proc.stdout.decode().strip()
        if proc.returncode == 0 and version and version not in found:
            found[version] = candidate
    return [(tuple(int(part) for part in version.split('.')), found[version])
            for version in sorted(found, key=lambda v: tuple(int(part) for part in v.split('.')))]


INTERPRETERS = _interpreters()


def _pythons(minimum=(2, 7)):
    return [pytest.param(python, id='py%d.%d' % version) for version, python in INTERPRETERS if version >= minimum]


def _env():
    env = dict(os.environ)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    env.pop('PYTHONPATH', None)
    env['LC_ALL'] = 'C'
    return env


def _imports(python, cwd, module):
    proc = subprocess.run([python, '-c', 'import %s; print(%s.VALUE)' % (module, module)], cwd=str(cwd),
                          env=_env(), capture_output=True, text=True, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == 'old'


@pytest.mark.parametrize('python', _pythons())
def test_legacy_orphan_is_imported_before_and_not_after(tmp_path, python):
    make(tmp_path, {'foo.py': 'VALUE = "old"\n'})
    subprocess.run([python, '-c', 'import py_compile; py_compile.compile("foo.py", cfile="foo.pyc", doraise=True)'],
                   cwd=str(tmp_path), env=_env(), check=True)
    os.unlink(str(tmp_path / 'foo.py'))  # the new release no longer has foo.py
    assert _imports(python, tmp_path, 'foo'), 'the orphan foo.pyc should still import'
    result = cleanup(str(tmp_path))
    assert result['paths'] == ['foo.pyc']
    assert not _imports(python, tmp_path, 'foo')


@pytest.mark.parametrize('python', _pythons(minimum=(3, 3)))  # namespace packages: PEP 420
def test_bytecode_only_package_is_importable_before_and_not_after(tmp_path, python):
    make(tmp_path, {'oldpkg/__init__.py': '', 'oldpkg/mod.py': 'VALUE = "old"\n'})
    subprocess.run([python, '-c', 'import oldpkg.mod'], cwd=str(tmp_path), env=_env(), check=True)
    assert os.listdir(str(tmp_path / 'oldpkg' / '__pycache__')), 'bytecode should have been written'
    os.unlink(str(tmp_path / 'oldpkg' / '__init__.py'))
    os.unlink(str(tmp_path / 'oldpkg' / 'mod.py'))
    probe = [python, '-c', 'import oldpkg; print(oldpkg.__path__)']
    assert subprocess.run(probe, cwd=str(tmp_path), env=_env(), capture_output=True, check=False).returncode == 0
    cleanup(str(tmp_path))
    assert not os.path.exists(str(tmp_path / 'oldpkg'))
    assert subprocess.run(probe, cwd=str(tmp_path), env=_env(), capture_output=True, check=False).returncode != 0


# ---------------------------------------------------------------- many files

def _many(root, dirs=60, per_dir=40):
    spec = {}
    for number in range(dirs):
        spec['pkg%02d/keep.py' % number] = ''
        for module in range(per_dir):
            spec['pkg%02d/__pycache__/m%02d.cpython-312.pyc' % (number, module)] = 'x' * module
    make(root, spec)
    return dirs * per_dir


@pytest.mark.parametrize('workers', [1, 4, 16])
def test_executor_removes_all_and_skips_vanished(tmp_path, workers):
    total = _many(tmp_path)
    plan = plan_cleanup(str(tmp_path), 'stale')
    assert len(plan.files) == total and len(plan.dirs) == 60
    assert plan.bytes == 60 * sum(range(40))
    vanished = {plan.files[index][0] for index in (0, 777, total - 1)}
    for path in vanished:
        os.unlink(path)
    assert execute(plan, workers=workers) == vanished
    assert snapshot(tmp_path) == {'pkg%02d/' % n for n in range(60)} | {'pkg%02d/keep.py' % n for n in range(60)}


@pytest.mark.parametrize('workers', [1, 4])
def test_executor_failure_reports_what_really_went(tmp_path, workers):
    _many(tmp_path)
    locked = str(tmp_path / 'pkg30' / '__pycache__')
    if os.geteuid() != 0:
        os.chmod(locked, 0o555)
    elif not _chattr('+i', locked):
        pytest.skip('cannot make a directory undeletable here (no chattr +i)')
    plan = plan_cleanup(str(tmp_path), 'stale')
    try:
        with pytest.raises(BytecodeError) as info:
            execute(plan, workers=workers)
    finally:
        if os.geteuid() == 0:
            _chattr('-i', locked)
        os.chmod(locked, 0o755)
    assert info.value.path.startswith(locked + '/m')
    left = {path for path, size in plan.files if os.path.exists(path)}
    # every file pkgNN/__pycache__/mMM.cpython-312.pyc holds MM bytes
    freed = sum(int(os.path.basename(path)[1:3]) for path, size in plan.files if path not in left)
    assert info.value.partial == dict(changed=bool(freed), removed_files=len(plan.files) - len(left),
                                      removed_dirs=0, bytes=freed)
    # it stopped at the first failure: the rest of the plan is still there
    assert len(left) >= 40 and all(os.path.isdir(path) for path in plan.dirs)


@pytest.mark.parametrize('python', _pythons(minimum=(3, 5)))  # .opt-N.pyc: PEP 488
def test_real_cached_bytecode_of_each_version(tmp_path, python):
    """Bytecode written by the interpreter itself (plain, -O, -OO), then one
    source deleted: exactly that source's files go, whatever the tag."""
    make(tmp_path, {'app/gone.py': 'X = 1\n', 'app/kept.py': 'X = 2\n'})
    for flags in ([], ['-O'], ['-OO']):
        subprocess.run([python] + flags + ['-m', 'compileall', '-q', 'app'], cwd=str(tmp_path), env=_env(), check=True)
    cache = tmp_path / 'app' / '__pycache__'
    written = sorted(os.listdir(str(cache)))
    assert len(written) == 6, written
    os.unlink(str(tmp_path / 'app' / 'gone.py'))
    result = cleanup(str(tmp_path))
    assert result['paths'] == ['app/__pycache__/' + name for name in written if name.startswith('gone.')]
    assert sorted(os.listdir(str(cache))) == [name for name in written if name.startswith('kept.')]
