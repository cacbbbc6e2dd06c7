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


SPECIAL_TAGS = {'always', 'never'}


def _tags(node):
    """Every tag a task list sets: on tasks, blocks and imports, and in an include's apply."""
    found = set()
    if isinstance(node, list):
        for item in node:
            found |= _tags(item)
    elif isinstance(node, dict):
        tags = node.get('tags', [])
        found |= set([tags] if isinstance(tags, str) else tags)
        for value in node.values():
            found |= _tags(value)
    return found


def offered_tags():
    tasks = os.path.join(ROLE, 'tasks')
    found = set()
    for name in sorted(os.listdir(tasks)):
        found |= _tags(load(os.path.join(tasks, name)))
    return found - SPECIAL_TAGS


def readme_tags():
    """The tags the README's "Tags" section lists, one "- `tag`: what it does" line each."""
    with open(os.path.join(ROOT, 'README.md')) as handle:
        readme = handle.read()
    section = re.search(r'^### Tags\n(.*?)(?=^#)', readme, re.MULTILINE | re.DOTALL)
    assert section, 'the README has no "### Tags" section'
    return set(re.findall(r'^- `([a-z_]+)`: ', section.group(1), re.MULTILINE))


def test_the_tags_the_role_offers_are_those_the_readme_lists():
    assert offered_tags() == readme_tags()
    assert 'deploy' in offered_tags()


def test_the_tag_finder_sees_imports_blocks_and_an_includes_apply():
    tasks = yaml.safe_load('''
- name: A step
  ansible.builtin.import_tasks: a.yml
  tags: [deploy, deploy_a]
- name: A block
  tags: deploy_b
  block:
    - name: Inner
      ansible.builtin.include_tasks:
        file: c.yml
        apply:
          tags: [deploy_c]
      tags: [always]
''')
    assert _tags(tasks) - SPECIAL_TAGS == {'deploy', 'deploy_a', 'deploy_b', 'deploy_c'}


def test_a_tag_that_selects_a_step_selects_every_step_before_it():
    """A tag works alone only when the steps before the one it selects run too (they set its facts)."""
    main = load(os.path.join(ROLE, 'tasks', 'main.yml'))[0]['block']
    steps = []
    for step in main:
        if 'ansible.builtin.import_tasks' in step:
            steps.append((step['ansible.builtin.import_tasks'], set(step['tags'])))
        else:
            # A dynamic include: the include's own tags select it; apply gives its tasks the same ones.
            include = step['ansible.builtin.include_tasks']
            assert set(include['apply']['tags']) == set(step['tags']), include['file']
            steps.append((include['file'], set(step['tags'])))
    assert steps[0][0] == 'validate.yml'
    for number, (name, tags) in enumerate(steps):
        for earlier, earlier_tags in steps[:number]:
            assert tags <= earlier_tags, '%s is tagged %s, %s is not' % (name, sorted(tags - earlier_tags), earlier)
