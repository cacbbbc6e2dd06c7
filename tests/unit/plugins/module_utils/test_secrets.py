# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""plugins/module_utils/_secrets.py: which values of the app environment are masked."""

from __future__ import absolute_import, division, print_function

from urllib.parse import urlsplit

import pytest

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets


@pytest.mark.parametrize('value, masked', [
    ('hunter2-xyz', True),
    ('abcdef', True),
    ('/srv/app/shared/media', True),
    ('db.internal', True),
    ('abcde', False),          # shorter than 6
    ('1', False),
    ('123456', False),         # a number
    ('-12.5e3', False),
    ('True', False),
    ('FALSE', False),
    ('off', False),
    ('yes', False),
    ('localhost', False),      # public words the modules report on purpose
    ('127.0.0.1', False),
    ('::1', False),
    ('10.20.30.40', False),
    ('postgresql', False),
    ('django.db.backends.sqlite3', False),
])
def test_maskable(value, masked):
    assert _secrets.maskable(value) is masked


PASSWORD = 'Tr0ub4dor/c0rrectHorse'
URL = 'postgres://appuser:%s@db.internal:5432/person' % PASSWORD


def test_a_password_holding_a_slash_is_cut_by_a_url_parser():
    # what Django settings (and dj-database-url) read of it: the first piece is the "port"
    with pytest.raises(ValueError) as raised:
        urlsplit(URL).port
    assert 'Tr0ub4dor' in str(raised.value)


def test_url_parts_hold_the_userinfo_the_password_and_its_pieces():
    parts = _secrets.url_secret_parts(URL)
    assert {'appuser:' + PASSWORD, PASSWORD, 'Tr0ub4dor', 'c0rrectHorse'} <= parts
    # the user name, the host and the database name are not secrets
    assert not parts & {'appuser', 'db.internal', 'person'}


@pytest.mark.parametrize('value, expected', [
    # percent-decoded forms, and their pieces
    ('redis://:r3dis-Pass%2Fword@cache:6379/0', {'r3dis-Pass%2Fword', 'r3dis-Pass/word', 'r3dis-Pass',
                                                 ':r3dis-Pass%2Fword', ':r3dis-Pass/word'}),
    # a token used as the user name
    ('https://ghp_0123456789abcdef@github.com/org/repo.git', {'ghp_0123456789abcdef'}),
    # several URLs in one value, comma-separated
    ('redis://:first-secret@h1:6379,redis://:second-secret@h2:6379',
     {'first-secret', 'second-secret', ':first-secret', ':second-secret'}),
    # an @ in an unencoded password: the URL parser reads the userinfo up to the last @ of the netloc
    ('postgres://u:p@ssw0rd!@db/x', {'u:p@ssw0rd!', 'p@ssw0rd!', 'ssw0rd!'}),
    # no userinfo
    ('https://pypi.org/simple', set()),
    ('not a url at all', set()),
    # too short to mask
    ('postgres://u:pw@db/x', set()),
])
def test_url_secret_parts(value, expected):
    assert _secrets.url_secret_parts(value) == expected


def test_secret_strings_by_value_whatever_the_key():
    env = {'EMAIL_HOST_PASS': 'mail-pass-5e1d', 'DB_PASS': 'db-pass-0c7a', 'REDIS_URL': 'redis://:r3dis-pw-9@cache:6379/0',
           'DJANGO_DEBUG': '1', 'FEATURE': 'True', 'CACHE': 'off', 'WORKERS': '3', 'DB_ENGINE': 'postgresql',
           'DATABASE_URL': URL}
    found = _secrets.secret_strings(env)
    assert {'mail-pass-5e1d', 'db-pass-0c7a', 'redis://:r3dis-pw-9@cache:6379/0', 'r3dis-pw-9', URL,
            PASSWORD, 'Tr0ub4dor', 'c0rrectHorse'} <= found
    assert not found & {'1', 'True', 'off', '3', 'postgresql'}


def test_secret_strings_keeps_named_secrets_from_4_characters_even_numbers():
    assert _secrets.secret_strings({'DB_PIN_PASSWORD': '1234', 'API_KEY': 'abc', 'PORT': '5432'}) == {'1234'}


def test_values_the_module_was_given_in_clear_are_public():
    env = {'DJANGO_DB_NAME': 'person', 'DJANGO_DB_PASSWORD': 'pw-0b7e41-long',
           'DATABASE_URL': 'postgres://person:url-pw-77aa@db/person'}
    found = _secrets.secret_strings(env, public=['/srv/person/code'])
    assert 'person' not in found
    assert {'pw-0b7e41-long', 'url-pw-77aa', 'person:url-pw-77aa'} <= found


def test_public_strings_skip_no_log_options():
    spec = {'root': {'type': 'path'}, 'environment': {'type': 'dict', 'no_log': True},
            'leaves': {'type': 'list'}}
    params = {'root': '/srv/person', 'environment': {'X': 'secret-value'},
              'leaves': [{'app': 'people', 'name': '0001_initial'}]}
    assert sorted(_secrets.public_strings(spec, params)) == ['/srv/person', '0001_initial', 'app', 'name', 'people']


def test_mask_hides_a_password_whole_before_its_pieces():
    text = 'as %s and %s' % (PASSWORD, 'Tr0ub4dor')
    secrets = {'Tr0ub4dor', PASSWORD}
    assert _secrets.mask(text, secrets) == 'as ******** and ********'
    # Ansible's own masking goes in set order: a piece first can leave the rest of the password
    shown = remove_values(text, secrets)
    assert 'Tr0ub4dor' not in shown and PASSWORD not in shown


@pytest.mark.parametrize('text, expected', [
    ('pip install --extra-index-url https://user:tok3n@pkgs.example.com/simple x',
     'pip install --extra-index-url https://***@pkgs.example.com/simple x'),
    ('postgres://appuser:%s@db.internal:5432/person' % PASSWORD, 'postgres://***@db.internal:5432/person'),
    ("url 'https://ghp_abc@github.com/o/r.git' failed", "url 'https://***@github.com/o/r.git' failed"),
    ('https://docs.djangoproject.com/en/stable/', 'https://docs.djangoproject.com/en/stable/'),
    ('', ''),
    (None, None),
])
def test_redact_urls(text, expected):
    assert _secrets.redact_urls(text) == expected
