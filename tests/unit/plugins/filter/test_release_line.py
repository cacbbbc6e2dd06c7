# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_line: one line per release of release_info's listing."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.simpledeploy.django.plugins.filter.release_line import release_line


def test_a_live_release_names_its_migrations_and_no_rollback():
    line = release_line({'release': 'r4', 'live': True, 'went_live': 't4', 'migrations': {'people': '0003_c',
                                                                                          'auth': '0012_x'},
                         'rollback': False, 'why_not': 'it is the live release'})
    assert line == 'r4 | live | went live t4 | migrations auth.0012_x, people.0003_c'


def test_a_kept_release_says_whether_it_can_come_back_and_why_not():
    assert release_line({'release': 'r2', 'went_live': 't2', 'migrations': {}, 'rollback': True}) == \
        'r2 | kept | went live t2 | no migrations | rollback possible'
    assert release_line({'release': 'r1', 'migrations': None, 'rollback': False, 'why_not': 'its tree is gone'}) == \
        'r1 | kept | went live at an unrecorded time | migrations not recorded | no rollback: its tree is gone'


def test_anything_else_is_an_error_that_says_what_was_expected():
    with pytest.raises(AnsibleFilterError, match="an item of release_info's releases"):
        release_line('r1')
