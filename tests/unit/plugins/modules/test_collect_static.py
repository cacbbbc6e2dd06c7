# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""collect_static on real Django, run as a real unprivileged user (nobody): what is collected, where, as whom."""

from __future__ import absolute_import, division, print_function

import json
import os
import pwd
import stat

import pytest

from ansible_collections.simpledeploy.django.plugins.modules import collect_static

SECRET = 'static-test-secret-value-51c2e9'

SETTINGS = '''
import os
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ['DJANGO_SECRET_KEY']
DEBUG = False
ALLOWED_HOSTS = ['localhost']
INSTALLED_APPS = {apps!r}
ROOT_URLCONF = 'site_.urls'
DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': '/nonexistent/db.sqlite3'}}}}
STATIC_URL = '/static/'
{static_root}
STORAGES = {{'default': {{'BACKEND': 'django.core.files.storage.FileSystemStorage'}},
            'staticfiles': {{'BACKEND': 'django.contrib.staticfiles.storage.ManifestStaticFilesStorage'}}}}
if os.environ.get('WHO_RAN'):
    with open(os.environ['WHO_RAN'], 'a') as _who:
        _who.write('%d\\n' % os.geteuid())
'''

MANAGE = '''import os, sys
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_.settings')
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
'''

# A project whose own collectstatic leaves what the app user could plant: a link to a file of root's, or a FIFO.
PLANTING_COMMAND = '''import os
from django.conf import settings
from django.contrib.staticfiles.management.commands import collectstatic


class Command(collectstatic.Command):
    def handle(self, **options):
        said = super().handle(**options)
        target = os.path.join(settings.STATIC_ROOT, 'leak.css')
        if os.environ['PLANT'] == 'link':
            os.symlink('/etc/shadow', target)
        else:
            os.mkfifo(target)
        return said
'''


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)


def make_tree(base, name, css='body { color: black; }\n', static_root="STATIC_ROOT = BASE_DIR / 'staticfiles'",
              apps=('django.contrib.staticfiles', 'shop'), plant=False):
    """A release tree (root's, readable by everyone) holding a project with one app and one CSS file."""
    tree = os.path.join(base, name)
    write(os.path.join(tree, 'manage.py'), MANAGE)
    write(os.path.join(tree, 'site_', '__init__.py'), '')
    write(os.path.join(tree, 'site_', 'urls.py'), 'urlpatterns = []\n')
    # The project's own collectstatic wins only when its app comes before django.contrib.staticfiles.
    apps = list(reversed(apps)) if plant else list(apps)
    write(os.path.join(tree, 'site_', 'settings.py'), SETTINGS.format(apps=apps, static_root=static_root))
    write(os.path.join(tree, 'shop', '__init__.py'), '')
    write(os.path.join(tree, 'shop', 'static', 'shop', 'site.css'), css)
    if plant:
        write(os.path.join(tree, 'shop', 'management', '__init__.py'), '')
        write(os.path.join(tree, 'shop', 'management', 'commands', '__init__.py'), '')
        write(os.path.join(tree, 'shop', 'management', 'commands', 'collectstatic.py'), PLANTING_COMMAND)
    for top, dirs, files in os.walk(tree):
        os.chmod(top, 0o755)
        for name_ in files:
            os.chmod(os.path.join(top, name_), 0o644)
    return tree


@pytest.fixture
def env_file(world_readable_dir):
    who = os.path.join(world_readable_dir, 'who-ran')
    with open(who, 'w', encoding='utf-8'):
        pass
    os.chmod(who, 0o666)
    path = os.path.join(world_readable_dir, 'app.env')
    write(path, 'DJANGO_SECRET_KEY=%s\nWHO_RAN=%s\nPLANT=link\n' % (SECRET, who))
    os.chmod(path, 0o600)
    return path


def args(venv, tree, env_file, **extra):
    return dict(dict(project_path=tree, tree=tree, virtualenv=venv.path, env_file=env_file, run_as='nobody'), **extra)


def files_under(top):
    found = {}
    for here, dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(here, name)
            found[os.path.relpath(path, top)] = os.lstat(path)
    return found


def hashed_css(static_dir):
    with open(os.path.join(static_dir, 'staticfiles.json'), encoding='utf-8') as handle:
        return json.load(handle)['paths']['shop/site.css']


def test_collects_as_the_app_user_into_roots_own_files_in_the_tree(run_module, system_django_venv, world_readable_dir,
                                                                   env_file):
    tree = make_tree(world_readable_dir, 'staging')
    result = run_module(collect_static, args(system_django_venv, tree, env_file))
    assert not result.get('failed'), result
    assert result['changed'] and result['enabled'] and result['static_root'] == 'staticfiles'
    static = os.path.join(tree, 'staticfiles')
    found = files_under(static)
    assert hashed_css(static) in found and 'shop/site.css' in found and 'staticfiles.json' in found
    assert result['collected'] == len(found) and result['carried'] == 0
    # Every file and directory root's and read-only for others: the app user cannot change a live asset.
    assert {(info.st_uid, stat.S_IMODE(info.st_mode)) for info in found.values()} == {(0, 0o644)}
    assert all(os.lstat(here).st_uid == 0 for here, _d, _f in os.walk(static))
    # collectstatic (the project's settings) ran as nobody, never as root.
    with open(os.path.join(world_readable_dir, 'who-ran'), encoding='utf-8') as handle:
        assert set(handle.read().split()) == {str(pwd.getpwnam('nobody').pw_uid)}
    with open(os.path.join(tree, '.simpledeploy-static'), encoding='utf-8') as handle:
        assert sorted(json.load(handle)['files']) == sorted(found)
    # Nothing of the app user's work directory is left beside the tree.
    assert sorted(os.listdir(world_readable_dir)) == ['app.env', 'staging', 'who-ran']
    assert SECRET not in result.raw


def test_the_live_releases_own_files_are_carried_one_release_back(run_module, system_django_venv,
                                                                  world_readable_dir, env_file):
    old = make_tree(world_readable_dir, 'code', css='body { color: red; }\n')
    assert not run_module(collect_static, args(system_django_venv, old, env_file)).get('failed')
    old_css = hashed_css(os.path.join(old, 'staticfiles'))
    new = make_tree(world_readable_dir, 'staging', css='body { color: blue; }\n')
    result = run_module(collect_static, args(system_django_venv, new, env_file, previous_tree=old))
    assert not result.get('failed'), result
    static = os.path.join(new, 'staticfiles')
    new_css = hashed_css(static)
    assert new_css != old_css
    # The old release's pages reference old_css: it answers from the new tree too, the same bytes.
    with open(os.path.join(static, old_css), encoding='utf-8') as handle:
        assert handle.read() == 'body { color: red; }\n'
    with open(os.path.join(static, 'shop/site.css'), encoding='utf-8') as handle:
        assert handle.read() == 'body { color: blue; }\n'
    assert result['carried'] >= 1
    # Only the new release's own files are recorded: the next release carries one release back, not two.
    with open(os.path.join(new, '.simpledeploy-static'), encoding='utf-8') as handle:
        own = json.load(handle)['files']
    assert new_css in own and old_css not in own
    third = make_tree(world_readable_dir, 'third', css='body { color: green; }\n')
    run_module(collect_static, args(system_django_venv, third, env_file, previous_tree=new))
    assert os.path.exists(os.path.join(third, 'staticfiles', new_css))
    assert not os.path.exists(os.path.join(third, 'staticfiles', old_css))


@pytest.mark.parametrize('static_root, expected', [
    ("STATIC_ROOT = '/var/www/static'", r"STATIC_ROOT is /var/www/static, outside the release's tree .*"
                                        r"deploy_collectstatic: false"),
    ("STATIC_ROOT = BASE_DIR", r"STATIC_ROOT is .*outside the release's tree|which holds the project's code"),
    ("STATIC_ROOT = BASE_DIR / 'media' / 'static'", r"media of STATIC_ROOT \(media/static\) is a link"),
])
def test_a_static_root_it_cannot_keep_as_roots_is_refused_saying_what_to_set(
        run_module, system_django_venv, world_readable_dir, env_file, static_root, expected):
    import re
    tree = make_tree(world_readable_dir, 'staging', static_root=static_root)
    shared = os.path.join(world_readable_dir, 'shared-media')
    os.mkdir(shared)
    os.chown(shared, pwd.getpwnam('nobody').pw_uid, -1)
    os.symlink(shared, os.path.join(tree, 'media'))
    result = run_module(collect_static, args(system_django_venv, tree, env_file))
    assert result['failed'] and re.search(expected, result['msg']), result['msg']
    assert os.listdir(shared) == []
    assert not os.path.exists(os.path.join(tree, '.simpledeploy-static'))


def test_no_staticfiles_app_changes_nothing_and_says_why(run_module, system_django_venv, world_readable_dir, env_file):
    tree = make_tree(world_readable_dir, 'staging', apps=('shop',))
    result = run_module(collect_static, args(system_django_venv, tree, env_file))
    assert not result['changed'] and not result['enabled']
    assert result['reason'] == 'django.contrib.staticfiles is not in INSTALLED_APPS'
    assert not os.path.exists(os.path.join(tree, 'staticfiles'))


def test_check_mode_says_where_it_would_collect_and_writes_nothing(
        run_module, system_django_venv, world_readable_dir, env_file):
    tree = make_tree(world_readable_dir, 'staging')
    result = run_module(collect_static, args(system_django_venv, tree, env_file), check_mode=True)
    assert result['changed'] and result['enabled'] and result['static_root'] == 'staticfiles'
    assert result['collected'] == 0
    assert not os.path.exists(os.path.join(tree, 'staticfiles'))
    assert sorted(os.listdir(world_readable_dir)) == ['app.env', 'staging', 'who-ran']


def test_check_mode_removes_the_preview_it_read_last(run_module, system_django_venv, env_file):
    # The role's check mode: the preview tree release_stage made is read last here, and removed in the same
    # execution, after a failure too.
    import tempfile
    from ansible_collections.simpledeploy.django.plugins.module_utils import _stage
    preview = tempfile.mkdtemp(prefix=_stage.PREVIEW_PREFIX)
    os.chmod(preview, 0o755)
    tree = make_tree(preview, 'tree')
    result = run_module(collect_static, args(system_django_venv, tree, env_file, discard=preview), check_mode=True)
    assert not result.get('failed'), result
    assert result['discarded'] is True and result['static_root'] == 'staticfiles' and not os.path.exists(preview)
    preview = tempfile.mkdtemp(prefix=_stage.PREVIEW_PREFIX)
    os.chmod(preview, 0o755)
    result = run_module(collect_static, args(system_django_venv, os.path.join(preview, 'missing'), env_file,
                                             discard=preview), check_mode=True)
    assert result['failed'] and result['discarded'] is True and not os.path.exists(preview)


@pytest.mark.parametrize('make', ['other-name', 'link', 'another-users'])
def test_only_a_preview_directory_of_its_own_is_removed(tmp_path, make):
    from ansible_collections.simpledeploy.django.plugins.module_utils import _stage
    target = tmp_path / (_stage.PREVIEW_PREFIX + 'x')
    target.mkdir()
    (target / 'kept').write_text('data')
    path = str(target)
    if make == 'other-name':
        path = str(tmp_path / 'simpledeploy-other')
        os.rename(str(target), path)
    elif make == 'link':
        path = str(tmp_path / (_stage.PREVIEW_PREFIX + 'link'))
        os.symlink(str(target), path)
    else:
        os.chown(path, 65534, 65534)
    with pytest.raises(_stage.StageError):
        _stage.discard_preview(path)
    assert os.path.exists(os.path.join(os.path.realpath(path), 'kept'))


@pytest.mark.parametrize('plant', ['link', 'fifo'])
def test_a_link_or_fifo_the_app_user_leaves_in_its_output_is_refused_and_never_followed(
        run_module, system_django_venv, world_readable_dir, env_file, plant):
    with open(env_file, 'a', encoding='utf-8') as handle:
        handle.write('PLANT=%s\n' % plant)
    tree = make_tree(world_readable_dir, 'staging', plant=True)
    result = run_module(collect_static, args(system_django_venv, tree, env_file))
    assert result['failed']
    assert 'collectstatic left leak.css, which is not a regular file or a directory' in result['msg']
    leaked = os.path.join(tree, 'staticfiles', 'leak.css')
    assert not os.path.lexists(leaked)
    assert sorted(os.listdir(world_readable_dir)) == ['app.env', 'staging', 'who-ran']


def test_collectstatics_own_error_is_in_the_message_with_secrets_masked(run_module, system_django_venv,
                                                                        world_readable_dir, env_file):
    tree = make_tree(world_readable_dir, 'staging')
    # A template referencing a file that does not exist: ManifestStaticFilesStorage's post-process fails.
    write(os.path.join(tree, 'shop', 'static', 'shop', 'site.css'),
          "body { background: url('missing-%s.png'); }\n" % SECRET)
    os.chmod(os.path.join(tree, 'shop', 'static', 'shop', 'site.css'), 0o644)
    result = run_module(collect_static, args(system_django_venv, tree, env_file))
    assert result['failed']
    assert 'collectstatic --noinput failed' in result['msg']
    assert "could not be found with" in result['msg']
    assert SECRET not in result.raw
    assert not os.path.exists(os.path.join(tree, 'staticfiles'))


def test_what_a_killed_run_left_beside_the_tree_is_removed(
        run_module, system_django_venv, world_readable_dir, env_file):
    left = os.path.join(world_readable_dir, '.simpledeploy-static-killedrun')
    os.makedirs(os.path.join(left, 'out', 'deep'))
    os.chown(os.path.join(left, 'out'), pwd.getpwnam('nobody').pw_uid, -1)
    os.symlink('/etc', os.path.join(left, 'out', 'deep', 'etc'))
    tree = make_tree(world_readable_dir, 'staging')
    assert not run_module(collect_static, args(system_django_venv, tree, env_file)).get('failed')
    assert not os.path.lexists(left)
    assert os.path.isdir('/etc/ssl')


def test_a_static_root_the_release_ships_files_in_is_refused_naming_them(
        run_module, system_django_venv, world_readable_dir, env_file):
    tree = make_tree(world_readable_dir, 'staging')
    write(os.path.join(tree, 'staticfiles', 'old.css'), 'committed by mistake\n')
    result = run_module(collect_static, args(system_django_venv, tree, env_file))
    assert result['failed']
    assert 'STATIC_ROOT (staticfiles) is a directory the release ships (old.css)' in result['msg']
    assert os.listdir(os.path.join(tree, 'staticfiles')) == ['old.css']


# ------------------------------------------------------------------ from migration_status (collect_static)

def test_migration_status_reads_the_plan_then_collects_in_the_same_execution(
        run_module, system_django_venv, world_readable_dir, env_file):
    # The deploy role's one task before the switch: the plan, then the static files as collect_static places them.
    from ansible_collections.simpledeploy.django.plugins.modules import migration_status
    tree = make_tree(world_readable_dir, 'staging')
    result = run_module(migration_status, dict(project_path=tree, virtualenv=system_django_venv.path,
                                               env_file=env_file, run_as='nobody',
                                               collect_static=dict(tree=tree)))
    assert not result.get('failed'), result
    assert result['pending'] is False and result['changed'] is True
    static = result['static']
    assert static['enabled'] and static['static_root'] == 'staticfiles' and static['collected'] > 0
    assert static['discarded'] is False
    hashed = hashed_css(os.path.join(tree, 'staticfiles'))
    assert os.lstat(os.path.join(tree, 'staticfiles', hashed)).st_uid == 0
    assert SECRET not in result.raw


def test_migration_status_fails_with_collectstatics_own_error(
        run_module, system_django_venv, world_readable_dir, env_file):
    from ansible_collections.simpledeploy.django.plugins.modules import migration_status
    tree = make_tree(world_readable_dir, 'staging')
    write(os.path.join(tree, 'shop', 'static', 'shop', 'site.css'), "body { background: url('missing.png'); }\n")
    os.chmod(os.path.join(tree, 'shop', 'static', 'shop', 'site.css'), 0o644)
    result = run_module(migration_status, dict(project_path=tree, virtualenv=system_django_venv.path,
                                               env_file=env_file, run_as='nobody',
                                               collect_static=dict(tree=tree)))
    assert result['failed'] and 'collectstatic --noinput failed' in result['msg']
    assert "could not be found with" in result['msg']
    assert not os.path.exists(os.path.join(tree, 'staticfiles'))


def test_migration_status_without_collect_static_changes_nothing(
        run_module, system_django_venv, world_readable_dir, env_file):
    from ansible_collections.simpledeploy.django.plugins.modules import migration_status
    tree = make_tree(world_readable_dir, 'staging')
    result = run_module(migration_status, dict(project_path=tree, virtualenv=system_django_venv.path,
                                               env_file=env_file, run_as='nobody'))
    assert not result.get('failed'), result
    assert result['changed'] is False and 'static' not in result
    assert not os.path.exists(os.path.join(tree, 'staticfiles'))
