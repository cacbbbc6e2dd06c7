# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Python bytecode under a tree is stale, and its removal.

Private to simpledeploy.django; used by the pyc_cleanup module.  Three layers:

* classify() - pure: one directory listing (names) in, the names to remove out;
* plan_cleanup() - one os.scandir pass over the tree, returns a Plan (the files
  and directories to remove and the bytes they hold), removes nothing;
* execute() - carries a Plan out, tolerating files that vanished meanwhile.

cleanup() ties them together for the module.  Runs on Python 3.9+, stdlib only.

Nothing below the root is reached by path: the root is opened once, each
directory is opened relative to its parent's descriptor with O_NOFOLLOW (and,
for the removal, checked to be the very directory walked), each file and
directory is removed by its name relative to its directory's descriptor.  So
a user who can write a directory of the tree and swaps one of its
subdirectories for a link, at any moment, cannot lead the walk or the removal
out of the tree: the swapped directory is skipped and reported instead.
"""

import errno
import fnmatch
import os
import re
import threading

MODES = ('stale', 'all')
PYCACHE = '__pycache__'
BYTECODE_SUFFIXES = ('.pyc', '.pyo')
SOURCE_SUFFIXES = ('.py', '.pyw')

# Kinds of directory met by the walk.
_ORDINARY = 0   # any directory: only bytecode in it can go
_CACHE = 1      # a __pycache__ directory in mode stale
_PURGE = 2      # a __pycache__ directory (or a directory inside one) in mode all


class BytecodeError(Exception):
    """A failure that names the path it happened on.

    partial holds the figures of what was already removed, if anything was.
    """

    def __init__(self, msg, path=None, partial=None):
        super(BytecodeError, self).__init__(msg)
        self.msg = msg
        self.path = path
        self.partial = partial or {}


def _has_source(stem, sources):
    for suffix in SOURCE_SUFFIXES:
        if stem + suffix in sources:
            return True
    return False


def _cached_has_source(name, sources):
    """True when a __pycache__ file name belongs to a source present in sources.

    The name is NAME.TAG[.opt-N].pyc; TAG may hold dots itself
    (pytest writes NAME.cpython-312-pytest-8.3.2.pyc) and NAME may too, so every
    prefix ending before a dot is tried.  Erring towards keeping is harmless:
    Python never imports a __pycache__ file whose source is missing.
    """
    base = name[:-4]
    if _has_source(base, sources):
        return True
    i = base.find('.', 1)
    while i != -1:
        if _has_source(base[:i], sources):
            return True
        i = base.find('.', i + 1)
    return False


def classify(files, mode='stale', sources=None, pycache=False):
    """Return the sorted names among files that are bytecode to remove.

    files: names of the regular files of one directory listing.
    mode: 'stale' keeps bytecode whose source is present; 'all' takes every
      NAME.pyc and NAME.pyo.
    sources: the names that count as sources present: for an ordinary
      directory its whole listing (default: files), for a __pycache__ listing
      the whole listing of its parent directory.
    pycache: files is the listing of a __pycache__ directory
      (NAME.TAG.pyc, NAME.TAG.opt-N.pyc) rather than of an ordinary directory,
      where a legacy NAME.pyc or NAME.pyo is imported by Python 3 when NAME.py
      is missing.
    """
    if mode not in MODES:
        raise ValueError('mode must be one of %s, not %r' % (', '.join(MODES), mode))
    bytecode = [name for name in files if name.endswith(BYTECODE_SUFFIXES)]
    if mode == 'all' or not bytecode:
        return sorted(bytecode)
    if sources is None:
        sources = files
    if not isinstance(sources, (set, frozenset, dict)):
        sources = frozenset(sources)
    if pycache:
        return sorted(name for name in bytecode if not _cached_has_source(name, sources))
    return sorted(name for name in bytecode if not _has_source(name[:-4], sources))


class CleanupExcludes(object):
    """pyc_cleanup's exclude entries: paths under the root, every one anchored at it.

    Not release_archive's (_archive.ArchiveExcludes also matches a bare name
    at any depth): here 'venv' is ROOT/venv only, never ROOT/app/venv.

    An entry is a path relative to the root, or an absolute path under it
    (through the root's real path too, when the root is a link such as
    current -> releases/3); it is normalised (os.path.normpath: './venv/' is
    'venv'). Absolute entries outside the root are kept in ``outside`` and
    match nothing; an entry naming the root itself or a path above it is a
    BytecodeError. An entry without '*', '?' or '[' matches that one relative
    path exactly; one with them is a case-sensitive fnmatch pattern matched
    against the whole relative path, '*' matching '/' too ('*/node_modules'
    matches a/node_modules and a/b/node_modules, not node_modules).

    Called with the path relative to the root of each directory the walk meets
    (a match is not entered) and of each file it would remove (a match stays).
    """

    def __init__(self, root, entries=()):
        self.exact = set()
        self.outside = []
        patterns = []
        real_root = None
        for entry in entries or ():
            if not entry or not entry.strip():
                continue
            rel = entry
            if os.path.isabs(entry):
                rel = os.path.relpath(os.path.normpath(entry), root)
                if rel == '..' or rel.startswith('../'):
                    real_root = real_root or os.path.realpath(root)
                    rel = os.path.relpath(os.path.realpath(entry), real_root)
                if rel == '..' or rel.startswith('../'):
                    self.outside.append(entry)
                    continue
            rel = os.path.normpath(rel)
            if rel == '.' or rel.startswith('../') or rel == '..':
                raise BytecodeError('exclude entry %r does not name a path inside %s' % (entry, root), path=entry)
            if any(char in rel for char in '*?['):
                patterns.append(fnmatch.translate(rel))
            else:
                self.exact.add(rel)
        self.regex = re.compile('|'.join(patterns)) if patterns else None
        self.active = bool(self.exact or self.regex)

    def __call__(self, rel):
        if rel in self.exact:
            return True
        return self.regex is not None and self.regex.match(rel) is not None


class Plan(object):
    """What a cleanup removes.

    files: (path, size) of each file, dirs: paths, children first, bytes:
    the files' apparent size, skipped_dirs: the directories (relative to
    root) found replaced while the cleanup ran - by a link, a file or
    another directory - and so neither entered nor removed from.

    The directories walked, by index in the walk's order (0 is the root):
    paths, names (the last component), parents (-1 for the root) and idents
    ((st_dev, st_ino) as walked, for the root and the directories files are
    removed from; None for the others).  file_dirs holds the index of each file's
    directory, dir_indexes that of each entry of dirs.
    """

    __slots__ = ('root', 'mode', 'files', 'dirs', 'bytes', 'excluded_outside', 'skipped_dirs',
                 'paths', 'names', 'parents', 'idents', 'file_dirs', 'dir_indexes')

    def __init__(self, root, mode):
        self.root = root
        self.mode = mode
        self.excluded_outside = []
        self.files = []
        self.dirs = []
        self.bytes = 0
        self.skipped_dirs = []
        self.paths = []
        self.names = []
        self.parents = []
        self.idents = []
        self.file_dirs = []
        self.dir_indexes = []

    def relative_paths(self, skip=()):
        """Every path the plan removes, relative to root; directories end with '/'."""
        cut = len(_prefix(self.root))
        paths = [path[cut:] for path, dummy in self.files if path not in skip]
        paths.extend(path[cut:] + '/' for path in self.dirs if path not in skip)
        return paths


def _prefix(path):
    return path if path.endswith('/') else path + '/'


def _oserror(action, path, exc):
    reason = exc.strerror or str(exc)
    return BytecodeError('cannot %s %s: %s' % (action, path, reason), path=path)


# Every directory below the root is opened relative to its parent's
# descriptor with O_NOFOLLOW: a directory that someone who can write its
# parent swapped for a link fails to open (ELOOP; ENOTDIR for a file)
# instead of leading the walk or the removal somewhere else.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)
_NOT_A_DIRECTORY = (errno.ELOOP, errno.ENOTDIR)


def _open_root(path):
    """A descriptor of the directory path names, opened once.

    Links in path itself are resolved here, once (path is the operator's,
    and a current -> releases/3 link is usual); the directory they lead to is
    opened without following a link, and everything below it is reached
    from this descriptor only.
    """
    try:
        return os.open(os.path.realpath(path), _DIR_FLAGS)
    except FileNotFoundError:
        raise BytecodeError('path %s does not exist' % path, path=path)
    except OSError as exc:
        if exc.errno in _NOT_A_DIRECTORY:
            raise BytecodeError('path %s is not a directory (or was replaced while it was opened)' % path, path=path)
        raise _oserror('open directory', path, exc)


def plan_cleanup(root, mode='stale', exclude=(), root_fd=None):
    """Walk root once with os.scandir and return the Plan; remove nothing.

    Every directory below root is opened relative to its parent's
    descriptor, never following a link (root itself may be one: root_fd,
    when given, is its descriptor from _open_root).  A directory replaced by
    a link or a file between its listing and its opening is not entered and
    is listed in plan.skipped_dirs.  Symbolic links are never removed
    outside mode all's __pycache__ directories.  Excluded directories are
    not entered.  A directory goes when everything it held goes; the root
    and directories that were empty before never go, except __pycache__
    directories in mode all.
    """
    if mode not in MODES:
        raise ValueError('mode must be one of %s, not %r' % (', '.join(MODES), mode))
    root = os.path.abspath(root)
    if root_fd is None:
        root_fd = _open_root(root)
        try:
            return plan_cleanup(root, mode, exclude, root_fd)
        finally:
            os.close(root_fd)
    excluded = CleanupExcludes(root, exclude)
    plan = Plan(root, mode)
    plan.excluded_outside = excluded.outside
    walk = _Walk(plan, root_fd, excluded)
    walk.run()
    walk.list_emptied_dirs()
    return plan


def _split_listing(entries, kind):
    """Sort one directory listing into the files that may go (name -> entry) and the subdirectories."""
    files = {}
    subdirs = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            subdirs.append(entry)
        elif kind == _PURGE or (entry.name.endswith(BYTECODE_SUFFIXES)
                                and entry.is_file(follow_symlinks=False)):
            files[entry.name] = entry
    return files, subdirs


class _Walk(object):
    """plan_cleanup's one pass over the tree, filling a Plan.

    stack holds the directories still to enter, (name, path relative to the
    root, parent's index, kind, the parent's listing for a _CACHE directory);
    held maps a directory's index to [its descriptor, its children still on
    the stack]: the descriptor is closed once its last child is opened.
    Per directory entered, in pre-order (a parent before its children):
    totals (entries listed), remaining (entries that stay) and forced (goes
    even if it was empty).
    """

    def __init__(self, plan, root_fd, excluded):
        self.plan = plan
        self.root_fd = root_fd
        self.excluded = excluded
        self.purge = plan.mode == 'all'
        self.totals = []
        self.remaining = []
        self.forced = []
        self.held = {}
        self.stack = [('', '', -1, _ORDINARY, None)]

    def run(self):
        """Enter every directory of the tree, depth first; close every descriptor held, even on failure."""
        root = self.plan.root
        try:
            while self.stack:
                name, rel, parent, kind, parent_names = self.stack.pop()
                path = _prefix(root) + rel if rel else root
                if parent < 0:
                    fd = self.root_fd
                else:
                    fd = self._open_child(name, rel, parent, path)
                    if fd is None:
                        continue
                self._visit(fd, name, rel, parent, kind, parent_names, path)
        finally:
            for holder in self.held.values():
                if holder[0] != self.root_fd:
                    os.close(holder[0])

    def _open_child(self, name, rel, parent, path):
        """Open a listed directory relative to its parent's descriptor, never following a link.

        None when it vanished meanwhile or was replaced by a link or a file
        since it was listed (then it is listed in plan.skipped_dirs): not
        entered, and its parent, still counting it, stays.
        """
        holder = self.held[parent]
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=holder[0])
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno not in _NOT_A_DIRECTORY:
                raise _oserror('read directory', path, exc)
            self.plan.skipped_dirs.append(rel)
            return None
        finally:
            holder[1] -= 1
            if holder[1] == 0:
                del self.held[parent]
                if holder[0] != self.root_fd:
                    os.close(holder[0])

    def _visit(self, fd, name, rel, parent, kind, parent_names, path):
        """List one opened directory, plan what goes from it and push its subdirectories.

        Its descriptor is kept (in held) only while subdirectories wait to be
        opened from it, and closed otherwise, on failure too.
        """
        kept = False
        try:
            try:
                with os.scandir(fd) as listing:
                    entries = list(listing)
            except OSError as exc:
                raise _oserror('read directory', path, exc)
            index = self._record(fd, name, parent, path, len(entries), kind)
            files, subdirs = _split_listing(entries, kind)
            names = None
            if not self.purge and kind == _ORDINARY and (files or subdirs):
                # the sources beside: any entry (a symlinked foo.py counts)
                names = frozenset(entry.name for entry in entries)
            gone = 0
            if files:
                sources = parent_names if kind == _CACHE else names
                gone = self._plan_files(fd, index, rel, path, files, kind, sources)
            pushed = self._push_subdirs(subdirs, rel, index, kind, names)
            self.remaining.append(len(entries) - gone)
            if pushed:
                self.held[index] = [fd, pushed]
                kept = True
        finally:
            if not kept and fd != self.root_fd:
                os.close(fd)

    def _record(self, fd, name, parent, path, count, kind):
        """Add a directory entered to the plan's records (the root with its identity); return its index."""
        plan = self.plan
        index = len(plan.paths)
        plan.paths.append(path)
        plan.parents.append(parent)
        plan.names.append(name)
        plan.idents.append(None)
        if parent < 0:
            stat = os.fstat(fd)  # the root: execute() on its own checks it
            plan.idents[index] = (stat.st_dev, stat.st_ino)
        self.totals.append(count)
        self.forced.append(kind == _PURGE)
        return index

    def _plan_files(self, fd, index, rel, path, files, kind, sources):
        """Add to the plan the files of one directory that go (excluded ones stay); return how many go.

        When any goes, the directory's identity is noted: the removal checks
        it removes from this very directory.
        """
        plan = self.plan
        excluded = self.excluded
        check_files = excluded.active
        if kind == _PURGE:
            doomed = files
        else:
            doomed = classify(files, plan.mode, sources, kind == _CACHE)
        here = _prefix(path)
        gone = 0
        for name in doomed:
            entry = files[name]
            if check_files and excluded(rel + '/' + name if rel else name):
                continue
            gone += 1
            try:
                size = entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _oserror('stat', here + name, exc)
            plan.files.append((here + name, size))
            plan.file_dirs.append(index)
            plan.bytes += size
        if plan.file_dirs and plan.file_dirs[-1] == index and index:
            try:
                stat = os.fstat(fd)
            except OSError as exc:
                raise _oserror('read directory', path, exc)
            plan.idents[index] = (stat.st_dev, stat.st_ino)
        return gone

    def _push_subdirs(self, subdirs, rel, index, kind, names):
        """Push the subdirectories to enter (excluded ones are not), each with its kind; return how many."""
        excluded = self.excluded
        stack = self.stack
        pushed = 0
        for entry in subdirs:
            name = entry.name
            sub_rel = rel + '/' + name if rel else name
            if excluded.active and excluded(sub_rel):
                continue
            if kind == _PURGE:
                stack.append((name, sub_rel, index, _PURGE, None))
            elif name == PYCACHE and kind == _ORDINARY:
                stack.append((name, sub_rel, index, _PURGE if self.purge else _CACHE, names))
            else:
                stack.append((name, sub_rel, index, _ORDINARY, None))
            pushed += 1
        return pushed

    def list_emptied_dirs(self):
        """Add to plan.dirs, children first, each directory below the root that everything it held leaves.

        A directory empty before goes only when forced (mode all's __pycache__).
        """
        plan = self.plan
        remaining = self.remaining
        # Children come after their parent in the records: walk them backwards.
        for index in range(len(plan.paths) - 1, 0, -1):
            if remaining[index] == 0 and (self.totals[index] or self.forced[index]):
                plan.dirs.append(plan.paths[index])
                plan.dir_indexes.append(index)
                remaining[plan.parents[index]] -= 1


class _PathError(Exception):
    """An OSError met on a path, carried out of the opener."""

    def __init__(self, action, path, error):
        super(_PathError, self).__init__(action, path, error)
        self.action = action
        self.path = path
        self.error = error


# An _Opener keeps at most this many descriptors open (a very deep tree is
# opened again from the deepest one it holds).
_HELD = 64


class _Opener(object):
    """Opens again the directories a Plan walked, for the removal.

    Each is opened relative to its parent's descriptor, from the root's, with
    O_NOFOLLOW, and the directory asked for, when files are removed from it,
    must be the very one walked (same st_dev and st_ino; the directories
    above it need not be: none of them can lead anywhere else without a
    link, and a directory is only removed when empty): one that vanished,
    became a link or a file, or is another directory now gives None, so
    nothing in or below it is touched.  Keeps the descriptors of the last chain opened (the
    next directory in walk order usually shares most of it).  One per thread.
    """

    def __init__(self, plan, root_fd):
        self.plan = plan
        self.chain = [0]
        self.fds = [root_fd]
        self.checked = [True]  # whether chain[i] was found to be the one walked
        self.lost = set()      # indexes that could not be opened as walked
        self.replaced = set()  # of them, those that are something else now

    def open(self, index):
        """The descriptor of the directory of that index, or None."""
        parents = self.plan.parents
        chain = []
        while index > 0:
            if index in self.lost:
                return None
            chain.append(index)
            index = parents[index]
        chain.append(0)
        chain.reverse()
        keep = 1
        limit = min(len(chain), len(self.chain))
        while keep < limit and chain[keep] == self.chain[keep]:
            keep += 1
        self._trim(keep)
        while self.fds[-1] is None:
            self._trim(len(self.chain) - 1)
        last = chain[-1]
        for index in chain[len(self.chain):]:
            fd = self._open_one(index, self.fds[-1])
            if fd is None:
                self.lost.add(index)
                return None
            if len(self.fds) >= _HELD:
                os.close(self.fds[-1])
                self.fds[-1] = None
            self.chain.append(index)
            self.fds.append(fd)
            self.checked.append(False)
        if not self.checked[-1] and self.plan.idents[last] is not None:
            try:
                stat = os.fstat(self.fds[-1])
            except OSError as exc:
                raise _PathError('open directory', self.plan.paths[last], exc)
            if (stat.st_dev, stat.st_ino) != self.plan.idents[last]:
                self._trim(len(self.chain) - 1)
                self.lost.add(last)
                self.replaced.add(last)
                return None
            self.checked[-1] = True
        return self.fds[-1]

    def _open_one(self, index, parent_fd):
        plan = self.plan
        try:
            return os.open(plan.names[index], _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in _NOT_A_DIRECTORY:
                self.replaced.add(index)
                return None
            raise _PathError('open directory', plan.paths[index], exc)

    def _trim(self, length):
        while len(self.chain) > length:
            self.chain.pop()
            self.checked.pop()
            fd = self.fds.pop()
            if fd is not None:
                os.close(fd)

    def close(self):
        self._trim(1)


# os.unlink releases the GIL: after the walk, a few threads keep every core in
# the kernel's unlink work (0.51 s against 0.67 s for a plain loop on the
# benchmark's tree on tmpfs, see benchmarks/README.md).  Fed while the walk
# goes on instead, they fight the walk for the GIL and lose.
WORKERS = 4
_CHUNK = 256


class _Unlinker(object):
    """Unlinks one contiguous slice of plan.files, each by its name relative
    to its directory's descriptor (from an _Opener of its own); never raises."""

    def __init__(self, plan, root_fd, start, stop, halt):
        self.plan = plan
        self.root_fd = root_fd
        self.start = start
        self.stop = stop
        self.halt = halt
        self.removed = 0
        self.freed = 0
        self.skipped = []
        self.replaced = set()
        self.error = None  # (action, path, OSError)

    def __call__(self):
        plan = self.plan
        files = plan.files
        file_dirs = plan.file_dirs
        unlink = os.unlink
        halt = self.halt
        opener = _Opener(plan, self.root_fd)
        current = -1
        fd = None
        cut = 0
        try:
            for position in range(self.start, self.stop):
                if halt.is_set():
                    return
                path, size = files[position]
                index = file_dirs[position]
                if index != current:
                    current = index
                    fd = opener.open(index)
                    cut = len(_prefix(plan.paths[index]))
                if fd is None:
                    self.skipped.append(path)
                    continue
                try:
                    unlink(path[cut:], dir_fd=fd)
                except (FileNotFoundError, IsADirectoryError):
                    self.skipped.append(path)  # gone, or a directory now: not a file to remove
                    continue
                except OSError as exc:
                    self.error = ('remove', path, exc)
                    halt.set()
                    return
                self.removed += 1
                self.freed += size
        except _PathError as exc:
            self.error = (exc.action, exc.path, exc.error)
            halt.set()
        finally:
            self.replaced = opener.replaced
            opener.close()


def _unlink_all(plan, root_fd, workers):
    """Unlink plan.files with up to workers threads; return the _Unlinker of each slice."""
    halt = threading.Event()
    total = len(plan.files)
    if workers <= 1 or total < 2 * _CHUNK:
        slices = [_Unlinker(plan, root_fd, 0, total, halt)]
        slices[0]()
        return slices
    # Contiguous slices keep a directory's files together; plenty of slices
    # (taken in turn by the threads) even out slow and fast directories.
    # The threads share only the root's descriptor.
    count = max(workers * 8, total // 4096)
    size = max(_CHUNK, -(-total // count))
    slices = [_Unlinker(plan, root_fd, start, min(start + size, total), halt) for start in range(0, total, size)]
    pending = list(reversed(slices))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                job = pending.pop()
            job()

    threads = [threading.Thread(target=worker) for dummy in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return slices


def execute(plan, workers=None, root_fd=None):
    """Remove what plan lists: the files (with up to workers threads, default
    WORKERS), then the directories, children first.

    Everything is reached from the root's descriptor (root_fd, or plan.root
    opened again and checked to be the directory walked), each directory
    opened relative to its parent's without following a link: a directory
    that is no longer the one walked (a link, a file or another directory
    now) is skipped with all it holds, and its path relative to the root is
    added to plan.skipped_dirs.  Return the set of paths skipped because
    they vanished meanwhile, lie in such a directory or, for directories,
    were no longer empty.  Any other failure stops the removal and raises
    BytecodeError naming the path, with the figures of what was already
    removed in its partial attribute."""
    if root_fd is None:
        root_fd = _open_root(plan.root)
        try:
            _check_root_walked(plan, root_fd)
            return execute(plan, workers, root_fd)
        finally:
            os.close(root_fd)
    outcome = _Outcome()
    outcome.add_slices(_unlink_all(plan, root_fd, WORKERS if workers is None else workers))
    if outcome.failure is None:
        _remove_dirs(plan, root_fd, outcome)
    cut = len(_prefix(plan.root))
    plan.skipped_dirs.extend(plan.paths[index][cut:] for index in sorted(outcome.replaced))
    if outcome.failure is not None:
        raise outcome.error()
    return outcome.skipped


def _check_root_walked(plan, root_fd):
    """Refuse, before anything is removed, a root opened again that is not the directory walked."""
    stat = os.fstat(root_fd)
    if plan.idents and (stat.st_dev, stat.st_ino) != plan.idents[0]:
        raise BytecodeError('path %s is no longer the directory that was walked (it was replaced); '
                            'nothing was removed: run again' % plan.root, path=plan.root)


class _Outcome(object):
    """What execute() did: the figures, the paths skipped, the indexes of the
    directories found replaced, and the first failure ((action, path,
    OSError), or None)."""

    def __init__(self):
        self.skipped = set()
        self.replaced = set()
        self.removed_files = 0
        self.removed_dirs = 0
        self.freed = 0
        self.failure = None

    def add_slices(self, slices):
        """Add up what the _Unlinker of each slice did; the first slice's failure, in order, is the one kept."""
        for job in slices:
            self.skipped.update(job.skipped)
            self.replaced.update(job.replaced)
            self.removed_files += job.removed
            self.freed += job.freed
            if job.error is not None and self.failure is None:
                self.failure = job.error

    def error(self):
        """The BytecodeError for the failure, with the figures of what was removed before it."""
        action, path, exc = self.failure
        error = _oserror(action, path, exc)
        error.partial = dict(changed=bool(self.removed_files or self.removed_dirs), removed_files=self.removed_files,
                             removed_dirs=self.removed_dirs, bytes=self.freed)
        return error


def _remove_dirs(plan, root_fd, outcome):
    """Remove plan.dirs, children first, each by its name relative to its parent's descriptor (from an _Opener).

    A directory whose parent is no longer the one walked is skipped; the
    first other failure is noted in outcome and stops the removal.
    """
    opener = _Opener(plan, root_fd)
    try:
        for position, path in enumerate(plan.dirs):
            index = plan.dir_indexes[position]
            try:
                parent_fd = opener.open(plan.parents[index])
            except _PathError as exc:
                outcome.failure = (exc.action, exc.path, exc.error)
                return
            if parent_fd is None:
                outcome.skipped.add(path)
                continue
            if not _remove_dir(plan, index, path, parent_fd, outcome):
                return
    finally:
        outcome.replaced.update(opener.replaced)
        opener.close()


def _remove_dir(plan, index, path, parent_fd, outcome):
    """rmdir one directory of the plan, or skip it when it vanished, is no longer empty or is not a directory now.

    Return False on any other failure, noted in outcome.
    """
    try:
        os.rmdir(plan.names[index], dir_fd=parent_fd)
    except FileNotFoundError:
        outcome.skipped.add(path)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            outcome.skipped.add(path)  # something new appeared in it: keep it
            return True
        if exc.errno == errno.ENOTDIR:
            outcome.skipped.add(path)  # a link or a file now: not ours
            outcome.replaced.add(index)
            return True
        outcome.failure = ('remove', path, exc)
        return False
    outcome.removed_dirs += 1
    return True


def diff_text(paths, truncated, total):
    """The before text of a diff whose after is empty: one removed path a line."""
    lines = list(paths)
    if truncated:
        lines.append('... and %d more' % (total - len(paths)))
    return ''.join(line + '\n' for line in lines)


def cleanup(path, mode='stale', exclude=(), list_limit=100, check_mode=False, diff=False):
    """Plan, and unless check_mode remove, the bytecode under path.

    path is opened once (links in it resolved then); the walk and the
    removal go from that descriptor and never follow a link below it.

    Returns the module's result: changed, removed_files, removed_dirs, bytes,
    paths (sorted, relative, at most list_limit), paths_truncated, mode,
    excluded_outside (exclude entries outside path, ignored), skipped_dirs
    (sorted, relative, each ending with '/': directories found replaced while
    the cleanup ran, left alone with all they hold) and diff when asked.
    Raises BytecodeError on bad arguments or a failing path.
    """
    _check_arguments(path, mode, list_limit)
    root_fd = _open_root(path)
    try:
        # The whole walk first: a tree that cannot be read is reported with
        # nothing removed, and check mode sees exactly what a real run removes.
        plan = plan_cleanup(path, mode, exclude, root_fd)
        skipped = ()
        if not check_mode and (plan.files or plan.dirs):
            skipped = execute(plan, root_fd=root_fd)
    finally:
        os.close(root_fd)
    return _result(plan, skipped, list_limit, diff)


def _check_arguments(path, mode, list_limit):
    """Refuse a bad mode or list_limit, and a path that is missing or not a directory."""
    if mode not in MODES:
        raise BytecodeError('mode must be one of %s, not %r' % (', '.join(MODES), mode))
    if list_limit < 0:
        raise BytecodeError('list_limit must be 0 or more, not %d' % list_limit)
    if not os.path.lexists(path):
        raise BytecodeError('path %s does not exist' % path, path=path)
    if not os.path.isdir(path):
        raise BytecodeError('path %s is not a directory' % path, path=path)


def _result(plan, skipped, list_limit, diff):
    """The module's result for a plan, less what execute() skipped."""
    freed = plan.bytes
    removed_files = len(plan.files)
    removed_dirs = len(plan.dirs)
    if skipped:
        freed -= sum(size for file_path, size in plan.files if file_path in skipped)
        removed_files -= sum(1 for file_path, dummy in plan.files if file_path in skipped)
        removed_dirs -= sum(1 for dir_path in plan.dirs if dir_path in skipped)
    paths = plan.relative_paths(skipped)
    paths.sort()
    total = len(paths)
    truncated = total > list_limit
    paths = paths[:list_limit]
    result = dict(
        changed=bool(removed_files or removed_dirs),
        removed_files=removed_files,
        removed_dirs=removed_dirs,
        bytes=freed,
        paths=paths,
        paths_truncated=truncated,
        mode=plan.mode,
        excluded_outside=plan.excluded_outside,
        skipped_dirs=sorted(set(rel + '/' for rel in plan.skipped_dirs)),
    )
    if diff:
        result['diff'] = dict(
            before_header='%s (bytecode)' % plan.root,
            after_header='%s (bytecode)' % plan.root,
            before=diff_text(paths, truncated, total),
            after='',
        )
    return result
