# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration files put in place with the release and back with the old one, on real files."""

from __future__ import annotations

import os

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _config


def entry(tmp_path, name, old, new, systemd=False):
    dest = tmp_path / name
    if old is not None:
        dest.write_text(old)
    if new is not None:
        (tmp_path / (name + _config.NEXT)).write_text(new)
    return dict(dest=str(dest), src=str(dest) + _config.NEXT, systemd=systemd)


def test_only_what_differs_is_changed_and_a_missing_rendering_is_refused(tmp_path):
    same = entry(tmp_path, 'a.env', 'X=1\n', 'X=1\n')
    other = entry(tmp_path, 'b.env', 'X=1\n', 'X=2\n')
    new = entry(tmp_path, 'c.service', None, '[Unit]\n', systemd=True)
    assert _config.changed_entries([same, other, new]) == [other, new]
    missing = entry(tmp_path, 'd.env', 'X=1\n', None)
    with pytest.raises(_config.ConfigError, match='is missing'):
        _config.changed_entries([missing])
    assert _config.changed_entries([missing], check_mode=True) == [missing]


def test_put_in_place_then_undo_gives_back_every_old_file(tmp_path):
    env = entry(tmp_path, 'app.env', 'OLD=1\n', 'NEW=1\n')
    unit = entry(tmp_path, 'app.service', None, '[Unit]\n', systemd=True)
    done = _config.put_in_place([env, unit])
    assert (tmp_path / 'app.env').read_text() == 'NEW=1\n' and (tmp_path / 'app.service').exists()
    assert (tmp_path / ('app.env' + _config.PREVIOUS)).read_text() == 'OLD=1\n'
    assert _config.undo(done) == [unit['dest'], env['dest']]
    assert (tmp_path / 'app.env').read_text() == 'OLD=1\n'
    assert not (tmp_path / 'app.service').exists()
    assert sorted(os.listdir(tmp_path)) == ['app.env']


def test_commit_removes_what_was_kept_aside(tmp_path):
    env = entry(tmp_path, 'app.env', 'OLD=1\n', 'NEW=1\n')
    _config.commit(_config.put_in_place([env]))
    assert sorted(os.listdir(tmp_path)) == ['app.env']


def test_a_failure_half_way_says_what_is_in_place(tmp_path, monkeypatch):
    first = entry(tmp_path, 'a.env', 'OLD=1\n', 'NEW=1\n')
    second = entry(tmp_path, 'b.env', 'OLD=2\n', 'NEW=2\n')
    real = os.rename

    def rename(src, dst):
        if src == second['src']:
            raise OSError(28, 'No space left on device')
        return real(src, dst)

    monkeypatch.setattr(os, 'rename', rename)
    with pytest.raises(_config.ConfigError) as caught:
        _config.put_in_place([first, second])
    assert 'No space left on device' in str(caught.value) and second['dest'] in str(caught.value)
    # its own part undone: b.env is the old one, not missing
    assert (tmp_path / 'b.env').read_text() == 'OLD=2\n'
    monkeypatch.setattr(os, 'rename', real)
    assert _config.undo(caught.value.done) == [first['dest']]
    assert (tmp_path / 'a.env').read_text() == 'OLD=1\n'


def test_the_new_file_is_on_disk_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    """Power loss cannot be made here: the flushes are checked by their order instead."""
    env = entry(tmp_path, 'app.env', 'OLD=1\n', 'NEW=1\n')
    calls = []
    real_fsync, real_rename, real_open = os.fsync, os.rename, os.open
    opened = {}

    def open_(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        opened[fd] = os.path.basename(path) if not os.path.isdir(path) else 'dir'
        return fd

    monkeypatch.setattr(os, 'open', open_)
    monkeypatch.setattr(os, 'fsync', lambda fd: (calls.append(('fsync', opened.get(fd))), real_fsync(fd)))
    monkeypatch.setattr(os, 'rename', lambda a, b: (calls.append(('rename', os.path.basename(a),
                                                                  os.path.basename(b))), real_rename(a, b)))
    _config.put_in_place([env])
    assert calls == [('fsync', 'app.env' + _config.NEXT), ('rename', 'app.env' + _config.NEXT, 'app.env'),
                     ('fsync', 'dir')]


def test_a_run_killed_between_keeping_the_old_file_and_putting_the_new_one_loses_nothing(tmp_path, monkeypatch):
    """Killed right after the old file was kept aside: the live name still holds the old file, and
    the next run (remove_stale_asides, then put_in_place) keeps a copy to roll back to."""
    env = entry(tmp_path, 'app.env', 'OLD=1\n', 'NEW=1\n')

    def killed(src, dst):
        raise SystemExit('killed')

    monkeypatch.setattr(os, 'rename', killed)
    with pytest.raises(SystemExit):
        _config.put_in_place([env])
    monkeypatch.undo()
    assert (tmp_path / 'app.env').read_text() == 'OLD=1\n'
    _config.remove_stale_asides([env])
    done = _config.put_in_place([env])
    assert (tmp_path / 'app.env').read_text() == 'NEW=1\n'
    _config.undo(done)
    assert (tmp_path / 'app.env').read_text() == 'OLD=1\n'


def test_an_aside_without_its_file_is_put_back_not_removed(tmp_path):
    (tmp_path / ('app.env' + _config.PREVIOUS)).write_text('OLD=1\n')
    _config.remove_stale_asides([dict(dest=str(tmp_path / 'app.env'), src='unused')])
    assert (tmp_path / 'app.env').read_text() == 'OLD=1\n'
