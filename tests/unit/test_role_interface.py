# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's variables are one list: defaults, argument spec and README agree."""

from __future__ import annotations

import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'deploy')


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def spec_options():
    return load(os.path.join(ROLE, 'meta', 'argument_specs.yml'))['argument_specs']['main']['options']


def test_every_default_is_in_the_argument_spec_and_back():
    defaults = load(os.path.join(ROLE, 'defaults', 'main.yml'))
    required = set(name for name, option in spec_options().items() if option.get('required'))
    assert required == {'deploy_app_name', 'deploy_source'}
    assert sorted(set(defaults) | required) == sorted(spec_options())
    assert not required & set(defaults), "a required variable must not have a default"


def test_every_variable_is_prefixed_and_internal_ones_are_not_defaults():
    defaults = load(os.path.join(ROLE, 'defaults', 'main.yml'))
    assert all(name.startswith('deploy_') for name in defaults)
    internal = load(os.path.join(ROLE, 'vars', 'main.yml'))
    assert all(name.startswith('__deploy_') for name in internal)


def test_spec_defaults_match_role_defaults_where_both_are_literal():
    defaults = load(os.path.join(ROLE, 'defaults', 'main.yml'))
    for name, option in spec_options().items():
        if option.get('required'):
            continue
        if 'default' in option:
            assert option['default'] == defaults[name], name
        else:
            assert '{{' in str(defaults[name]), '%s: a literal default belongs in the spec too' % name


def test_readme_documents_every_variable():
    with open(os.path.join(ROOT, 'README.md')) as handle:
        readme = handle.read()
    documented = set(re.findall(r'^\| `(deploy_[a-z_]+)` \|', readme, re.MULTILINE))
    assert documented == set(spec_options())
