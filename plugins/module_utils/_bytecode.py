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


def plan_cleanup(root, mode='stale', exclude=()):
    """Walk root once with os.scandir and return the Plan; remove nothing.

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
                plan.files.append((entry.path, size))
                plan.bytes += size
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


# os.unlink releases the GIL: after the walk, a few threads keep every core in
# the kernel's unlink work (0.51 s against 0.67 s for a plain loop on the
# benchmark's tree on tmpfs, see benchmarks/README.md).  Fed while the walk
# goes on instead, they fight the walk for the GIL and lose.
WORKERS = 4
_CHUNK = 256


class _Unlinker(object):
    """Unlinks one contiguous slice of plan.files; never raises."""

    def __init__(self, files, stop):
        self.files = files
        self.stop = stop
        self.removed = 0
        self.freed = 0
        self.skipped = []
        self.error = None

    def __call__(self):
        unlink = os.unlink
        stop = self.stop
        for path, size in self.files:
            if stop.is_set():
                return
            try:
                unlink(path)
            except FileNotFoundError:
                self.skipped.append(path)
                continue
            except OSError as exc:
                self.error = exc
                stop.set()
                return
            self.removed += 1
            self.freed += size


def _unlink_all(files, workers):
    """Unlink files with up to workers threads; return the _Unlinker of each slice."""
    stop = threading.Event()
    if workers <= 1 or len(files) < 2 * _CHUNK:
        slices = [_Unlinker(files, stop)]
        slices[0]()
        return slices
    # Contiguous slices keep a directory's files together; plenty of slices
    # (taken in turn by the threads) even out slow and fast directories.
    count = max(workers * 8, len(files) // 4096)
    size = max(_CHUNK, -(-len(files) // count))
    slices = [_Unlinker(files[start:start + size], stop) for start in range(0, len(files), size)]
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


def execute(plan, workers=None):
    """Remove what plan lists: the files (with up to workers threads, default
    WORKERS), then the directories, children first.  Return the set of paths
    skipped because they vanished meanwhile or, for directories, were no
    longer empty.  Any other failure stops the removal and raises
    BytecodeError naming the path, with the figures of what was already
    removed in its partial attribute."""
    slices = _unlink_all(plan.files, WORKERS if workers is None else workers)
    skipped = set()
    removed_files = 0
    freed = 0
    failure = None
    for job in slices:
        skipped.update(job.skipped)
        removed_files += job.removed
        freed += job.freed
        if job.error is not None and failure is None:
            failure = job.error
    removed_dirs = 0
    if failure is None:
        for path in plan.dirs:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                skipped.add(path)
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    skipped.add(path)  # something new appeared in it: keep it
                    continue
                failure = exc
                break
            removed_dirs += 1
    if failure is not None:
        error = _oserror('remove', failure.filename or plan.root, failure)
        error.partial = dict(changed=bool(removed_files or removed_dirs), removed_files=removed_files,
                             removed_dirs=removed_dirs, bytes=freed)
        raise error
    return skipped


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
    # The whole walk first: a tree that cannot be read is reported with
    # nothing removed, and check mode sees exactly what a real run removes.
    plan = plan_cleanup(path, mode, exclude)
    skipped = ()
    if not check_mode and (plan.files or plan.dirs):
        skipped = execute(plan)
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
