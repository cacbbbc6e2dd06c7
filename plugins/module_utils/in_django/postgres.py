# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump and pg_restore command lines for a Django ``settings_dict``: pure functions.

Private to the simpledeploy.django collection: the interface may change.

Used inside the project's Django process by the ``database`` job, and read by
the module side's tests. The connection settings go to libpq through the
tools' environment (``PGHOST``, ``PGPORT``, ...); the password goes only to
the environment of the tool's own child process (``password_env``), never on
a command line and never in an output.
"""

from __future__ import absolute_import, division, print_function

import re

# Django's OPTIONS for PostgreSQL that libpq also reads from the environment.
_OPTIONS = (
    ('sslmode', 'PGSSLMODE'), ('sslrootcert', 'PGSSLROOTCERT'), ('sslcert', 'PGSSLCERT'),
    ('sslkey', 'PGSSLKEY'), ('sslcrl', 'PGSSLCRL'), ('passfile', 'PGPASSFILE'),
    ('service', 'PGSERVICE'), ('connect_timeout', 'PGCONNECT_TIMEOUT'),
    ('target_session_attrs', 'PGTARGETSESSIONATTRS'), ('options', 'PGOPTIONS'),
)
_PLAIN_NAME = re.compile(r"^[^=\s'\"\\]+$")
_TOC_TABLE = re.compile(r'^\s*\d+;\s*\d+\s+\d+\s+TABLE\s+(?!DATA\s)(\S+)\s+(\S+)')


def environment(settings):
    """libpq's environment for a Django settings_dict, without the password."""
    env = {}
    for key, var in (('HOST', 'PGHOST'), ('PORT', 'PGPORT'), ('USER', 'PGUSER'), ('NAME', 'PGDATABASE')):
        value = settings.get(key)
        if value not in (None, ''):
            env[var] = str(value)
    options = settings.get('OPTIONS') or {}
    for key, var in _OPTIONS:
        value = options.get(key)
        if value not in (None, ''):
            env[var] = str(value)
    return env


def password_env(settings):
    """The environment that carries the password to the pg_dump/pg_restore child only."""
    password = settings.get('PASSWORD')
    return {'PGPASSWORD': str(password)} if password not in (None, '') else {}


def dbname(name):
    """pg_restore's --dbname value: the plain name, or a conninfo that cannot be read as more."""
    if name in (None, ''):
        return ''
    name = str(name)
    if _PLAIN_NAME.match(name) and '://' not in name:
        return name
    return "dbname='%s'" % name.replace('\\', '\\\\').replace("'", "\\'")


def dump_command(settings, path, binary='pg_dump'):
    """(argv, env) of the pg_dump that backs up the database of SETTINGS into PATH."""
    return ([binary, '--format=custom', '--no-password', '--file=%s' % path], environment(settings))


def restore_command(settings, path, binary='pg_restore'):
    """(argv, env) of the pg_restore that puts the dump PATH back into the database of SETTINGS."""
    return ([binary, '--clean', '--if-exists', '--no-owner', '--single-transaction', '--no-password',
             '--dbname=%s' % dbname(settings.get('NAME')), path],
            environment(settings))


def toc_tables(listing):
    """Names of the tables in a ``pg_restore --list`` listing."""
    found = set()
    for line in (listing or '').splitlines():
        match = _TOC_TABLE.match(line)
        if match:
            found.add(match.group(2))
    return sorted(found)
