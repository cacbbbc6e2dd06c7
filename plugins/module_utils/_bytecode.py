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
"""

import errno
import fnmatch
import os
import queue
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


class ExcludeMatcher(object):
    """Decides whether a path relative to the root is excluded.

    Entries are paths relative to the root, or absolute paths under it; entries
    holding glob characters are fnmatch patterns matched against the whole
    relative path ('*' also matches '/').
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
    the files' apparent size.
    """

    __slots__ = ('root', 'mode', 'files', 'dirs', 'bytes', 'excluded_outside')

    def __init__(self, root, mode):
        self.root = root
        self.mode = mode
        self.excluded_outside = []
        self.files = []
        self.dirs = []
        self.bytes = 0

    def relative_paths(self, skip=()):
        """Every path the plan removes, relative to root; directories end with '/'."""
        cut = len(self.root) if self.root.endswith('/') else len(self.root) + 1
        paths = [path[cut:] for path, dummy in self.files if path not in skip]
        paths.extend(path[cut:] + '/' for path in self.dirs if path not in skip)
        return paths


def _oserror(action, path, exc):
    reason = exc.strerror or str(exc)
    return BytecodeError('cannot %s %s: %s' % (action, path, reason), path=path)


def plan_cleanup(root, mode='stale', exclude=(), on_files=None):
    """Walk root once with os.scandir and return the Plan; remove nothing.

    on_files, when given, is called with each directory's list of
    (path, size) to remove as soon as it is planned (Remover.feed).

    Symbolic links are never followed (root itself may be one) and never
    removed outside mode all's __pycache__ directories.  Excluded
    directories are not entered.  A directory goes when everything it held
    goes; the root and directories that were empty before never go, except
    __pycache__ directories in mode all.
    """
    if mode not in MODES:
        raise ValueError('mode must be one of %s, not %r' % (', '.join(MODES), mode))
    root = os.path.abspath(root)
    excluded = ExcludeMatcher(root, exclude)
    check_files = excluded.active
    plan = Plan(root, mode)
    plan.excluded_outside = excluded.outside
    purge = mode == 'all'
    # One record per directory entered, in pre-order (a parent before its children).
    paths = []
    parents = []
    totals = []
    remaining = []
    forced = []
    stack = [(root, '', -1, _ORDINARY, None)]
    while stack:
        path, rel, parent, kind, parent_names = stack.pop()
        try:
            with os.scandir(path) as listing:
                entries = list(listing)
        except (FileNotFoundError, NotADirectoryError):
            continue  # vanished meanwhile; its parent keeps counting it, so stays
        except OSError as exc:
            raise _oserror('read directory', path, exc)
        index = len(paths)
        paths.append(path)
        parents.append(parent)
        totals.append(len(entries))
        forced.append(kind == _PURGE)
        files = {}
        subdirs = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry)
            elif kind == _PURGE or (entry.name.endswith(BYTECODE_SUFFIXES) and entry.is_file(follow_symlinks=False)):
                files[entry.name] = entry
        names = None
        if not purge and kind == _ORDINARY and (files or subdirs):
            # the sources beside: any entry (a symlinked foo.py counts)
            names = frozenset(entry.name for entry in entries)
        gone = 0
        if files:
            batch = []
            if kind == _PURGE:
                doomed = files
            else:
                doomed = classify(files, mode, parent_names if kind == _CACHE else names, kind == _CACHE)
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
                    raise _oserror('stat', entry.path, exc)
                batch.append((entry.path, size))
                plan.bytes += size
            if batch:
                plan.files.extend(batch)
                if on_files is not None:
                    on_files(batch)
        for entry in subdirs:
            name = entry.name
            sub_rel = rel + '/' + name if rel else name
            if excluded.active and excluded(sub_rel):
                continue
            if kind == _PURGE:
                stack.append((entry.path, sub_rel, index, _PURGE, None))
            elif name == PYCACHE and kind == _ORDINARY:
                stack.append((entry.path, sub_rel, index, _PURGE if purge else _CACHE, names))
            else:
                stack.append((entry.path, sub_rel, index, _ORDINARY, None))
        remaining.append(len(entries) - gone)
    # Children come after their parent in the records: walk them backwards.
    for index in range(len(paths) - 1, 0, -1):
        if remaining[index] == 0 and (totals[index] or forced[index]):
            plan.dirs.append(paths[index])
            remaining[parents[index]] -= 1
    return plan


# Unlinks run in worker threads (os.unlink releases the GIL) fed while the walk
# goes on, so that the kernel's work overlaps the walk's.  One worker does best
# on a tmpfs; more do not help on a disk (benchmarks/README.md).
WORKERS = 1
_CHUNK = 256


class Remover(object):
    """Removes the files of a plan as they are fed, then its directories.

    feed() takes a list of (path, size) and may be called while the planner
    is still walking; finish(plan) waits for the files, removes plan.dirs
    (children first) and returns the set of paths skipped because they vanished
    meanwhile or, for directories, were no longer empty.  A failure (other
    than a vanished file) stops the work and finish() raises BytecodeError
    naming the path, with the figures of what was removed in its partial.
    """

    def __init__(self, workers=None):
        self.workers = max(1, WORKERS if workers is None else workers)
        self.queue = queue.Queue()
        self.threads = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.removed = 0
        self.freed = 0
        self.skipped = set()
        self.failure = None

    def feed(self, batch):
        if not batch:
            return
        if not self.threads:
            self.threads = [threading.Thread(target=self._work) for dummy in range(self.workers)]
            for thread in self.threads:
                thread.daemon = True
                thread.start()
        self.queue.put(batch)

    def _work(self):
        unlink = os.unlink
        stop = self.stop
        removed = 0
        freed = 0
        skipped = []
        failure = None
        while True:
            batch = self.queue.get()
            if batch is None:
                break
            if stop.is_set():
                continue
            for path, size in batch:
                try:
                    unlink(path)
                except FileNotFoundError:
                    skipped.append(path)
                    continue
                except OSError as exc:
                    failure = exc
                    stop.set()
                    break
                removed += 1
                freed += size
        with self.lock:
            self.removed += removed
            self.freed += freed
            self.skipped.update(skipped)
            if failure is not None and self.failure is None:
                self.failure = failure

    def _join(self):
        for dummy in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        self.threads = []

    def abort(self):
        """Finish what was fed, remove no directory; return the figures."""
        self._join()
        return self.partial(0)

    def partial(self, removed_dirs):
        return dict(changed=bool(self.removed or removed_dirs), removed_files=self.removed,
                    removed_dirs=removed_dirs, bytes=self.freed)

    def finish(self, plan):
        self._join()
        removed_dirs = 0
        failure = self.failure
        if failure is None:
            for path in plan.dirs:
                try:
                    os.rmdir(path)
                except FileNotFoundError:
                    self.skipped.add(path)
                    continue
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        self.skipped.add(path)  # something new appeared in it: keep it
                        continue
                    failure = exc
                    break
                removed_dirs += 1
        if failure is not None:
            error = _oserror('remove', failure.filename or plan.root, failure)
            error.partial = self.partial(removed_dirs)
            raise error
        return self.skipped


def execute(plan, workers=None):
    """Remove what plan lists (see Remover); return the paths skipped."""
    remover = Remover(workers)
    files = plan.files
    for start in range(0, len(files), _CHUNK):
        remover.feed(files[start:start + _CHUNK])
    return remover.finish(plan)


def diff_text(paths, truncated, total):
    """The before text of a diff whose after is empty: one removed path a line."""
    lines = list(paths)
    if truncated:
        lines.append('... and %d more' % (total - len(paths)))
    return ''.join(line + '\n' for line in lines)


def cleanup(path, mode='stale', exclude=(), list_limit=100, check_mode=False, diff=False):
    """Plan, and unless check_mode remove, the bytecode under path.

    Returns the module's result: changed, removed_files, removed_dirs, bytes,
    paths (sorted, relative, at most list_limit), paths_truncated, mode,
    excluded_outside (exclude entries outside path, ignored) and diff when
    asked.  Raises BytecodeError on bad arguments or a failing path.
    """
    if mode not in MODES:
        raise BytecodeError('mode must be one of %s, not %r' % (', '.join(MODES), mode))
    if list_limit < 0:
        raise BytecodeError('list_limit must be 0 or more, not %d' % list_limit)
    if not os.path.lexists(path):
        raise BytecodeError('path %s does not exist' % path, path=path)
    if not os.path.isdir(path):
        raise BytecodeError('path %s is not a directory' % path, path=path)
    if check_mode:
        plan = plan_cleanup(path, mode, exclude)
        skipped = ()
        freed = plan.bytes
        removed_files = len(plan.files)
    else:
        # Each directory's files go (lstat, unlink) in a worker thread as
        # soon as they are planned, while the walk goes on.
        remover = Remover()
        try:
            plan = plan_cleanup(path, mode, exclude, on_files=remover.feed)
        except BytecodeError as exc:
            exc.partial = remover.abort()
            raise
        skipped = remover.finish(plan)
        freed = remover.freed
        removed_files = remover.removed
    removed_dirs = len(plan.dirs)
    if skipped:
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
        mode=mode,
        excluded_outside=plan.excluded_outside,
    )
    if diff:
        result['diff'] = dict(
            before_header='%s (bytecode)' % plan.root,
            after_header='%s (bytecode)' % plan.root,
            before=diff_text(paths, truncated, total),
            after='',
        )
    return result
