# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app's environment: its environment file read as systemd reads it, and the variables for Django.

Private to the simpledeploy.django collection: the interface may change.

The service gets its variables from an ``EnvironmentFile``; every Django
process the collection starts (the plan, migrate, backups) gets the same
values from the same file, read here with systemd's own grammar.
"""

from __future__ import annotations

import re

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets

_ENV_KEY = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
# systemd's EnvironmentFile grammar (src/basic/env-file.c): what ends a line, what
# is a blank, and what a backslash stands for inside double quotes.
_ENV_NEWLINE = '\n\r'
_ENV_WHITESPACE = ' \t\n\r'
_ENV_DQ_ESCAPED = '"\\`$'


def read_env_file(path):
    """Read an environment file into a dict, the way systemd reads an EnvironmentFile.

    The grammar is systemd's (``load_env_file``, systemd 252 and later), so a file
    gives the same values to ``manage.py`` as to the service:

    - Blank lines are skipped; a line whose first non-blank character is ``#`` or
      ``;`` is a comment. ``KEY=VALUE``: blanks around the key and before the value
      are dropped; ``export KEY=...`` is taken as ``KEY=...`` (systemd ignores such
      a line with a warning; shells do not).
    - Unquoted text runs to the end of the line, trailing blanks dropped; ``\\``
      takes the next character literally, and a backslash before the end of the line
      joins the next line.
    - A quote right after ``=`` (or right after a closing quote) opens a quoted part,
      which may span lines: ``'...'`` is literal; in ``"..."`` a backslash before
      ``"``, ``\\``, ``$`` or a backquote stands for that character, a backslash
      before a newline joins the lines, and any other backslash is kept. Parts
      follow each other without a blank: ``'it'"'"'s'`` is ``it's``.
    - The last assignment of a key wins.

    Raises ValueError, naming the file and the line (never a value: values may be
    secrets), where systemd would read something other than the line says or
    nothing at all: a line without ``=``, a key that is not a shell variable name
    (systemd drops it), a quote that is never closed (systemd takes the rest of the
    file), a comment that ends with a backslash (systemd before 254 joins the next
    line to it, later ones do not), a NUL byte or text that is not UTF-8. Raises
    OSError when the file cannot be read.
    """
    with open(path, 'rb') as handle:
        data = handle.read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ValueError('%s, line %d: not UTF-8 text' % (path, data.count(b'\n', 0, exc.start) + 1))
    return dict(parse_env_text(text, path))


def _env_error(path, text, pos, what):
    return ValueError('%s, line %d: %s' % (path, text.count('\n', 0, pos) + 1, what))


def _env_value(text, pos, path):
    """Read the value that starts at ``pos`` (just after ``=``): (value, end).

    ``end`` is the position of the line break that ends the value, or len(text).
    """
    out = []
    end = len(text)
    unquoted = False  # unquoted text has started: quotes are plain characters from here on
    keep = 0  # len(out) without the trailing blanks of unquoted text
    while pos < end:
        char = text[pos]
        if char in _ENV_NEWLINE:
            break
        if char == '\\':
            # The next character literally; before a line break, the next line joins this one.
            if pos + 1 < end and text[pos + 1] not in _ENV_NEWLINE:
                out.append(text[pos + 1])
            pos += 2
            unquoted = True
            keep = len(out)
        elif unquoted:
            out.append(char)
            pos += 1
            if char not in _ENV_WHITESPACE:
                keep = len(out)
        elif char in _ENV_WHITESPACE:
            pos += 1
        elif char == "'":
            close = text.find("'", pos + 1)
            if close < 0:
                raise _env_error(path, text, pos, 'the single quote opened here is never closed')
            out.extend(text[pos + 1:close])
            pos = close + 1
            keep = len(out)
        elif char == '"':
            pos = _env_double_quoted(text, pos, path, out)
            keep = len(out)
        else:
            unquoted = True
            out.append(char)
            pos += 1
            keep = len(out)
    return ''.join(out[:keep]), pos


def _env_double_quoted(text, pos, path, out):
    """Append the double-quoted part that opens at ``pos`` to ``out``; return the position after it."""
    start, pos, end = pos, pos + 1, len(text)
    while pos < end and text[pos] != '"':
        char = text[pos]
        if char == '\\' and pos + 1 < end:
            following = text[pos + 1]
            if following in _ENV_DQ_ESCAPED:
                out.append(following)
            elif following != '\n':
                out.extend((char, following))
            pos += 2
        else:
            out.append(char)
            pos += 1
    if pos >= end:
        raise _env_error(path, text, start, 'the double quote opened here is never closed')
    return pos + 1


def parse_env_text(text, path='<string>'):
    """The assignments of an environment file's text, in order: a list of (key, value).

    See read_env_file for the grammar and the errors; ``path`` is only used in them.
    """
    if '\0' in text:
        raise _env_error(path, text, text.index('\0'), 'a NUL byte, which an environment file cannot hold')
    result = []
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char in _ENV_WHITESPACE:
            pos += 1
        elif char in '#;':
            while pos < end and text[pos] not in _ENV_NEWLINE:
                if text[pos] == '\\':
                    if pos + 1 < end and text[pos + 1] in _ENV_NEWLINE:
                        raise _env_error(path, text, pos, 'a comment ends with a backslash, which systemd before '
                                         'version 254 reads as joining the next line to the comment: remove it')
                    pos += 1
                pos += 1
        else:
            equals = pos
            while equals < end and text[equals] not in _ENV_NEWLINE and text[equals] != '=':
                equals += 1
            if equals >= end or text[equals] != '=':
                raise _env_error(path, text, pos, 'expected KEY=VALUE')
            key = text[pos:equals].rstrip(_ENV_WHITESPACE)
            if key[:6] == 'export' and key[6:7] in (' ', '\t'):
                key = key[6:].lstrip(_ENV_WHITESPACE)
            if not _ENV_KEY.match(key):
                raise _env_error(path, text, pos, 'expected KEY=VALUE, with a KEY of letters, digits and _ '
                                 'that does not start with a digit')
            value, pos = _env_value(text, equals + 1, path)
            result.append((key, value))
    return result


def app_env(environment=None, env_file=None):
    """The application's own variables: those of ``env_file``, then ``environment`` (winning).

    Values are made strings (``None`` -> empty, booleans -> ``1``/``0``).
    Raises OSError or ValueError when ``env_file`` cannot be read.
    """
    env = {}
    if env_file:
        env.update(read_env_file(env_file))
    for key, value in (environment or {}).items():
        if value is None:
            value = ''
        elif isinstance(value, bool):
            value = '1' if value else '0'
        env[str(key)] = str(value)
    return env


def build_env(settings=None, environment=None, env_file=None):
    """Return the environment for manage.py.

    In order, later winning: ``LC_ALL=C`` and ``PYTHONUNBUFFERED=1``; the
    variables of ``env_file``; the ``environment`` dict (values made strings);
    ``DJANGO_SETTINGS_MODULE`` when ``settings`` is given (the dedicated option
    wins over a value in the file or the dict).
    """
    env = {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1'}
    env.update(app_env(environment, env_file))
    if settings:
        env['DJANGO_SETTINGS_MODULE'] = settings
    return env


def secret_values(env, public=()):
    """The strings of the app environment ``env`` to mask: see ``_secrets.secret_strings``."""
    return _secrets.secret_strings(env, public)
