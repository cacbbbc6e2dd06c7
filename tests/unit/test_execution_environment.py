# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX execution environment: what ``ansible-builder create`` makes of
execution-environment.yml next to the built tarball (no image is built, nothing
is pulled), then the two steps of the image build that concern this collection,
run here offline: the galaxy stage's install from the build context, and the
introspect step that reads meta/execution-environment.yml from the installed
collection."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
EE_FILE = os.path.join(ROOT, 'execution-environment.yml')
ANSIBLE_BUILDER = shutil.which('ansible-builder')

pytestmark = pytest.mark.skipif(
    ANSIBLE_BUILDER is None,
    reason='ansible-builder is not on PATH: scripts/setup installs it into .venv (requirements-dev.txt); '
           'run the tests with scripts/test, or with .venv/bin on PATH (scripts/env)')

Built = collections.namedtuple('Built', 'tarball context build installed')


def load_yaml(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def galaxy_version():
    return load_yaml(os.path.join(ROOT, 'galaxy.yml'))['version']


def run(argv, **kwargs):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)
    assert proc.returncode == 0, '%s failed:\n%s' % (' '.join(argv), proc.stdout)
    return proc.stdout


def galaxy(*args, **kwargs):
    return run([sys.executable, '-m', 'ansible.cli.galaxy'] + list(args), **kwargs)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """As an AWX admin does: build the tarball beside execution-environment.yml, then create the context."""
    work = tmp_path_factory.mktemp('ee')
    galaxy('collection', 'build', ROOT, '--output-path', str(work))
    tarballs = sorted(work.glob('simpledeploy-django-*.tar.gz'))
    assert len(tarballs) == 1
    shutil.copy(EE_FILE, str(work / 'execution-environment.yml'))
    output = run([ANSIBLE_BUILDER, 'create', '--file', 'execution-environment.yml', '--context', 'context'],
                 cwd=str(work))
    assert 'No matches' not in output, output  # a tarball the definition names but the build did not make
    context = work / 'context'
    # The galaxy stage: COPY _build /build, WORKDIR /build, ansible-galaxy collection install -r requirements.yml.
    installed = work / 'installed'
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    # --force: this collection is also on PYTHONPATH here (ansible-test, pytest),
    # where ansible-galaxy would find it "already installed" and install nothing.
    galaxy('collection', 'install', '-r', 'requirements.yml', '--collections-path', str(installed), '--offline',
           '--force', cwd=str(context / '_build'), env=env)
    return Built(tarballs[0], context, context / '_build', installed)


def test_the_definition_names_the_tarball_the_build_makes(built):
    definition = load_yaml(EE_FILE)
    name = 'simpledeploy-django-%s.tar.gz' % galaxy_version()
    assert built.tarball.name == name
    assert [entry['src'] for entry in definition['additional_build_files']] == [name]
    assert definition['dependencies']['galaxy'] == {
        'collections': [{'name': 'collections/' + name, 'type': 'file'}]}


def test_the_context_holds_the_tarball_and_the_requirements(built):
    copied = built.build / 'collections' / built.tarball.name
    assert copied.read_bytes() == built.tarball.read_bytes()
    assert load_yaml(str(built.build / 'requirements.yml')) == {
        'collections': [{'name': 'collections/' + built.tarball.name, 'type': 'file'}]}
    assert (built.build / 'bindep.txt').read_text().split('\n')[0] == 'openssh-clients [platform:rpm]'
    assert (built.build / 'scripts' / 'introspect.py').is_file()


def pins():
    found = {}
    with open(os.path.join(ROOT, 'requirements-dev.txt'), encoding='utf-8') as handle:
        for line in handle:
            match = re.match(r'^([A-Za-z0-9_.-]+)==(\S+)$', line.strip())
            if match:
                found[match.group(1).lower()] = match.group(2)
    return found


def test_the_containerfile_installs_the_tested_ansible_on_python_312_and_the_collection(built):
    containerfile = (built.context / 'Containerfile').read_text()
    versions = pins()
    assert 'ARG PYCMD="/usr/bin/python3.12"' in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        versions['ansible-core'], versions['ansible-runner']) in containerfile
    galaxy_stage = containerfile.split('FROM base AS galaxy', 1)[1].split('FROM base AS builder', 1)[0]
    assert 'COPY _build /build\nWORKDIR /build\n' in galaxy_stage
    assert re.search(r'^RUN .*ansible-galaxy collection install .*-r requirements\.yml', galaxy_stage, re.MULTILINE)
    assert '--write-bindep=' in containerfile.split('FROM base AS builder', 1)[1]


def test_the_galaxy_stage_installs_this_collection_from_the_tarball(built):
    collection = built.installed / 'ansible_collections' / 'simpledeploy' / 'django'
    manifest = json.loads((collection / 'MANIFEST.json').read_text())
    assert manifest['collection_info']['version'] == galaxy_version()
    assert (collection / 'roles' / 'deploy' / 'tasks' / 'main.yml').is_file()
    assert (collection / 'examples' / 'awx' / 'deploy.yml').is_file()
    # Neither the drivers of the end-to-end tests nor the EE definition belong in an EE.
    assert not (collection / 'tests' / 'e2e').exists()
    assert not (collection / 'execution-environment.yml').exists()


def test_introspection_adds_git_from_the_collection_and_no_python_package(built, tmp_path):
    bindep, pip = tmp_path / 'bindep.txt', tmp_path / 'requirements.txt'
    run([sys.executable, str(built.build / 'scripts' / 'introspect.py'), 'introspect', str(built.installed),
         '--user-bindep', str(built.build / 'bindep.txt'), '--write-bindep', str(bindep), '--write-pip', str(pip)])
    assert bindep.read_text().splitlines() == [
        'git  # from collection simpledeploy.django',
        'openssh-clients [platform:rpm]  # from collection user',
    ]
    assert not pip.exists() or pip.read_text().strip() == ''
    # git is there for the AWX example, which checks the app out on the controller.
    with open(os.path.join(ROOT, 'examples', 'awx', 'deploy.yml'), encoding='utf-8') as handle:
        assert 'ansible.builtin.git:' in handle.read()
