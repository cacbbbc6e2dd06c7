# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX example: examples/awx/survey.json is a survey AWX accepts, its
answers are the variables examples/awx/deploy.yml and the role read, and the
answers (strings) drive check mode as they should. Also the pure parts of the
ansible-runner driver tests/e2e/awx_job.py: how it checks answers as AWX does
and writes them as AWX does."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys

import pytest
import yaml

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 templates every string
    def trust_as_template(value):
        return value

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
AWX = os.path.join(ROOT, 'examples', 'awx')
E2E = os.path.join(ROOT, 'tests', 'e2e')

# AWX's survey rules (awx/api/views JobTemplateSurveySpec._validate_spec_data):
# question type -> the Python type its default must have.
ALLOWED_TYPES = {
    'text': str, 'textarea': str, 'password': str, 'multiplechoice': str, 'multiselect': str,
    'integer': int, 'float': (float, int),
}


def awx_survey_errors(survey):
    """What AWX's API would refuse in a survey spec, as a list of messages (empty: accepted)."""
    errors = []
    for field, kind in (('name', str), ('description', str), ('spec', list)):
        if not isinstance(survey.get(field), kind):
            errors.append('%s missing or not a %s' % (field, kind.__name__))
    if errors:
        return errors
    if not survey['spec']:
        return ["'spec' doesn't contain any items"]
    seen = set()
    for index, item in enumerate(survey['spec']):
        if not isinstance(item, dict):
            errors.append('question %d is not an object' % index)
            continue
        missing = [key for key in ('type', 'question_name', 'variable', 'required') if key not in item]
        if missing:
            errors.append('question %d: %s missing' % (index, ', '.join(missing)))
            continue
        if not all(isinstance(item[key], str) for key in ('type', 'question_name', 'variable')):
            errors.append('question %d: type, question_name and variable must be strings' % index)
        if not isinstance(item['required'], bool):
            errors.append('question %d: required must be a boolean' % index)
        if item['variable'] in seen:
            errors.append('question %d: variable %s duplicated' % (index, item['variable']))
        seen.add(item['variable'])
        if item['type'] not in ALLOWED_TYPES:
            errors.append('question %d: type %s not allowed' % (index, item['type']))
            continue
        default = item.get('default', '')
        if default != '' and not isinstance(default, ALLOWED_TYPES[item['type']]):
            errors.append('question %d: default %r is not a %s' % (index, default, item['type']))
        for key in ('min', 'max'):
            if item.get(key) not in (None, '') and not isinstance(item[key], int):
                errors.append('question %d: %s must be an integer' % (index, key))
        if item['type'] in ('multiplechoice', 'multiselect'):
            if 'choices' not in item:
                errors.append('question %d: %s must have choices' % (index, item['type']))
                continue
            choices = item['choices'].splitlines() if isinstance(item['choices'], str) else item['choices']
            defaults = default.splitlines() if isinstance(default, str) else default
            if item['type'] == 'multiplechoice' and len(defaults) > 1:
                errors.append('question %d: a multiple choice has one default' % index)
            if any(value not in choices for value in defaults):
                errors.append('question %d: default %r is not one of the choices' % (index, default))
        if isinstance(default, str) and default.startswith('$encrypted$'):
            errors.append('question %d: $encrypted$ is reserved' % index)
    return errors


def load_json(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def load_yaml(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def survey():
    return load_json(os.path.join(AWX, 'survey.json'))


@pytest.fixture
def plays():
    return load_yaml(os.path.join(AWX, 'deploy.yml'))


def question(survey, variable):
    return next(item for item in survey['spec'] if item['variable'] == variable)


def strategy_option():
    specs = load_yaml(os.path.join(ROOT, 'roles', 'deploy', 'meta', 'argument_specs.yml'))
    return specs['argument_specs']['main']['options']['deploy_strategy']


def test_awx_accepts_the_survey(survey):
    assert awx_survey_errors(survey) == []
    assert [item['variable'] for item in survey['spec']] == ['app_version', 'deploy_strategy', 'dry_run']


@pytest.mark.parametrize('broken, message', [
    (lambda s: s.pop('description'), 'description missing or not a str'),
    (lambda s: s['spec'][1].pop('required'), 'question 1: required missing'),
    (lambda s: s['spec'][1].update(default='rolling'), "question 1: default 'rolling' is not one of the choices"),
    (lambda s: s['spec'][2].update(default='false\ntrue'), 'question 2: a multiple choice has one default'),
    (lambda s: s['spec'][2].update(variable='app_version'), 'question 2: variable app_version duplicated'),
    (lambda s: s['spec'][0].update(type='string'), 'question 0: type string not allowed'),
    (lambda s: s['spec'][0].update(max='128'), 'question 0: max must be an integer'),
    (lambda s: s['spec'][1].pop('choices'), 'question 1: multiplechoice must have choices'),
])
def test_the_rules_catch_what_awx_refuses(survey, broken, message):
    broken(survey)
    assert message in awx_survey_errors(survey)


def test_the_strategy_choices_are_the_roles(survey):
    item, option = question(survey, 'deploy_strategy'), strategy_option()
    assert item['type'] == 'multiplechoice'
    assert item['choices'] == option['choices']
    assert item['default'] == option['default']


def test_every_answer_is_read_by_the_playbook_or_the_role(survey, plays):
    with open(os.path.join(AWX, 'deploy.yml'), encoding='utf-8') as handle:
        playbook = handle.read()
    expressions = ' '.join(re.findall(r'\{\{(.*?)\}\}', playbook))
    for item in survey['spec']:
        name = item['variable']
        if name.startswith('deploy_'):
            # A role variable: the answer (an extra var) reaches the role as long as no play sets it.
            assert name in load_yaml(os.path.join(ROOT, 'roles', 'deploy', 'meta', 'argument_specs.yml'))[
                'argument_specs']['main']['options']
            assert all(name not in (play.get('vars') or {}) for play in plays)
        else:
            assert re.search(r'\b%s\b' % name, expressions), '%s is asked but not used' % name


def test_no_secret_is_asked_or_defaulted(survey):
    for item in survey['spec']:
        assert item['type'] != 'password'
        assert not re.search(r'secret|password|passwd|token|key', item['variable'], re.IGNORECASE)


@pytest.mark.parametrize('check_job', [False, True], ids=['job-type-run', 'job-type-check'])
def test_the_dry_run_answer_and_the_job_type_decide_check_mode(survey, plays, awx_job, check_job):
    """"false" must neither turn check mode on, nor off for a job of type Check.

    Each answer is tried as the string AWX sends and as what Ansible makes of
    the extravars file that writes it (!unsafe "false" is read back as False).
    """
    expression = plays[1]['check_mode']
    for answer in question(survey, 'dry_run')['choices']:
        loaded = DataLoader().load(awx_job.extravars({}, {'dry_run': answer}, 1))['dry_run']
        for value in (answer, loaded):
            templar = Templar(loader=DataLoader(), variables=dict(dry_run=value, ansible_check_mode=check_job))
            # Ansible turns the templated play keyword into a bool the same way.
            check_mode = boolean(templar.template(trust_as_template(expression)), strict=False)
            assert check_mode is (answer == 'true' or check_job), (value, check_job)


def test_the_checkout_runs_in_a_dry_run_too_and_feeds_the_role(plays):
    checkout, deploy = plays
    assert checkout['hosts'] == 'localhost'
    git = next(task for task in checkout['tasks'] if 'ansible.builtin.git' in task)
    assert git['check_mode'] is False
    assert git['ansible.builtin.git']['version'] == '{{ app_version }}'
    assert [role['role'] for role in deploy['roles']] == ['simpledeploy.django.deploy']
    assert deploy['vars']['deploy_source'] == "{{ hostvars['localhost']['app_source'] }}"


# ------------------------------------------------------------------ the driver tests/e2e/awx_job.py

@pytest.fixture(scope='module')
def awx_job():
    sys.path.insert(0, E2E)
    try:
        spec = importlib.util.spec_from_file_location('awx_job', os.path.join(E2E, 'awx_job.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(E2E)
    return module


@pytest.mark.parametrize('given, errors', [
    ({'app_version': 'v2'}, []),
    ({'app_version': 'v2', 'deploy_strategy': 'reload', 'dry_run': 'true'}, []),
    ({}, ['app_version: "Version to deploy" is required']),
    ({'app_version': 'v2', 'deploy_strategy': 'rolling'}, ['deploy_strategy: "rolling" is not one of auto, simple, reload, expand']),
    ({'app_version': 'v2', 'dry_run': True}, ['dry_run: True must be a string']),
    ({'app_version': 'v2', 'dry_run': 'yes'}, ['dry_run: "yes" is not one of false, true']),
    ({'app_version': 'x' * 129}, ['app_version: longer than 128 characters']),
    ({'app_version': 'v2', 'deploy_env': '{}'},
     ['deploy_env is not a question of the survey (app_version, deploy_strategy, dry_run)']),
])
def test_the_driver_refuses_the_answers_awx_refuses(awx_job, survey, given, errors):
    answers, found = awx_job.survey_answers(survey, given)
    assert found == errors
    if not errors:
        assert answers == dict({'deploy_strategy': 'auto', 'dry_run': 'false'}, **given)


def test_the_driver_writes_answers_that_ansible_never_templates(awx_job):
    text = awx_job.extravars({'deploy_app_name': 'person', 'greeting': '{{ 6 * 7 }}'},
                             {'app_version': '{{ 6 * 7 }}', 'dry_run': 'false'}, 4242)
    loaded = DataLoader().load(text)
    templar = Templar(loader=DataLoader(), variables={})
    # Launch-time answers are !unsafe, as AWX writes them; the job template's own vars are not.
    assert "app_version: !unsafe '{{ 6 * 7 }}'" in text
    assert templar.template(loaded['app_version']) == '{{ 6 * 7 }}'
    assert templar.template(trust_as_template(loaded['greeting'])) == 42
    assert loaded['awx_job_id'] == 4242 and loaded['deploy_app_name'] == 'person'
    # What examples/awx/deploy.yml copes with: ansible-core resolves the type of
    # an !unsafe scalar again, so the string "false" arrives as a boolean.
    assert loaded['dry_run'] is False


def test_the_app_repository_tags_hold_each_versions_files_exactly(awx_job, tmp_path):
    """v1's and v2's views.py have the same size; copied with their modification times, git's stat
    check took v2's as unchanged and the v2 tag served v1's page (in 11 of 12 repositories)."""
    import subprocess
    repo = awx_job.make_app_repo(str(tmp_path / 'repo'))
    for tag, source in awx_job.APP_VERSIONS:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames[:] = [name for name in dirnames if name not in ('__pycache__', 'media')]
            for name in filenames:
                if name.endswith('.pyc') or name == 'db.sqlite3':
                    continue
                path = os.path.join(dirpath, name)
                shown = subprocess.run(['git', '-C', repo, 'show', '%s:%s' % (tag, os.path.relpath(path, source))],
                                       stdout=subprocess.PIPE, check=True).stdout
                with open(path, 'rb') as handle:
                    assert shown == handle.read(), (tag, path)
