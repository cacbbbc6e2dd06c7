# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/_envfile.py: the environment file read as systemd reads it, and Django's environment."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils._envfile import (
    build_env,
    read_env_file,
    secret_values,
)


# ---------------------------------------------------------------- read_env_file

@pytest.mark.parametrize('text, expected', [
    ('A=1\n', {'A': '1'}),
    ('# comment\n\n   \nA=1\n; systemd comment\n', {'A': '1'}),
    ('export A=1\nexport\tB=2\n', {'A': '1', 'B': '2'}),
    ('  A = spaced value  \n', {'A': 'spaced value'}),
    ('A="double quoted # not a comment"\n', {'A': 'double quoted # not a comment'}),
    ("A='single $X \\\"kept\\\"'\n", {'A': 'single $X \\"kept\\"'}),
    ('A="esc \\" \\\\ \\$ \\` \\n"\n', {'A': 'esc " \\ $ ` \\n'}),
    ('A=\nB=""\n', {'A': '', 'B': ''}),
    ('A=x=y=z\n', {'A': 'x=y=z'}),
    ('A=1\nA=2\n', {'A': '2'}),
    ('DJANGO_SECRET_KEY=p@ss#word;x\n', {'DJANGO_SECRET_KEY': 'p@ss#word;x'}),
    ('A=1', {'A': '1'}),
    ('', {}),
], ids=['plain', 'comments', 'export', 'spaces', 'double', 'single', 'escapes', 'empty',
        'equals', 'last-wins', 'hash-inside', 'no-newline', 'empty-file'])
def test_read_env_file(tmp_path, text, expected):
    # systemd's whole grammar, each case also read by systemd itself: tests/unit/test_systemd_quoting.py
    path = tmp_path / 'env'
    path.write_bytes(text.encode('utf-8'))
    assert read_env_file(str(path)) == expected


@pytest.mark.parametrize('text, line', [
    ('A=1\nnot a pair\n', 2),
    ('1A=x\n', 1),
    ('A-B=x\n', 1),
    ('=x\n', 1),
    ('A="unterminated\n', 1),
    ("A='\n", 1),
    ('A="x\'\n', 1),
    ('A=1\nB="sec\nret\nC=3\n', 2),
    ("A=1\n\nB='secret\n", 3),
    ('A="secret\\', 1),
    ('A=1\n# a comment \\\nB=2\n', 2),
    ('A=1\nB=sec\x00ret\n', 2),
    ('export A B=secret\n', 1),
], ids=['no-equals', 'digit-first', 'dash', 'no-key', 'unterminated-double', 'unterminated-single',
        'mixed-quotes', 'unterminated-double-later', 'unterminated-single-later', 'escape-at-end-in-quotes',
        'comment-continued', 'nul', 'blank-in-key'])
def test_read_env_file_rejects_malformed_lines(tmp_path, text, line):
    path = tmp_path / 'env'
    path.write_bytes(text.encode('utf-8'))
    with pytest.raises(ValueError, match=r'line %d: ' % line) as caught:
        read_env_file(str(path))
    assert 'secret' not in str(caught.value) and 'sec' not in str(caught.value).replace(str(path), '')


def test_read_env_file_refuses_text_that_is_not_utf8(tmp_path):
    path = tmp_path / 'env'
    path.write_bytes(b'A=1\nB="\xff\xfe"\n')
    with pytest.raises(ValueError, match='line 2: not UTF-8'):
        read_env_file(str(path))


def test_read_env_file_missing(tmp_path):
    with pytest.raises(OSError):
        read_env_file(str(tmp_path / 'nope'))


# -------------------------------------------------------------------- build_env

@pytest.mark.parametrize('kwargs, file_text, expected', [
    ({}, None, {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1'}),
    ({'settings': 'mysite.settings'}, None,
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'DJANGO_SETTINGS_MODULE': 'mysite.settings'}),
    ({}, 'A=file\nB=file\n', {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'A': 'file', 'B': 'file'}),
    ({'environment': {'B': 'dict'}}, 'A=file\nB=file\n',
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'A': 'file', 'B': 'dict'}),
    ({'environment': {'N': 3, 'T': True, 'F': False, 'E': None}}, None,
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'N': '3', 'T': '1', 'F': '0', 'E': ''}),
    ({'settings': 'explicit.settings', 'environment': {'DJANGO_SETTINGS_MODULE': 'dict.settings'}},
     'DJANGO_SETTINGS_MODULE=file.settings\n',
     {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1', 'DJANGO_SETTINGS_MODULE': 'explicit.settings'}),
    ({'environment': {'LC_ALL': 'C.UTF-8'}}, None, {'LC_ALL': 'C.UTF-8', 'PYTHONUNBUFFERED': '1'}),
], ids=['defaults', 'settings', 'file', 'dict-over-file', 'stringified', 'settings-wins',
        'user-locale'])
def test_build_env(tmp_path, kwargs, file_text, expected):
    if file_text is not None:
        path = tmp_path / 'env'
        path.write_text(file_text)
        kwargs = dict(kwargs, env_file=str(path))
    assert build_env(**kwargs) == expected


# -------------------------------------------------------------- secret_values

@pytest.mark.parametrize('key, value, secret', [
    # by value, whatever the key is called
    ('DJANGO_SECRET_KEY', 'some-value-1234', True),
    ('EMAIL_HOST_PASS', 'mail-pass-5e1d', True),
    ('DB_PASS', 'db-pass-0c7a', True),
    ('DJANGO_ALLOWED_HOSTS', 'example.com', True),
    ('SOMETHING', 'abcdef', True),
    # short values, numbers and booleans are never masked by value
    ('DJANGO_DEBUG', '1', False),
    ('DJANGO_DEBUG', 'True', False),
    ('FEATURE', 'off', False),
    ('ENABLED', 'FALSE', False),
    ('WORKERS', '123456', False),
    ('RATIO', '0.75', False),
    ('NAME', 'abcde', False),
    # ... except under a name that looks secret, from 4 characters on
    ('API_KEY', '1234', True),
    ('DB_PASS', 'abcd', True),
    ('DB_PASS', 'abc', False),
    ('DJANGO_SECRET_KEY', '', False),
])
def test_secret_values_by_value(key, value, secret):
    assert secret_values({key: value}) == ({value} if secret else set())


def test_secret_values_of_urls_hold_their_userinfo_and_its_pieces():
    found = secret_values({'REDIS_URL': 'redis://:r3dis-Pass%2Fword@cache:6379/0'})
    assert {'redis://:r3dis-Pass%2Fword@cache:6379/0', 'r3dis-Pass%2Fword', 'r3dis-Pass/word',
            'r3dis-Pass'} <= found
    assert 'cache' not in ' '.join(found.difference(['redis://:r3dis-Pass%2Fword@cache:6379/0']))
