# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/_requirements.py: the files a requirements file includes, as pip follows them."""

from __future__ import annotations

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _requirements


@pytest.mark.parametrize('text, expected', [
    ('Django==5.2.8\n-r base.txt\n', ['base.txt']),
    ('--requirement=base.txt\n--requirement base2.txt\n-rbase3.txt\n', ['base.txt', 'base2.txt', 'base3.txt']),
    ('-c constraints.txt\n--constraint=c2.txt\n', ['constraints.txt', 'c2.txt']),
    ('# -r commented.txt\nDjango  # -r not-an-include.txt\n', []),
    ('-r \\\n  joined.txt\n', ['joined.txt']),
    ('-e .\n--index-url https://pypi.org/simple\n', []),
])
def test_includes_reads_r_and_c_lines_as_pip_does(text, expected):
    assert _requirements.includes(text) == expected


def tree(files):
    return files.get


def test_nested_includes_are_followed_relative_to_the_file_that_names_them_once_each():
    files = {
        'src/requirements.txt': '-r requirements/prod.txt\n-c constraints.txt\n',
        'src/requirements/prod.txt': '-r base.txt\ngunicorn==22.0.0\n',
        'src/requirements/base.txt': 'Django==5.2.8\n-r ../requirements.txt\n',  # a cycle
        'src/constraints.txt': 'asgiref==3.8.1\n-r https://example.org/pins.txt\n',
    }
    found, urls = _requirements.included_files('src/requirements.txt', tree(files))
    assert found == ['src/requirements.txt', 'src/requirements/prod.txt', 'src/constraints.txt',
                     'src/requirements/base.txt']
    assert urls == ['https://example.org/pins.txt']


def test_a_missing_include_names_the_file_that_includes_it():
    files = {'requirements.txt': '-r base.txt\n'}
    with pytest.raises(_requirements.RequirementsError, match=r'^base.txt is not in the release \(included by '
                                                              r'requirements.txt\)'):
        _requirements.included_files('requirements.txt', tree(files))


def test_an_include_outside_the_project_is_refused():
    files = {'requirements.txt': '-r ../../shared/pins.txt\n'}
    with pytest.raises(_requirements.RequirementsError, match='outside the project'):
        _requirements.included_files('requirements.txt', tree(files))


def test_the_digest_changes_with_a_nested_file_and_only_with_what_pip_reads():
    hashes = {'requirements.txt': 'a' * 64, 'base.txt': 'b' * 64}
    first = _requirements.digest(['requirements.txt', 'base.txt'], [], hashes.get)
    assert first == _requirements.digest(['requirements.txt', 'base.txt'], [], dict(hashes).get)
    assert first != _requirements.digest(['requirements.txt', 'base.txt'], [], dict(hashes, **{'base.txt': 'c' * 64}).get)
    assert first != _requirements.digest(['requirements.txt', 'base.txt'], ['https://x/pins.txt'], hashes.get)
