# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_pip_config: index credentials reach pip through a root-only pip.conf, never its command line."""

from __future__ import annotations

import os
import subprocess
import sys

import jinja2
import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'deploy')
TOKEN_URL = 'https://__token__:pypi-t0ken-5e1d@pkgs.example.com/simple'


def render(config):
    with open(os.path.join(ROLE, 'templates', 'pip.conf.j2'), encoding='utf-8') as handle:
        template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True).from_string(
            handle.read())
    return template.render(deploy_pip_config=config)


def pip_tasks():
    with open(os.path.join(ROLE, 'tasks', 'venv.yml'), encoding='utf-8') as handle:
        tasks = yaml.safe_load(handle)
    venv = next(task for task in tasks if task.get('name') == 'Preflight | Build the virtualenv beside the live one')
    return next(task for task in venv['block']
                if task.get('name') == 'Preflight | Install the requirements, and the WSGI server when they do not')


def test_pip_reads_the_rendered_config_from_the_virtualenv(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    (venv / 'pip.conf').write_text(render({
        'extra-index-url': [TOKEN_URL, 'https://mirror.example.com/simple'],
        'PIP_TRUSTED_HOST': 'pkgs.example.com', 'index_url': 'https://pypi.org/simple'}))
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('PIP_'))
    out = subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'config', 'list'], env=env, check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    assert "global.extra-index-url='%s https://mirror.example.com/simple'" % TOKEN_URL in out
    assert "global.trusted-host='pkgs.example.com'" in out
    assert "global.index-url='https://pypi.org/simple'" in out


def test_the_token_is_never_on_the_command_line_and_the_file_is_root_only():
    block = pip_tasks()
    write, install, dummy, install_wsgi = block['block']
    remove = block['always'][0]
    # the config goes through a no_log template, readable by root only, and is removed whatever happens
    assert write['ansible.builtin.template']['src'] == 'pip.conf.j2'
    assert write['ansible.builtin.template']['mode'] == '0600' and write['no_log'] is True
    assert write['ansible.builtin.template']['dest'] == remove['ansible.builtin.file']['path']
    assert remove['ansible.builtin.file']['state'] == 'absent'
    # pip's argv and environment do not carry it, in either pip run
    for task in (install, install_wsgi):
        assert 'deploy_pip_config' not in task['ansible.builtin.command']['argv']
        assert 'environment' not in task
    assert 'deploy_pip_config' not in block['vars']['__deploy_pip_install'] and 'environment' not in block


@pytest.mark.parametrize('config, expected', [
    ({}, '[global]\n'),
    ({'PIP_EXTRA_INDEX_URL': [TOKEN_URL]}, '[global]\nextra-index-url = %s\n' % TOKEN_URL),
    ({'no_cache_dir': True}, '[global]\nno-cache-dir = True\n'),
])
def test_render(config, expected):
    assert render(config).split('[global]\n', 1)[1] == expected.split('[global]\n', 1)[1]
