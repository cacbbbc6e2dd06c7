# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""validate.yml's first check: each condition once, beside its message; the first that fails names the problem.

The task is evaluated by Ansible's templating with its own vars, as the role runs it. The messages are
those the role printed when each condition was written twice (once in `that`, once in the message chain).
"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.simpledeploy.django.tests.unit.conftest import trusted

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
VALIDATE = os.path.join(ROOT, 'roles', 'deploy', 'tasks', 'validate.yml')


def first_task():
    with open(VALIDATE, encoding='utf-8') as handle:
        return next(task for task in yaml.safe_load(handle)
                    if task['name'] == 'Validate | Check the variables the argument spec cannot')


def validate(source, **overrides):
    """(whether the first task of validate.yml passes, its message)."""
    variables = dict(
        deploy_app_name='person', deploy_root='/srv/person', deploy_source=source, deploy_manage_service=True,
        deploy_wsgi_app='mysite.wsgi:application', __deploy_shared_paths=['media', 'db.sqlite3'],
        __deploy_requirements_src='', deploy_pip_extra_args='', deploy_env={'A': 'b'},
        deploy_gunicorn_bind='127.0.0.1:8000', deploy_gunicorn_extra_args=[], deploy_keep_releases=5, deploy_prepare_nice=10)
    variables.update(overrides)
    task = first_task()
    variables.update(trusted(task['vars']))
    check = task['ansible.builtin.assert']
    templar = Templar(loader=DataLoader(), variables=variables)
    passed = templar.evaluate_conditional(trust_as_template(check['that']))
    return passed, None if passed else templar.template(trust_as_template(check['fail_msg']))


# In the order of the checks: the input that fails one, and the message (as the role printed it before).
CASES = [
    ('app-name', dict(deploy_app_name='Bad name'),
     'deploy_app_name must be lower-case letters, digits, - and _, starting with a letter (got Bad name)'),
    ('deploy-root', dict(deploy_root='/srv/my app'),
     'deploy_root must be an absolute path of letters, digits and _ . / - (it goes into the unit file and the '
     'service environment unquoted); got /srv/my app'),
    ('deploy-source', dict(deploy_source='/nonexistent/src'),
     'deploy_source /nonexistent/src does not exist or is not a directory on the controller; set it to the '
     'directory that holds the project (manage.py)'),
    ('prepare-nice', dict(deploy_prepare_nice=20),
     'deploy_prepare_nice must be between 0 (the usual priority) and 19 (the lowest); got 20'),
    ('keep-releases', dict(deploy_keep_releases=1),
     'deploy_keep_releases must be 2 or more (the live release and the one a failed deploy goes back to); got 1'),
    ('wsgi-app', dict(deploy_wsgi_app=''),
     'deploy_wsgi_app is required when deploy_manage_service is true, e.g. mysite.wsgi:application'),
    ('shared-paths', dict(__deploy_shared_paths=['media', '../etc']),
     'deploy_shared_dirs and deploy_shared_files must be relative paths inside the project, without ..'),
    ('pip-credentials', dict(deploy_pip_extra_args='--extra-index-url https://u:t@pkgs.example.com/simple'),
     "deploy_pip_extra_args holds a URL with credentials (user:token@), which would be on pip's command line, "
     'where every local user can read it; put the index in deploy_pip_config (e.g. extra-index-url: ...) instead'),
    ('env-keys', dict(deploy_env={'1A': 'x', 'OK': 'y', 'B-C': 'z'}),
     'deploy_env keys must be environment variable names (letters, digits and _, not starting with a digit); '
     'rename 1A, B-C'),
    ('env-nul', dict(deploy_env={'K': 'a\0b', 'OK': 'y', 'L': 'c\0'}),
     'the value of deploy_env K, L holds a NUL byte, which no environment variable can carry (the value would '
     'end there); remove it'),
    ('gunicorn-bind', dict(deploy_gunicorn_bind='localhost:8000'),
     'deploy_gunicorn_bind must be an IP address and port (127.0.0.1:8000, [::1]:8000) or unix:/path/to.sock '
     '(letters, digits and _ . / -): systemd listens on it for gunicorn (socket activation) and takes no host '
     'name; got localhost:8000'),
    ('gunicorn-args', dict(deploy_gunicorn_extra_args=['--name', 'a\nb']),
     "deploy_wsgi_app, deploy_gunicorn_bind and every item of deploy_gunicorn_extra_args are each one argument "
     "on gunicorn's command line and cannot hold a line break or a NUL byte; give one argument per list item "
     "(e.g. ['--name', 'my app'])"),
    ('requirements', dict(__deploy_requirements_src='/nonexistent/requirements.txt'),
     'the requirements file /nonexistent/requirements.txt does not exist; set deploy_requirements_file '
     '("" for none)'),
]


def test_good_inputs_pass(tmp_path):
    assert validate(str(tmp_path)) == (True, None)
    assert validate(str(tmp_path), deploy_manage_service=False, deploy_wsgi_app='') == (True, None)


@pytest.mark.parametrize('overrides, message', [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_check_fails_with_its_own_message(tmp_path, overrides, message):
    assert validate(str(tmp_path), **overrides) == (False, message)


@pytest.mark.parametrize('first, later', [(CASES[i], CASES[j]) for i in range(len(CASES))
                                          for j in range(i + 1, len(CASES))],
                         ids=['%s-before-%s' % (CASES[i][0], CASES[j][0]) for i in range(len(CASES))
                              for j in range(i + 1, len(CASES))])
def test_the_first_failing_check_names_the_problem(tmp_path, first, later):
    overrides = dict(later[1], **first[1])
    if 'deploy_env' in first[1] and 'deploy_env' in later[1]:
        overrides['deploy_env'] = dict(later[1]['deploy_env'], **first[1]['deploy_env'])
    message = validate(str(tmp_path), **overrides)[1]
    assert message == first[2]


def test_a_value_of_deploy_env_is_never_in_a_message(tmp_path):
    passed, message = validate(str(tmp_path), deploy_env={'1BAD': 'top-secret', 'GOOD': 'secret\0value'})
    assert not passed and 'secret' not in message


def test_each_check_is_written_once():
    task = first_task()
    checks = task['vars']['__deploy_input_checks']
    assert len(checks) == len(CASES)
    assert all(set(check) == {'ok', 'msg'} for check in checks)
    assert '__deploy_input_checks' in task['vars']['__deploy_input_problems']


def task_named(name):
    with open(VALIDATE, encoding='utf-8') as handle:
        return next(task for task in yaml.safe_load(handle) if task.get('name') == name)


NO_ANSWER = dict(active=True, status=None, answered=False, last='no answer (connection refused)')


@pytest.mark.parametrize('health, stops, nothing_to_do', [
    (None, False, False),  # no health URL, or nothing live yet
    (dict(active=False, status=None, answered=False, last='not asked: person is inactive'), False, False),
    (dict(active=True, status=400, answered=False, last='HTTP 400'), False, False),  # an answer: maybe what this fixes
    (NO_ANSWER, True, False),
    # Nothing to do: nothing stops, verify.yml asks again with retries (a moment without an answer is no reason).
    (NO_ANSWER, False, True),
])
def test_the_live_release_check_stops_only_a_running_service_that_does_not_answer(health, stops, nothing_to_do):
    # release_info asks only a running service (a request through the socket would start a stopped one):
    # a stopped one is no reason to stop the deploy, a running one that answers nothing is.
    check = task_named('Validate | Refuse a deploy root that is not ours, a planted link in shared/, a missing '
                       'service or health URL')['ansible.builtin.assert']
    info = dict(safe=True, shared_problems=[], service_exists=True, health=health, nothing_to_do=nothing_to_do)
    variables = dict(__deploy_info=info, deploy_healthcheck_url='http://127.0.0.1:8000/', deploy_service_name='person',
                     deploy_manage_service=True)
    templar = Templar(loader=DataLoader(), variables=variables)
    assert all(templar.evaluate_conditional(trust_as_template(that)) for that in check['that']) is not stops
    # Ansible renders the message whether or not the check fails (no health asked on a first deploy included).
    message = templar.template(trust_as_template(check['fail_msg']))
    if stops:
        assert message.startswith('deploy_healthcheck_url http://127.0.0.1:8000/ does not answer (no answer '
                                  '(connection refused)) although person is running')
    ask = task_named('Validate | Read the deploy root on the host')['simpledeploy.django.release_info']
    assert ask['service'] == '{{ deploy_service_name }}'
    assert ask['health_url'] == '{{ deploy_healthcheck_url | default(omit, true) }}'
