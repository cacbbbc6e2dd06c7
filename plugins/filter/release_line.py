# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One line per release kept on a host (documented in release_line.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def release_line(entry):
    """An item of release_info's releases as one line: id, state, when it went live, migrations, rollback."""
    if not isinstance(entry, dict) or not entry.get('release'):
        raise AnsibleFilterError('release_line expects an item of release_info\'s releases, got %r' % (entry,))
    words = [entry['release'], 'live' if entry.get('live') else 'kept']
    words.append('went live %s' % (entry.get('went_live') or 'at an unrecorded time'))
    migrations = entry.get('migrations')
    if migrations is None:
        words.append('migrations not recorded')
    elif migrations:
        words.append('migrations %s' % ', '.join('%s.%s' % item for item in sorted(migrations.items())))
    else:
        words.append('no migrations')
    if not entry.get('live'):
        words.append('rollback possible' if entry.get('rollback')
                     else 'no rollback: %s' % (entry.get('why_not') or 'unknown reason'))
    return ' | '.join(words)


class FilterModule(object):
    """The releases kept on a host, as lines."""

    def filters(self):
        return {'release_line': release_line}
