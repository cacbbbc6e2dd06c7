# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which files a pip requirements file pulls in, and one digest of them all.

Private to the simpledeploy.django collection: the interface may change.

Real projects pin in files that their ``requirements.txt`` includes
(``-r base.txt``, ``-c constraints.txt``). The virtualenv is named after what
goes into it, so a pin changed in any of those files must change its name.
``included_files`` follows ``-r``/``--requirement`` and ``-c``/``--constraint``
lines the way pip does (a path relative to the file that names it), through
every level, once per file. An include that is a URL cannot be read here: its
text counts, not what it points to.
"""

from __future__ import annotations

import hashlib
import posixpath
import re

_INCLUDE = re.compile(r'^(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s=-]))(\S+)')
_URL = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://')


class RequirementsError(Exception):
    """A requirements file, or a file it includes, is missing or outside the project."""


def logical_lines(text):
    """The lines pip reads: continuation lines joined, comments and blank lines dropped."""
    joined, pending = [], ''
    for line in text.splitlines():
        if line.endswith('\\'):
            pending += line[:-1]
            continue
        joined.append(pending + line)
        pending = ''
    if pending:
        joined.append(pending)
    lines = []
    for line in joined:
        line = re.sub(r'(^|\s+)#.*$', '', line).strip()
        if line:
            lines.append(line)
    return lines


def includes(text):
    """The targets of the -r/-c lines of TEXT, in order."""
    found = []
    for line in logical_lines(text):
        match = _INCLUDE.match(line)
        if match:
            found.append(match.group(1))
    return found


def included_files(top, read):
    """``(files, urls)``: TOP (a POSIX path relative to the source) and every file it includes.

    READ(path) returns a file's text, or None when there is no such file in
    the release. Files come in the order pip meets them, each once; URLs are
    includes that cannot be followed. Raises RequirementsError naming the
    file that includes a missing one, or one outside the source.
    """
    files, urls, queue = [], [], [(posixpath.normpath(top), None)]
    while queue:
        path, named_by = queue.pop(0)
        if path in files:
            continue
        if path.startswith('../') or path == '..' or posixpath.isabs(path):
            raise RequirementsError('%s includes %s, which is outside the project: only files inside deploy_source '
                                    'are shipped' % (named_by, path))
        text = read(path)
        if text is None:
            raise RequirementsError(
                '%s is not in the release%s: check the name, and that deploy_exclude does not leave it out'
                % (path, ' (included by %s)' % named_by if named_by else ''))
        files.append(path)
        for target in includes(text):
            if _URL.match(target):
                urls.append(target)
            else:
                queue.append((posixpath.normpath(posixpath.join(posixpath.dirname(path), target)), path))
    return files, urls


def digest(files, urls, sha256_of):
    """One sha256 over every file's path and content hash (SHA256_OF(path)) and every URL, in order."""
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(('file %s %s\n' % (path, sha256_of(path))).encode('utf-8'))
    for url in urls:
        hasher.update(('url %s\n' % url).encode('utf-8'))
    return hasher.hexdigest()
