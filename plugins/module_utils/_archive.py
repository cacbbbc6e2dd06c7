# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure logic of the release_archive module: one content-named archive per release.

The source tree is walked without following symlinks, described by a manifest
(path -> type, normalised mode, size, sha256 or link target), and named by a
hash of that manifest: the same code gives the same release id whatever the
mtimes or owners, so deploying it again can be recognised as nothing to do.
"""

import fnmatch
import gzip
import hashlib
import json
import os
import re
import stat
import tarfile

from ansible_collections.simpledeploy.django.plugins.module_utils import _fsio, _requirements

# Left out of every archive unless default_excludes is false. None holds a
# '/': each matches an entry's name at any depth, see ArchiveExcludes.
DEFAULT_EXCLUDES = (
    '.git', '.hg', '.svn', '.bzr',
    '__pycache__', '*.pyc', '*.pyo',
    '.tox', '.nox', '.mypy_cache', '.pytest_cache', '.ruff_cache',
    '.coverage', 'htmlcov',
    '*.sqlite3', '*.sqlite3-journal', '*.sqlite3-wal', '*.sqlite3-shm', 'db.sqlite3',
    '.env', '.DS_Store', '*.swp',
)

# Left out by default too, but only next to manage.py (Django's default
# MEDIA_ROOT): an app or a static folder that happens to be called "media"
# elsewhere in the tree is code and must ship.
DEFAULT_PROJECT_EXCLUDES = ('media',)

FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755
LINK_MODE = 0o777

COMPRESSLEVEL = 6
EXCLUDED_PATHS_CAP = 50
MANIFEST_FORMAT = 1
_ID_PREFIX = b'simpledeploy.django release manifest v1\n'
_CHUNK = 1024 * 1024


class ArchiveError(Exception):
    """A problem the user must fix; the message says how."""


def _split(relpath):
    return [part for part in relpath.split('/') if part not in ('', '.')]


def normalise_pattern(pattern):
    """(pattern, anchored): the exclude pattern without a leading './' or '/' nor trailing slashes,
    and whether it is anchored at src (a '/' at its start or inside it, as written)."""
    pattern = pattern.strip()
    anchored = '/' in pattern.rstrip('/')
    while pattern.startswith('./'):
        pattern = pattern[2:]
    return pattern.strip('/'), anchored


class ArchiveExcludes(object):
    """release_archive's exclude patterns (its exclude option and DEFAULT_EXCLUDES), compiled once.

    Not pyc_cleanup's (_bytecode.CleanupExcludes matches paths under its root
    only). Each pattern is a case-sensitive shell glob (fnmatch: '*' and '?'
    match '/' too), tried on every entry the walk of src meets:

    * against the entry's path relative to src ('/'-separated, no leading
      './'): always ('static/build', '/media' match those paths only);
    * against the entry's name too when the pattern, as written, holds no '/'
      except trailing ones: such a pattern is not anchored and matches at any
      depth ('node_modules', '__pycache__/', '*.pyc'). A leading '/' or './'
      anchors it at src ('/media' leaves out the media directory next to src's
      top, not an app's media package).

    A leading './' or '/' and trailing slashes are dropped before matching (a
    trailing '/' does not restrict a pattern to directories). An entry that
    matches is left out with everything below it: the walk does not enter it.
    One instance per run: a walk over 100,000 files makes two regex calls per
    entry.
    """

    def __init__(self, patterns):
        normalised = [normalise_pattern(raw) for raw in patterns or ()]
        normalised = [(pattern, anchored) for pattern, anchored in normalised if pattern]
        self.name_re = self._compile([pattern for pattern, anchored in normalised if not anchored])
        self.path_re = self._compile([pattern for pattern, anchored in normalised])

    @staticmethod
    def _compile(patterns):
        if not patterns:
            return None
        return re.compile('|'.join('(?:%s)' % fnmatch.translate(p) for p in patterns))

    def matches(self, name, relpath):
        """Whether this one entry matches (its parents are not looked at)."""
        if self.name_re is not None and self.name_re.match(name):
            return True
        return self.path_re is not None and self.path_re.match(relpath) is not None


def is_excluded(relpath, patterns):
    """Tell whether relpath (relative, '/'-separated) is left out by the patterns.

    It is when the path itself or any of its parent directories matches (see
    ArchiveExcludes): excluding a directory excludes everything below it.
    patterns: a list of glob strings or an ArchiveExcludes.
    """
    matcher = patterns if isinstance(patterns, ArchiveExcludes) else ArchiveExcludes(patterns)
    parts = _split(relpath)
    for index, name in enumerate(parts):
        if matcher.matches(name, '/'.join(parts[:index + 1])):
            return True
    return False


def check_relative(path, what):
    """Return path as a normalised relative path, refusing absolute paths and '..'."""
    if path is None:
        return ''
    text = str(path).strip()
    if text.startswith('/') or os.path.isabs(text):
        raise ArchiveError('%s %r is an absolute path; give it relative to the project directory '
                           '(where manage.py is)' % (what, path))
    parts = _split(text)
    if '..' in parts:
        raise ArchiveError("%s %r contains '..'; it must name a path inside the project directory"
                           % (what, path))
    return '/'.join(parts)


def keep_paths_under(project_subdir, keep_paths):
    """Validate keep_paths (relative to the project dir) and return them relative to src."""
    result = []
    for path in keep_paths or ():
        rel = check_relative(path, 'keep_paths entry')
        if not rel:
            raise ArchiveError('keep_paths entry %r names the project directory itself; '
                               'list the files or directories inside it that hold data' % (path,))
        result.append('/'.join(_split(project_subdir) + _split(rel)))
    return result


def _is_under(path, anchors):
    return any(path == anchor or path.startswith(anchor + '/') for anchor in anchors)


def _mode_of(st_mode):
    return EXEC_MODE if st_mode & 0o111 else FILE_MODE


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _check_link(src_real, abspath, relpath, target):
    if os.path.isabs(target):
        raise ArchiveError('symlink %s points to the absolute path %s; only relative links to '
                           'paths inside src can be shipped' % (relpath, target))
    resolved = os.path.realpath(os.path.join(os.path.dirname(abspath), target))
    if resolved != src_real and not resolved.startswith(src_real.rstrip('/') + '/'):
        raise ArchiveError('symlink %s -> %s points outside src %s; replace it with the file '
                           'itself or exclude it' % (relpath, target, src_real))


def build_manifest(src, patterns=(), anchored=()):
    """Walk src (no symlink following) and describe what the archive will hold.

    patterns: exclude globs (see ArchiveExcludes); anchored: relative paths left out
    with everything below them (keep_paths, dest inside src).
    Returns (manifest, mtimes, excluded): manifest maps each relative path to
    {type, mode[, size, sha256][, target]}; mtimes maps it to the integer mtime
    (kept out of the manifest so that it does not change the release id);
    excluded lists the top-most left-out paths in walk order.
    """
    src_real = os.path.realpath(src)
    matcher = ArchiveExcludes(patterns)
    manifest = {}
    mtimes = {}
    excluded = []
    stack = ['']
    while stack:
        reldir = stack.pop()
        absdir = os.path.join(src_real, reldir) if reldir else src_real
        with os.scandir(absdir) as iterator:
            entries = sorted(iterator, key=lambda entry: entry.name)
        subdirs = []
        for entry in entries:
            rel = reldir + '/' + entry.name if reldir else entry.name
            if _is_under(rel, anchored) or matcher.matches(entry.name, rel):
                excluded.append(rel)
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.path)
                _check_link(src_real, entry.path, rel, target)
                manifest[rel] = {'type': 'link', 'mode': '%04o' % LINK_MODE, 'target': target}
            elif stat.S_ISDIR(st.st_mode):
                if os.path.isfile(os.path.join(entry.path, 'pyvenv.cfg')):
                    excluded.append(rel)  # a virtualenv, whatever its name
                    continue
                manifest[rel] = {'type': 'dir', 'mode': '%04o' % DIR_MODE}
                subdirs.append(rel)
            elif stat.S_ISREG(st.st_mode):
                manifest[rel] = {'type': 'file', 'mode': '%04o' % _mode_of(st.st_mode),
                                 'size': st.st_size, 'sha256': file_sha256(entry.path)}
            else:
                raise ArchiveError('%s in src is neither a file, a directory nor a symlink '
                                   '(a socket or a device?); add it to exclude' % rel)
            mtimes[rel] = int(st.st_mtime)
        stack.extend(reversed(subdirs))
    return manifest, mtimes, excluded


def canonical_manifest(manifest):
    """The bytes the release id is computed from: sorted, compact, ASCII JSON."""
    return json.dumps(manifest, sort_keys=True, separators=(',', ':'), ensure_ascii=True).encode('ascii')


def release_id(manifest):
    """First 16 hex digits of the sha256 of the canonical manifest."""
    return hashlib.sha256(_ID_PREFIX + canonical_manifest(manifest)).hexdigest()[:16]


def diff_manifests(old, new):
    """Compare two manifests: {added, removed, changed}, each a sorted list of paths.

    A path is changed when its type, mode, content or link target differ.
    """
    old = old or {}
    new = new or {}
    added = sorted(path for path in new if path not in old)
    removed = sorted(path for path in old if path not in new)
    changed = sorted(path for path in new if path in old and old[path] != new[path])
    return {'added': added, 'removed': removed, 'changed': changed}


def read_manifest(path):
    """Load the manifest entries from a <release_id>.manifest.json file."""
    with open(path, 'r') as handle:
        data = json.load(handle)
    return data.get('entries', {})


class _HashingReader(object):
    """File wrapper that hashes what tarfile reads, to catch files changed meanwhile."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _tarinfo(relpath, entry, mtime):
    info = tarfile.TarInfo(relpath)
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    info.mtime = mtime
    info.mode = int(entry['mode'], 8)
    if entry['type'] == 'dir':
        info.type = tarfile.DIRTYPE
    elif entry['type'] == 'link':
        info.type = tarfile.SYMTYPE
        info.linkname = entry['target']
    else:
        info.type = tarfile.REGTYPE
        info.size = entry['size']
    return info


def write_archive(src, manifest, mtimes, archive_path, compresslevel=COMPRESSLEVEL):
    """Write manifest's entries from src as a tar.gz at archive_path, atomically.

    Entries in sorted order, owner root (0/0), modes from the manifest, the
    files' real mtimes (timestamp-based .pyc validation depends on them); the
    gzip header carries no name and no time. Fails if a file changed since the
    manifest was built, so that an archive never disagrees with its name.
    Streamed through _fsio.atomic_file: archive_path is the whole archive,
    flushed, or absent (or the archive that was there), never a part of one.
    """
    src_real = os.path.realpath(src)

    with _fsio.atomic_file(archive_path) as raw:
        with gzip.GzipFile(filename='', mode='wb', compresslevel=compresslevel,
                           fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode='w', format=tarfile.PAX_FORMAT) as tar:
                for relpath in sorted(manifest):
                    entry = manifest[relpath]
                    info = _tarinfo(relpath, entry, mtimes.get(relpath, 0))
                    if entry['type'] != 'file':
                        tar.addfile(info)
                        continue
                    with open(os.path.join(src_real, relpath), 'rb') as handle:
                        reader = _HashingReader(handle)
                        try:
                            tar.addfile(info, reader)
                        except OSError as exc:
                            raise ArchiveError('%s changed while it was archived (%s); run again'
                                               % (relpath, exc))
                        if reader.digest.hexdigest() != entry['sha256'] or handle.read(1):
                            raise ArchiveError('%s changed while it was archived; run again' % relpath)


def write_manifest(manifest, rid, manifest_path):
    """Write the manifest document (format, release_id, entries) at manifest_path, atomically (_fsio.atomic_write)."""
    document = {'format': MANIFEST_FORMAT, 'release_id': rid, 'entries': manifest}
    _fsio.atomic_write(manifest_path, json.dumps(document, sort_keys=True, indent=1, ensure_ascii=True) + '\n')


def _dest_inside_src(src_real, dest):
    dest_real = os.path.realpath(dest)
    if dest_real == src_real:
        raise ArchiveError('dest %s is src itself; write the archives to another directory' % dest)
    if dest_real.startswith(src_real.rstrip('/') + '/'):
        return os.path.relpath(dest_real, src_real).replace(os.sep, '/')
    return None


def requirements_of(src_real, manifest, subdir, requirements):
    """``(files, digest)`` of the requirements file REQUIREMENTS (relative to SUBDIR) and all it includes.

    Read from the release (the manifest's files); raises ArchiveError when one is missing from it.
    """
    if not requirements:
        return [], ''
    top = '/'.join(_split(subdir) + _split(check_relative(requirements, 'requirements')))

    def read(path):
        entry = manifest.get(path)
        if not entry or entry['type'] != 'file':
            return None
        with open(os.path.join(src_real, path), encoding='utf-8', errors='replace') as handle:
            return handle.read()

    try:
        files, urls = _requirements.included_files(top, read)
    except _requirements.RequirementsError as exc:
        raise ArchiveError('requirements: %s' % exc)
    return files + urls, _requirements.digest(files, urls, lambda path: manifest[path]['sha256'])


# The options of release_archive: its module and its action plugin (which runs build_release on the controller).
ARGUMENT_SPEC = dict(
    src=dict(type='path', required=True),
    project_subdir=dict(type='str', default=''),
    dest=dict(type='path', required=True),
    exclude=dict(type='list', elements='str', default=[]),
    default_excludes=dict(type='bool', default=True),
    keep_paths=dict(type='list', elements='str', default=[]),
    requirements=dict(type='str', default=''),
)


def build_release(src, dest, project_subdir='', exclude=(), default_excludes=True,
                  keep_paths=(), check_mode=False, requirements=''):
    """Everything release_archive does; returns the module's result dict."""
    if not os.path.isdir(src):
        raise ArchiveError('src %s does not exist or is not a directory; set deploy_source to the '
                           'directory that holds manage.py' % src)
    subdir = check_relative(project_subdir, 'project_subdir')
    manage_rel = '/'.join(_split(subdir) + ['manage.py'])
    if not os.path.isfile(os.path.join(src, manage_rel)):
        raise ArchiveError('src %s has no manage.py%s; set deploy_source to the directory that holds '
                           'manage.py (or project_subdir to where manage.py sits inside it)'
                           % (src, ' in %s' % subdir if subdir else ''))
    src_real = os.path.realpath(src)

    patterns = list(DEFAULT_EXCLUDES) if default_excludes else []
    patterns.extend(exclude or ())
    anchored = keep_paths_under(subdir, keep_paths)
    if default_excludes:
        anchored.extend('/'.join(_split(subdir) + [name]) for name in DEFAULT_PROJECT_EXCLUDES)
    dest_rel = _dest_inside_src(src_real, dest)
    if dest_rel:
        anchored.append(dest_rel)

    manifest, mtimes, excluded = build_manifest(src_real, patterns, anchored)
    if manage_rel not in manifest:
        raise ArchiveError('%s is left out by the exclude patterns or keep_paths; the release '
                           'would have no manage.py' % manage_rel)
    requirement_files, requirements_digest = requirements_of(src_real, manifest, subdir, requirements)
    rid = release_id(manifest)
    archive_path = os.path.join(dest, rid + '.tar.gz')
    manifest_path = os.path.join(dest, rid + '.manifest.json')

    changed = False
    if not os.path.isfile(archive_path):
        changed = True
        if not check_mode:
            if not os.path.isdir(dest):
                os.makedirs(dest)
            write_archive(src_real, manifest, mtimes, archive_path)
    if not os.path.isfile(manifest_path):
        changed = True
        if not check_mode:
            write_manifest(manifest, rid, manifest_path)

    files = [entry for entry in manifest.values() if entry['type'] != 'dir']
    return {
        'changed': changed,
        'release_id': rid,
        'archive': archive_path,
        'manifest': manifest_path,
        'files': len(files),
        'bytes': sum(entry.get('size', 0) for entry in files),
        'excluded': len(excluded),
        'excluded_paths': excluded[:EXCLUDED_PATHS_CAP],
        'archive_bytes': os.path.getsize(archive_path) if os.path.isfile(archive_path) else 0,
        'requirements_files': requirement_files,
        'requirements_digest': requirements_digest,
    }
