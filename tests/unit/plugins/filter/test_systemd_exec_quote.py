# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd_exec_quote: each argument one word of a unit's command line (real systemd: tests/unit/test_systemd_quoting.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.simpledeploy.django.plugins.filter.systemd_exec_quote import FilterModule, systemd_exec_quote


@pytest.mark.parametrize('word', ['--workers', '127.0.0.1:8000', 'mysite.wsgi:application', '/srv/app/code/',
                                  'unix:/run/app.sock', '--log-level=debug', 'a+b@c,d'])
def test_plain_words_stay_as_they_are(word):
    # units of existing deploys render byte for byte as before: no restart on upgrade
    assert systemd_exec_quote(word) == word


@pytest.mark.parametrize('word, quoted', [
    ('with space', '"with space"'),
    ('--name x\nExecStartPre=/bin/sh -c evil', '"--name x\\nExecStartPre=/bin/sh -c evil"'),
    ('$HOME', '"$$HOME"'),
    ('${HOME}', '"$${HOME}"'),
    ('%n 100%', '"%%n 100%%"'),
    ('back\\slash"quote\'', '"back\\\\slash\\"quote\'"'),
    (';', '";"'),
    ('#x', '"#x"'),
    ('', '""'),
    ('tab\there\r', '"tab\\there\\r"'),
    ('\x1b[0m\x7f', '"\\x1b[0m\\x7f"'),
    ('ünï €', '"ünï €"'),
    ('end\\', '"end\\\\"'),
], ids=['blank', 'newline-injection', 'variable', 'braced-variable', 'specifier', 'backslash-quotes', 'semicolon',
        'hash', 'empty', 'tab-cr', 'control', 'unicode', 'trailing-backslash'])
def test_other_words_are_double_quoted_and_escaped(word, quoted):
    assert systemd_exec_quote(word) == quoted


def test_a_list_is_one_quoted_word_per_item():
    assert systemd_exec_quote(['--name', 'my app', '--x=$Y']) == '--name "my app" "--x=$$Y"'
    assert systemd_exec_quote([]) == ''


def test_a_number_is_its_text():
    assert systemd_exec_quote(8) == '8'


@pytest.mark.parametrize('value', ['a\0b', ['ok', '\0']])
def test_a_nul_byte_is_refused(value):
    with pytest.raises(AnsibleFilterError, match='NUL byte'):
        systemd_exec_quote(value)


@pytest.mark.parametrize('value', [None, {'a': 1}, [['nested']]])
def test_not_a_string_is_refused(value):
    with pytest.raises(AnsibleFilterError, match='expects strings'):
        systemd_exec_quote(value)


def test_the_filter_is_registered():
    assert FilterModule().filters() == {'systemd_exec_quote': systemd_exec_quote}
