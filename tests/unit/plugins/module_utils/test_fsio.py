# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_fsio: state files on disk whole or not at all; trees flushed before they go live.

A power loss cannot be performed in a unit test. What makes a file survive
one is the order of the calls (the data flushed with fsync before the rename
that makes it live, the directory flushed after it); those tests record the
calls and check the order. Full disks are real: a small tmpfs, filled up.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import subprocess
import tarfile

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _archive, _fsio, _state


@contextlib.contextmanager
def small_tmpfs(path, size='1m'):
    """A tmpfs of SIZE mounted on PATH for the block (skips the test when mounting is refused)."""
    os.makedirs(path, exist_ok=True)
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'tmpfs', path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        pytest.skip('cannot mount a tmpfs here (%s): the full-disk test needs root' % proc.stderr.decode().strip())
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', path], check=False)


def fill_up(directory):
    """Write into DIRECTORY until its filesystem is full (a real ENOSPC); returns the filler's path."""
    filler = os.path.join(directory, 'filler')
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b'\0' * size):
                    pass
        with pytest.raises(OSError) as caught:
            os.write(fd, b'\0')
        assert caught.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def entries(directory):
    return sorted(os.listdir(directory))


@pytest.fixture
def calls(monkeypatch):
    """Record fchmod, fsync (of a file or of a directory), rename and what the target holds at each."""
    log = []
    real = dict((name, getattr(os, name)) for name in ('fchmod', 'fsync', 'rename'))

    def fchmod(fd, mode):
        log.append(('fchmod', oct(mode)))
        return real['fchmod'](fd, mode)

    def fsync(fd):
        kind = 'dir' if stat.S_ISDIR(os.fstat(fd).st_mode) else 'file'
        log.append(('fsync', kind))
        return real['fsync'](fd)

    def rename(*args, **kwargs):
        log.append(('rename',))
        return real['rename'](*args, **kwargs)

    for name, func in (('fchmod', fchmod), ('fsync', fsync), ('rename', rename)):
        monkeypatch.setattr(os, name, func)
    return log


def test_atomic_write_flushes_the_file_before_the_rename_and_the_directory_after(tmp_path, calls):
    """The mechanism of power-loss safety (a power loss cannot be performed here).

    fsync(file) must come before the rename that makes the new content live (else
    the name can point at an empty file after a crash), fsync(directory) after it
    (else the rename itself can be lost); the mode is set through the descriptor.
    """
    target = tmp_path / 'state.json'
    target.write_text('old\n')
    _fsio.atomic_write(str(target), 'new\n', mode=0o640)
    assert calls == [('fchmod', '0o640'), ('fsync', 'file'), ('rename',), ('fsync', 'dir')]
    assert target.read_text() == 'new\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert entries(tmp_path) == ['state.json']


def _write_state(directory):
    _state.write_state(directory, {'current': {'release': 'v2'}})
    return os.path.join(directory, _state.MARKER)


def _write_release(directory):
    _state.write_release(directory, 'v2')
    return os.path.join(directory, _state.RELEASE_FILE)


def _write_manifest(directory):
    path = os.path.join(directory, 'manifest.json')
    _archive.write_manifest({}, 'v2', path)
    return path


@pytest.mark.parametrize('writer', [_write_state, _write_release, _write_manifest])
def test_every_state_file_is_flushed_before_its_rename_and_its_directory_after(tmp_path, calls, writer):
    """The mechanism of power-loss safety for each writer of a state file (no power loss here).

    Before _fsio, write_state flushed the file but never its directory and
    write_release flushed nothing: both fail this test on that code.
    """
    path = writer(str(tmp_path))
    ops = [call[0] + (' ' + call[1] if call[0] == 'fsync' else '') for call in calls]
    assert ops == ['fchmod', 'fsync file', 'rename', 'fsync dir']
    assert os.path.exists(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert entries(tmp_path) == [os.path.basename(path)]


@pytest.mark.parametrize('umask', [0o077, 0o000])
def test_the_mode_does_not_depend_on_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        _fsio.atomic_write(str(tmp_path / 'a'), b'x')
        _fsio.atomic_write(str(tmp_path / 'b'), b'x', mode=0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / 'a').stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / 'b').stat().st_mode) == 0o600


def test_with_dir_fd_the_path_is_a_name_in_that_directory(tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        _fsio.atomic_write('state', 'x', dir_fd=fd)
        with pytest.raises(ValueError, match='must be a name'):
            _fsio.atomic_write('sub/state', 'x', dir_fd=fd)
    finally:
        os.close(fd)
    assert (tmp_path / 'state').read_text() == 'x'
    assert entries(tmp_path) == ['state']


@pytest.mark.parametrize('failing', ['write', 'fsync', 'rename'])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch, failing):
    target = tmp_path / 'state.json'
    target.write_text('old\n')

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    if failing == 'write':
        def data():
            with _fsio.atomic_file(str(target)) as handle:
                handle.write(b'half')
                fail()
    else:
        monkeypatch.setattr(os, failing, fail)

        def data():
            _fsio.atomic_write(str(target), 'new\n')
    with pytest.raises(OSError, match='Input/output error'):
        data()
    monkeypatch.undo()
    assert target.read_text() == 'old\n'
    assert entries(tmp_path) == ['state.json']


def test_a_full_disk_keeps_the_old_state_and_leaves_no_temporary_file(tmp_path):
    """A real ENOSPC on a 1 MiB tmpfs. The old write_state left its .tmp file behind (fails before)."""
    with small_tmpfs(str(tmp_path / 'disk')) as disk:
        _state.write_state(disk, {'current': {'release': 'v1'}})
        filler = fill_up(disk)
        with pytest.raises(OSError) as caught:
            _state.write_state(disk, {'current': {'release': 'v2'}})
        assert caught.value.errno == errno.ENOSPC
        assert json.load(open(os.path.join(disk, _state.MARKER))) == {'current': {'release': 'v1'}}
        assert entries(disk) == sorted([_state.MARKER, os.path.basename(filler)])


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path):
    """The old write_state wrote through <marker>.tmp, a fixed name: a link planted there was followed."""
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    os.symlink(str(victim), str(tmp_path / (_state.MARKER + '.tmp')))
    _state.write_state(str(tmp_path), {'current': {'release': 'v2'}})
    assert victim.read_text() == 'precious\n'
    assert json.load(open(str(tmp_path / _state.MARKER))) == {'current': {'release': 'v2'}}


def test_a_planted_temporary_name_is_neither_followed_nor_reused(tmp_path, monkeypatch):
    """O_EXCL|O_NOFOLLOW: were the random name guessed and planted as a link, the write fails, nothing else."""
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    os.symlink(str(victim), str(tmp_path / '.state.guessed.tmp'))
    monkeypatch.setattr(_fsio, 'temp_name', lambda name: '.state.guessed.tmp')
    with pytest.raises(FileExistsError):
        _fsio.atomic_write(str(tmp_path / 'state'), 'x')
    assert victim.read_text() == 'precious\n'
    assert not (tmp_path / 'state').exists()


def test_flush_filesystems_syncs_each_filesystem_once(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    synced = []
    with small_tmpfs(str(tmp_path / 'disk')) as disk:
        seconds = _fsio.flush_filesystems([str(tmp_path / 'a'), disk, str(tmp_path / 'b')],
                                          syncfs=lambda fd: synced.append(os.fstat(fd).st_dev))
        assert synced == [os.stat(str(tmp_path)).st_dev, os.stat(disk).st_dev]
    assert isinstance(seconds, float) and seconds >= 0


def test_flush_filesystems_falls_back_to_sync_without_syncfs(tmp_path):
    synced = []

    def no_syncfs(fd):
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    _fsio.flush_filesystems([str(tmp_path)], syncfs=no_syncfs, sync=lambda: synced.append('sync'))
    assert synced == ['sync']


def test_flush_filesystems_names_the_path_it_could_not_flush(tmp_path):
    def broken(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.raises(OSError) as caught:
        _fsio.flush_filesystems([str(tmp_path)], syncfs=broken)
    assert caught.value.filename == str(tmp_path) and caught.value.errno == errno.EIO


def test_flush_filesystems_really_calls_syncfs(tmp_path):
    """The real libc syncfs on this host (or sync where it has none): no error, a duration."""
    assert _fsio.flush_filesystems([str(tmp_path)]) >= 0


def test_remove_tree_never_follows_a_link_nor_opens_a_fifo(tmp_path, monkeypatch):
    """The app user's tree: a link to a victim, a FIFO, and a directory swapped for a FIFO between
    the look and the open (made deterministic: the swap happens inside the look). shutil.rmtree
    blocks for ever on the last one; remove_tree unlinks it."""
    from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio
    victim = tmp_path / 'victim'
    victim.mkdir()
    (victim / 'keep').write_text('root data\n')
    work = tmp_path / 'work'
    (work / 'sub' / 'deeper').mkdir(parents=True)
    (work / 'sub' / 'deeper' / 'f').write_text('x')
    (work / 'link').symlink_to(victim)
    os.mkfifo(str(work / 'fifo'))
    (work / 'swapped').mkdir()
    real_stat = os.stat

    def look_then_swap(name, *args, **kwargs):
        info = real_stat(name, *args, **kwargs)
        if name == 'swapped' and os.path.isdir(str(work / 'swapped')):
            os.rmdir(str(work / 'swapped'))
            os.mkfifo(str(work / 'swapped'))
        return info

    monkeypatch.setattr(_fsio.os, 'stat', look_then_swap)
    import threading
    done = threading.Event()
    worker = threading.Thread(target=lambda: (_fsio.remove_tree(str(work)), done.set()), daemon=True)
    worker.start()
    assert done.wait(10), 'remove_tree blocked (on the FIFO)'
    assert not work.exists()
    assert (victim / 'keep').read_text() == 'root data\n'


def test_the_release_archive_is_streamed_flushed_before_its_rename_and_its_directory_after(tmp_path, calls):
    """write_archive streams the tar.gz through atomic_file: the same flushes, in the same order, as a state file."""
    source = tmp_path / 'src'
    source.mkdir()
    (source / 'manage.py').write_text('print(1)\n')
    (tmp_path / 'out').mkdir()
    manifest, mtimes, dummy = _archive.build_manifest(str(source))
    _archive.write_archive(str(source), manifest, mtimes, str(tmp_path / 'out' / 'r.tar.gz'))
    assert calls == [('fchmod', '0o644'), ('fsync', 'file'), ('rename',), ('fsync', 'dir')]
    assert entries(tmp_path / 'out') == ['r.tar.gz']
    with tarfile.open(str(tmp_path / 'out' / 'r.tar.gz')) as tar:
        assert tar.getnames() == ['manage.py']


def test_atomic_symlink_replaces_the_link_in_one_rename_then_flushes_the_directory(tmp_path, calls):
    link = tmp_path / 'venv'
    os.symlink('venvs/a', str(link))
    _fsio.atomic_symlink('venvs/b', str(link))
    assert calls == [('rename',), ('fsync', 'dir')]
    assert os.readlink(str(link)) == 'venvs/b'
    assert entries(tmp_path) == ['venv']


def test_atomic_symlink_makes_a_missing_link(tmp_path):
    _fsio.atomic_symlink('venvs/a', str(tmp_path / 'venv'))
    assert os.readlink(str(tmp_path / 'venv')) == 'venvs/a'
    assert entries(tmp_path) == ['venv']


def test_a_failed_atomic_symlink_keeps_the_old_link_and_leaves_no_new_one(tmp_path, monkeypatch):
    link = tmp_path / 'venv'
    os.symlink('venvs/a', str(link))

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, 'rename', fail)
    with pytest.raises(OSError, match='Input/output error'):
        _fsio.atomic_symlink('venvs/b', str(link))
    monkeypatch.undo()
    assert os.readlink(str(link)) == 'venvs/a'
    assert entries(tmp_path) == ['venv']


def test_atomic_symlink_neither_follows_nor_removes_what_is_planted_beside(tmp_path):
    """The old point_symlink made its new link at the fixed name <link>.new, removing whatever was there."""
    (tmp_path / 'venv.new').write_text('someone else\'s\n')
    _fsio.atomic_symlink('venvs/b', str(tmp_path / 'venv'))
    assert (tmp_path / 'venv.new').read_text() == 'someone else\'s\n'
    assert os.readlink(str(tmp_path / 'venv')) == 'venvs/b'


@pytest.mark.parametrize('flush', ['flush_file', 'flush_parent'])
def test_flush_file_and_flush_parent_flush_what_they_say(tmp_path, calls, flush):
    (tmp_path / 'app.env').write_text('A=1\n')
    getattr(_fsio, flush)(str(tmp_path / 'app.env'))
    assert calls == [('fsync', 'file' if flush == 'flush_file' else 'dir')]


def test_flush_file_does_not_follow_a_link(tmp_path):
    (tmp_path / 'target').write_text('x')
    os.symlink(str(tmp_path / 'target'), str(tmp_path / 'link'))
    with pytest.raises(OSError) as caught:
        _fsio.flush_file(str(tmp_path / 'link'))
    assert caught.value.errno == errno.ELOOP
