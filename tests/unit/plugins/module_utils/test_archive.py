# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of plugins/module_utils/_archive.py on real files in tmp_path."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tarfile

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _archive
from ansible_collections.simpledeploy.django.plugins.module_utils._archive import (
    ArchiveError,
    DEFAULT_EXCLUDES,
    build_manifest,
    build_release,
    diff_manifests,
    is_excluded,
    keep_paths_under,
    read_manifest,
    release_id,
    write_archive,
)
from ansible_collections.simpledeploy.django.tests.unit.conftest import make_project


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / 'src')


def extract_all(tar, dest):
    if hasattr(tarfile, 'tar_filter'):  # Python 3.12 and the 3.9+ security releases
        tar.extractall(str(dest), filter='tar')
    else:
        tar.extractall(str(dest))


def rid_of(src, **kwargs):
    return build_release(str(src), str(src.parent / 'out'), check_mode=True, **kwargs)['release_id']


@pytest.mark.parametrize('relpath, patterns, expected', [
    ('.git/config', DEFAULT_EXCLUDES, True),
    ('.git', DEFAULT_EXCLUDES, True),
    ('people/__pycache__/models.cpython-312.pyc', DEFAULT_EXCLUDES, True),
    ('people/legacy.pyc', DEFAULT_EXCLUDES, True),
    ('people/models.py', DEFAULT_EXCLUDES, False),
    ('people/fixtures/people.json', DEFAULT_EXCLUDES, False),
    ('db.sqlite3', DEFAULT_EXCLUDES, True),
    ('data/other.sqlite3-wal', DEFAULT_EXCLUDES, True),
    ('config/.env', DEFAULT_EXCLUDES, True),
    ('.envrc', DEFAULT_EXCLUDES, False),
    ('media/avatar.png', DEFAULT_EXCLUDES, False),  # media is anchored at the project dir, not here
    ('frontend/node_modules/react/index.js', ['node_modules'], True),
    ('frontend/node_modules_notes.txt', ['node_modules'], False),
    ('static/build/app.js', ['static/build'], True),
    ('other/static/build/app.js', ['static/build'], False),
    ('static/build/app.js', ['./static/build/'], True),
    ('static/build/app.js', ['/static/build'], True),
    ('logs/a/b/c.log', ['*.log'], True),
    ('Media/x.png', ['media'], False),
    # A leading '/' or './' anchors a pattern at src (it holds a '/'); before, it was stripped first and the
    # pattern left out every entry of that name at any depth (the three False cases below failed).
    ('media/x.png', ['/media'], True),
    ('media/x.png', ['./media'], True),
    ('mysite/media/__init__.py', ['/media'], False),
    ('mysite/media/__init__.py', ['./media'], False),
    ('mysite/media/__init__.py', ['./media/'], False),
    # Trailing slashes alone do not anchor (gitignore's 'dir/'), nor restrict to directories.
    ('frontend/node_modules/react/index.js', ['node_modules/'], True),
    ('frontend/node_modules', ['node_modules/'], True),
    # An unanchored pattern is also tried on the whole path, '*' matching '/' (as documented).
    ('a/b/c', ['a*c'], True),
    ('people/models.py', [], False),
    ('people/models.py', [''], False),
])
def test_is_excluded(relpath, patterns, expected):
    assert is_excluded(relpath, patterns) is expected


def test_same_content_different_mtimes_same_id(tmp_path):
    one = make_project(tmp_path / 'one')
    two = make_project(tmp_path / 'two')
    for path in two.rglob('*'):
        os.utime(str(path), (1000000000, 1000000000), follow_symlinks=False)
    assert rid_of(one) == rid_of(two)
    assert len(rid_of(one)) == 16
    int(rid_of(one), 16)


def test_one_byte_changed_gives_another_id(project):
    before = rid_of(project)
    settings = project / 'manage.py'
    data = bytearray(settings.read_bytes())
    data[-2] ^= 1
    settings.write_bytes(bytes(data))
    assert rid_of(project) != before


@pytest.mark.parametrize('first, second, same', [
    (0o644, 0o600, True),   # only the executable bit counts
    (0o755, 0o700, True),
    (0o744, 0o755, True),
    (0o644, 0o755, False),
    (0o755, 0o644, False),
])
def test_mode_normalised_from_executable_bit(project, first, second, same):
    target = project / 'mysite' / 'settings.py'
    target.chmod(first)
    before = rid_of(project)
    target.chmod(second)
    assert (rid_of(project) == before) is same


def test_renamed_file_gives_another_id(project):
    before = rid_of(project)
    (project / 'mysite' / 'settings.py').rename(project / 'mysite' / 'settings2.py')
    assert rid_of(project) != before


def test_excluded_files_do_not_affect_id(project):
    before = rid_of(project, exclude=['node_modules'], keep_paths=['uploads'])
    (project / '.git').mkdir()
    (project / '.git' / 'HEAD').write_text('ref: refs/heads/main\n')
    (project / 'mysite' / '__pycache__').mkdir()
    (project / 'mysite' / '__pycache__' / 'settings.cpython-312.pyc').write_bytes(b'\x00' * 20)
    (project / 'db.sqlite3').write_bytes(b'SQLite format 3\x00')
    (project / 'media').mkdir()
    (project / 'media' / 'photo.jpg').write_bytes(b'\xff\xd8')
    (project / '.env').write_text('SECRET=1\n')
    (project / 'node_modules' / 'left-pad').mkdir(parents=True)
    (project / 'uploads').mkdir()
    result = build_release(str(project), str(project.parent / 'out'), check_mode=True,
                           exclude=['node_modules'], keep_paths=['uploads'])
    assert result['release_id'] == before
    assert sorted(result['excluded_paths']) == sorted([
        '.env', '.git', 'db.sqlite3', 'media', 'mysite/__pycache__', 'node_modules', 'uploads'])
    assert result['excluded'] == 7


def test_default_excludes_off_ships_them(project):
    (project / 'db.sqlite3').write_bytes(b'SQLite format 3\x00')
    result = build_release(str(project), str(project.parent / 'out'), check_mode=True,
                           default_excludes=False)
    assert result['excluded'] == 0
    manifest, dummy, dummy = build_manifest(str(project))
    assert 'db.sqlite3' in manifest


def test_media_left_out_only_next_to_manage_py(project):
    (project / 'media').mkdir()
    (project / 'media' / 'upload.png').write_bytes(b'png')
    (project / 'mysite' / 'media').mkdir()
    (project / 'mysite' / 'media' / '__init__.py').write_text('# an app called media\n')
    out = project.parent / 'out'
    result = build_release(str(project), str(out))
    entries = read_manifest(result['manifest'])
    assert 'mysite/media/__init__.py' in entries
    assert 'media' not in entries and 'media/upload.png' not in entries
    assert result['excluded_paths'] == ['media']


def test_an_anchored_exclude_leaves_out_the_top_directory_only(project):
    """exclude: ['/media'] names the media directory at src's top; an app called media elsewhere ships.

    Fails before: the leading '/' was stripped first, and 'media' then matched every entry of that name.
    """
    for directory in (project / 'media', project / 'mysite' / 'media'):
        directory.mkdir()
        (directory / '__init__.py').write_text('# code\n')
    result = build_release(str(project), str(project.parent / 'out'), exclude=['/media'], default_excludes=False)
    entries = read_manifest(result['manifest'])
    assert 'mysite/media/__init__.py' in entries
    assert 'media' not in entries and 'media/__init__.py' not in entries
    assert result['excluded_paths'] == ['media']


def test_virtualenv_detected_by_pyvenv_cfg(project):
    venv = project / 'whatever-name'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'pyvenv.cfg').write_text('home = /usr/bin\n')
    (venv / 'bin' / 'python').write_text('')
    (project / 'env').mkdir()  # no pyvenv.cfg: an ordinary directory, shipped
    (project / 'env' / 'README').write_text('not a venv\n')
    manifest, dummy, excluded = build_manifest(str(project), DEFAULT_EXCLUDES)
    assert excluded == ['whatever-name']
    assert not any(path.startswith('whatever-name') for path in manifest)
    assert 'env/README' in manifest


def test_inside_symlink_is_archived_as_link(project, tmp_path):
    os.symlink('settings.py', str(project / 'mysite' / 'alias.py'))
    os.symlink('../mysite', str(project / 'mysite' / 'loop'))  # a link to a dir is not followed
    os.symlink('missing.py', str(project / 'dangling.py'))
    manifest, dummy, dummy = build_manifest(str(project))
    assert manifest['mysite/alias.py'] == {'type': 'link', 'mode': '0777', 'target': 'settings.py'}
    assert manifest['mysite/loop']['type'] == 'link'
    assert not any(path.startswith('mysite/loop/') for path in manifest)
    assert manifest['dangling.py']['target'] == 'missing.py'


@pytest.mark.parametrize('link, target', [
    ('escape', '../outside.txt'),
    ('mysite/escape', '../../outside.txt'),
    ('absolute', '/etc/hostname'),
    ('tricky', 'mysite/up/..'),  # mysite/up -> .. (the root), so this resolves above src
])
def test_symlink_outside_src_refused(project, link, target):
    (project.parent / 'outside.txt').write_text('secret\n')
    os.symlink('..', str(project / 'mysite' / 'up'))
    os.symlink(target, str(project / link))
    with pytest.raises(ArchiveError, match='symlink %s' % link):
        build_manifest(str(project))


def test_symlink_outside_src_refused_even_if_root_is_a_link(project, tmp_path):
    root_link = tmp_path / 'via-link'
    os.symlink(str(project), str(root_link))
    os.symlink('../outside.txt', str(project / 'escape'))
    with pytest.raises(ArchiveError, match='points outside src'):
        build_manifest(str(root_link))


def test_fifo_refused_unless_excluded(project):
    os.mkfifo(str(project / 'pipe'))
    with pytest.raises(ArchiveError, match='pipe in src is neither'):
        build_manifest(str(project))
    manifest, dummy, excluded = build_manifest(str(project), ['pipe'])
    assert excluded == ['pipe'] and 'pipe' not in manifest


@pytest.mark.parametrize('keep, message', [
    ('/etc/passwd', 'absolute path'),
    ('../db.sqlite3', "contains '..'"),
    ('media/../../x', "contains '..'"),
    ('.', 'project directory itself'),
    ('', 'project directory itself'),
    ('./', 'project directory itself'),
])
def test_keep_paths_refused(keep, message):
    with pytest.raises(ArchiveError, match=message):
        keep_paths_under('', [keep])


@pytest.mark.parametrize('subdir, keep, expected', [
    ('', ['db.sqlite3', './media/', '.env'], ['db.sqlite3', 'media', '.env']),
    ('src', ['db.sqlite3', 'var/uploads'], ['src/db.sqlite3', 'src/var/uploads']),
    ('src/', ['data'], ['src/data']),
])
def test_keep_paths_under_project_dir(subdir, keep, expected):
    assert keep_paths_under(subdir, keep) == expected


def test_keep_paths_relative_to_project_subdir(tmp_path):
    src = tmp_path / 'repo'
    make_project(src / 'app')
    (src / 'data.json').write_text('{}')   # beside the project dir: code, shipped
    (src / 'app' / 'data.json').write_text('{"rows": 1}')  # in it: kept on the host
    result = build_release(str(src), str(tmp_path / 'out'), project_subdir='app',
                           keep_paths=['data.json'], default_excludes=False)
    entries = read_manifest(result['manifest'])
    assert 'data.json' in entries and 'app/data.json' not in entries
    assert result['excluded_paths'] == ['app/data.json']


@pytest.mark.parametrize('subdir', ['../elsewhere', '/abs'])
def test_project_subdir_refused(project, subdir):
    with pytest.raises(ArchiveError, match='project_subdir'):
        build_release(str(project), str(project.parent / 'out'), project_subdir=subdir)


def test_missing_manage_py_message(tmp_path):
    src = tmp_path / 'notdjango'
    src.mkdir()
    (src / 'README').write_text('hi\n')
    with pytest.raises(ArchiveError) as info:
        build_release(str(src), str(tmp_path / 'out'))
    assert str(info.value).startswith('src %s has no manage.py; set deploy_source to the directory '
                                      'that holds manage.py' % src)
    assert not (tmp_path / 'out').exists()


def test_missing_manage_py_in_subdir_message(project):
    with pytest.raises(ArchiveError, match='has no manage.py in web; set deploy_source'):
        build_release(str(project), str(project.parent / 'out'), project_subdir='web')


def test_missing_src_message(tmp_path):
    with pytest.raises(ArchiveError, match='does not exist'):
        build_release(str(tmp_path / 'nope'), str(tmp_path / 'out'))


def test_manage_py_excluded_refused(project):
    with pytest.raises(ArchiveError, match='would have no manage.py'):
        build_release(str(project), str(project.parent / 'out'), exclude=['manage.*'])


def test_archive_extracts_to_exactly_the_manifest(project, tmp_path):
    (project / 'empty' / 'dir').mkdir(parents=True)
    (project / 'bin').mkdir()
    (project / 'bin' / 'run').write_text('#!/bin/sh\n')
    (project / 'bin' / 'run').chmod(0o700)
    (project / 'mysite' / 'settings.py').chmod(0o600)
    os.symlink('../mysite/settings.py', str(project / 'bin' / 'settings-link'))
    os.utime(str(project / 'mysite' / 'settings.py'), (1234567890.75, 1234567890.75))
    result = build_release(str(project), str(tmp_path / 'out'))
    entries = read_manifest(result['manifest'])
    assert result['files'] == sum(1 for e in entries.values() if e['type'] != 'dir')
    assert result['bytes'] == sum(e.get('size', 0) for e in entries.values())
    assert result['archive_bytes'] == os.path.getsize(result['archive']) > 0

    with tarfile.open(result['archive']) as tar:
        members = tar.getmembers()
        names = [member.name for member in members]
        assert names == sorted(entries)
        for member in members:
            entry = entries[member.name]
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, 'root', 'root')
            assert '%04o' % member.mode == entry['mode']
            kind = {tarfile.DIRTYPE: 'dir', tarfile.SYMTYPE: 'link', tarfile.REGTYPE: 'file'}
            assert kind[member.type] == entry['type']
            source = project / member.name
            assert member.mtime == int(os.lstat(str(source)).st_mtime)
        extract_all(tar, tmp_path / 'x')

    extracted = {}
    root = tmp_path / 'x'
    for path in root.rglob('*'):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            extracted[rel] = ('link', os.readlink(str(path)))
        elif path.is_dir():
            extracted[rel] = ('dir', '%04o' % (path.stat().st_mode & 0o7777))
        else:
            extracted[rel] = ('file', '%04o' % (path.stat().st_mode & 0o7777),
                              hashlib.sha256(path.read_bytes()).hexdigest())
    expected = {}
    for rel, entry in entries.items():
        if entry['type'] == 'link':
            expected[rel] = ('link', entry['target'])
        elif entry['type'] == 'dir':
            expected[rel] = ('dir', entry['mode'])
        else:
            expected[rel] = ('file', entry['mode'], entry['sha256'])
    assert extracted == expected
    assert expected['empty/dir'] == ('dir', '0755')
    assert expected['bin/run'][1] == '0755'
    assert expected['mysite/settings.py'][1] == '0644'
    assert int((root / 'mysite' / 'settings.py').stat().st_mtime) == 1234567890


def test_archive_bytes_reproducible(project, tmp_path):
    manifest, mtimes, dummy = build_manifest(str(project))
    write_archive(str(project), manifest, mtimes, str(tmp_path / 'a.tar.gz'))
    write_archive(str(project), manifest, mtimes, str(tmp_path / 'b.tar.gz'))
    data = (tmp_path / 'a.tar.gz').read_bytes()
    assert data == (tmp_path / 'b.tar.gz').read_bytes()
    assert data[:3] == b'\x1f\x8b\x08'
    assert data[3] & 0x08 == 0  # FNAME flag: no (temp) file name in the gzip header
    assert data[4:8] == b'\x00\x00\x00\x00'  # MTIME: none, so the bytes depend on the content only
    assert sorted(os.listdir(str(tmp_path))) == ['a.tar.gz', 'b.tar.gz', 'src']


@pytest.mark.parametrize('change', ['rewrite', 'grow', 'shrink'])
def test_file_changed_while_archiving_refused(project, tmp_path, change):
    manifest, mtimes, dummy = build_manifest(str(project))
    target = project / 'manage.py'
    data = target.read_bytes()
    if change == 'rewrite':
        target.write_bytes(data[:-1] + (b'X' if data[-1:] != b'X' else b'Y'))
    elif change == 'grow':
        target.write_bytes(data + b'# more\n')
    else:
        target.write_bytes(data[:-1])
    out = tmp_path / 'out'
    out.mkdir()
    with pytest.raises(ArchiveError, match='manage.py changed while it was archived'):
        write_archive(str(project), manifest, mtimes, str(out / 'r.tar.gz'))
    assert os.listdir(str(out)) == []  # no archive, no temp file left


def test_second_run_changes_nothing(project, tmp_path):
    out = tmp_path / 'out'
    first = build_release(str(project), str(out))
    assert first['changed'] is True
    stamp = os.stat(first['archive']).st_mtime_ns
    second = build_release(str(project), str(out))
    assert second['changed'] is False
    assert second['release_id'] == first['release_id']
    assert os.stat(first['archive']).st_mtime_ns == stamp
    assert sorted(os.listdir(str(out))) == sorted([first['release_id'] + '.tar.gz',
                                                   first['release_id'] + '.manifest.json'])


def test_missing_manifest_is_rewritten(project, tmp_path):
    out = tmp_path / 'out'
    first = build_release(str(project), str(out))
    os.unlink(first['manifest'])
    again = build_release(str(project), str(out))
    assert again['changed'] is True
    document = json.loads(pathlib.Path(first['manifest']).read_text())
    assert document['release_id'] == first['release_id']
    assert release_id(document['entries']) == first['release_id']


def test_check_mode_writes_nothing(project, tmp_path):
    out = tmp_path / 'deep' / 'out'
    result = build_release(str(project), str(out), check_mode=True)
    assert result['changed'] is True
    assert result['archive_bytes'] == 0
    assert not (tmp_path / 'deep').exists()
    real = build_release(str(project), str(out))
    assert real['release_id'] == result['release_id']
    assert build_release(str(project), str(out), check_mode=True)['changed'] is False


def test_dest_inside_src_left_out(project):
    out = project / '.releases'
    first = build_release(str(project), str(out))
    second = build_release(str(project), str(out))
    assert second['release_id'] == first['release_id']
    assert second['changed'] is False
    assert '.releases' in second['excluded_paths']


def test_dest_equal_src_refused(project):
    with pytest.raises(ArchiveError, match='is src itself'):
        build_release(str(project), str(project))


def test_release_id_depends_on_every_field():
    base = {'a.py': {'type': 'file', 'mode': '0644', 'size': 1, 'sha256': '0' * 64},
            'l': {'type': 'link', 'mode': '0777', 'target': 'a.py'}}
    variants = [
        {'b.py': base['a.py'], 'l': base['l']},
        {'a.py': dict(base['a.py'], mode='0755'), 'l': base['l']},
        {'a.py': dict(base['a.py'], sha256='1' * 64), 'l': base['l']},
        {'a.py': base['a.py'], 'l': dict(base['l'], target='b.py')},
        {'a.py': base['a.py']},
    ]
    ids = set([release_id(base)] + [release_id(variant) for variant in variants])
    assert len(ids) == len(variants) + 1
    assert release_id(dict(reversed(list(base.items())))) == release_id(base)


FILE_A = {'type': 'file', 'mode': '0644', 'size': 1, 'sha256': 'a' * 64}
FILE_B = {'type': 'file', 'mode': '0644', 'size': 1, 'sha256': 'b' * 64}
DIR = {'type': 'dir', 'mode': '0755'}


@pytest.mark.parametrize('old, new, expected', [
    ({}, {}, {'added': [], 'removed': [], 'changed': []}),
    (None, {'x': FILE_A}, {'added': ['x'], 'removed': [], 'changed': []}),
    ({'x': FILE_A}, {}, {'added': [], 'removed': ['x'], 'changed': []}),
    ({'x': FILE_A}, {'x': FILE_A}, {'added': [], 'removed': [], 'changed': []}),
    ({'x': FILE_A}, {'x': FILE_B}, {'added': [], 'removed': [], 'changed': ['x']}),
    ({'x': FILE_A}, {'x': dict(FILE_A, mode='0755')}, {'added': [], 'removed': [], 'changed': ['x']}),
    ({'x': FILE_A}, {'x': DIR}, {'added': [], 'removed': [], 'changed': ['x']}),
    ({'b': FILE_A, 'a': FILE_A, 'z': DIR, 'm': FILE_A},
     {'m': FILE_B, 'y': FILE_A, 'c': FILE_A, 'z': DIR, 'k': FILE_B, 'j': FILE_A},
     {'added': ['c', 'j', 'k', 'y'], 'removed': ['a', 'b'], 'changed': ['m']}),
])
def test_diff_manifests(old, new, expected):
    assert diff_manifests(old, new) == expected


def test_diff_of_two_real_releases(tmp_path):
    one = make_project(tmp_path / 'one')
    two = make_project(tmp_path / 'two')
    (two / 'mysite' / 'settings.py').write_text('CHANGED = True\n')
    (two / 'mysite' / 'new.py').write_text('')
    (two / 'manage.py').chmod(0o644)
    first, dummy, dummy = build_manifest(str(one))
    second, dummy, dummy = build_manifest(str(two))
    assert diff_manifests(first, second) == {
        'added': ['mysite/new.py'], 'removed': [], 'changed': ['manage.py', 'mysite/settings.py']}


def test_excluded_paths_capped(project):
    for index in range(_archive.EXCLUDED_PATHS_CAP + 7):
        (project / ('junk%03d.swp' % index)).write_text('')
    result = build_release(str(project), str(project.parent / 'out'), check_mode=True)
    assert result['excluded'] == _archive.EXCLUDED_PATHS_CAP + 7
    assert len(result['excluded_paths']) == _archive.EXCLUDED_PATHS_CAP
    assert result['excluded_paths'][0] == 'junk000.swp'
