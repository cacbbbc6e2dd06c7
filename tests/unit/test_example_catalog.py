# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog example (examples/catalog): what the Molecule scenario relies on.

Read from the files, no network: the requirements nest (-r, -c) and pin every
package, gunicorn at a version other than the role's default; v2 -> v3 changes
a pin in the nested file only (so only the virtualenv's key over every included
file sees it); v2 adds a nullable field with its migration; the CSS (hence its
hashed name) changes in v3 only; deploy-vars.yml names only role variables.

Run for real, in a virtualenv made from the release's own requirements
(cached, built once per set of pins) and gunicorn, DEBUG off: settings from the
environment, ``/`` redirecting, pages naming hashed static files that answer,
the catalog_ready hook.
"""

from __future__ import annotations

import ast
import collections
import filecmp
import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from ansible_collections.simpledeploy.django.plugins.module_utils import _requirements
from ansible_collections.simpledeploy.django.tests.unit.conftest import build_venv, cache_dir, venv_python

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CATALOG = os.path.join(ROOT, 'examples', 'catalog')
RELEASES = ('v1', 'v2', 'v3')
CSS = 'books/static/books/css/catalog.css'
PIN = re.compile(r'^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)$')
SECRET = 'catalog-test-not-a-secret-5d1e0c7a9b'
API_TOKEN = 'catalog-test-api-token-8c2f51e0'
BEARER = {'Authorization': 'Bearer ' + API_TOKEN}


def path_of(release, *parts):
    return os.path.join(CATALOG, release, *parts)


def text_of(release, relpath):
    with open(path_of(release, relpath), encoding='utf-8') as handle:
        return handle.read()


def requirement_files(release):
    """(files, urls) that the release's requirements.txt pulls in, followed as the role follows them."""
    def read(relpath):
        return text_of(release, relpath) if os.path.isfile(path_of(release, relpath)) else None
    return _requirements.included_files('requirements.txt', read)


def pins(release):
    """{package (lower case): version} of every line of the files the requirements include."""
    found = {}
    for relpath in requirement_files(release)[0]:
        for line in _requirements.logical_lines(text_of(release, relpath)):
            if _requirements.includes(line):
                continue
            match = PIN.match(line)
            assert match, '%s/%s: %r is not an exact pin' % (release, relpath, line)
            found[match.group(1).lower().replace('_', '-')] = match.group(2)
    return found


def venv_key(release):
    """The digest the role names the release's virtualenv after."""
    files, urls = requirement_files(release)

    def sha256_of(relpath):
        with open(path_of(release, relpath), 'rb') as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    return _requirements.digest(files, urls, sha256_of)


def hashed_css(release):
    """The name ManifestStaticFilesStorage gives the release's CSS (md5 of its bytes: it has no url())."""
    with open(path_of(release, CSS), 'rb') as handle:
        content = handle.read()
    assert b'url(' not in content, 'the CSS references files: its hashed name is no longer the md5 of its bytes'
    return 'books/css/catalog.%s.css' % hashlib.md5(content).hexdigest()[:12]


def role_file(*parts):
    with open(os.path.join(ROOT, 'roles', 'deploy', *parts), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def role_defaults():
    return role_file('defaults', 'main.yml')


def role_options():
    return role_file('meta', 'argument_specs.yml')['argument_specs']['main']['options']


def migrations_of(release):
    folder = path_of(release, 'books', 'migrations')
    return sorted(name for name in os.listdir(folder) if re.match(r'^\d{4}_\w+\.py$', name))


def book_fields(release):
    """Names of the fields of the Book model, read from books/models.py."""
    tree = ast.parse(text_of(release, 'books/models.py'))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == 'Book':
            return [target.id for stmt in node.body if isinstance(stmt, ast.Assign)
                    for target in stmt.targets if isinstance(target, ast.Name)]
    raise AssertionError('%s: no Book model' % release)


# --- From the files ---------------------------------------------------------


@pytest.mark.parametrize('release', RELEASES)
def test_requirements_nest_and_pin_every_package(release):
    files, urls = requirement_files(release)
    assert files == ['requirements.txt', 'requirements/base.txt', 'requirements/constraints.txt']
    assert urls == []
    top = _requirements.logical_lines(text_of(release, 'requirements.txt'))
    assert top == ['-r requirements/base.txt', '-c requirements/constraints.txt'], \
        'requirements.txt holds only the includes: every pin is in a nested file'
    found = pins(release)
    assert found['django'].startswith('5.2.')
    assert {'django', 'dj-database-url', 'gunicorn', 'whitenoise'} <= set(found)


@pytest.mark.parametrize('release', RELEASES)
def test_gunicorn_is_pinned_at_another_version_than_the_roles(release):
    default = role_defaults()['deploy_gunicorn_package']
    name, default_version = default.split('==')
    assert name == 'gunicorn'
    pinned = pins(release)['gunicorn']
    assert pinned != default_version, 'the scenario could not tell the project pin from the role default'


def test_v3_changes_a_pin_in_the_nested_file_only():
    assert filecmp.cmp(path_of('v2', 'requirements.txt'), path_of('v3', 'requirements.txt'), shallow=False)
    before, after = pins('v2'), pins('v3')
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    assert changed == ['whitenoise']
    assert venv_key('v2') != venv_key('v3')
    # Unchanged requirements keep the virtualenv: v1 -> v2 builds none.
    assert venv_key('v1') == venv_key('v2')


def test_each_release_keeps_the_migrations_before_it():
    for older, newer in zip(RELEASES, RELEASES[1:]):
        kept = migrations_of(older)
        assert set(kept) <= set(migrations_of(newer))
        for name in kept:
            assert filecmp.cmp(path_of(older, 'books', 'migrations', name),
                               path_of(newer, 'books', 'migrations', name), shallow=False), \
                '%s rewrites %s, applied by %s' % (newer, name, older)
    assert migrations_of('v1') == ['0001_initial.py', '0002_first_books.py']
    assert migrations_of('v3') == migrations_of('v2')


def test_v2_adds_a_nullable_field_with_its_migration():
    assert 'year' not in book_fields('v1')
    assert 'year' in book_fields('v2')
    added = [name for name in migrations_of('v2') if name not in migrations_of('v1')]
    assert added == ['0003_book_year.py']
    tree = ast.parse(text_of('v2', 'books/migrations/0003_book_year.py'))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, 'attr', None) == 'AddField']
    assert len(calls) == 1
    keywords = {kw.arg: kw.value for kw in calls[0].keywords}
    assert ast.literal_eval(keywords['model_name']) == 'book'
    assert ast.literal_eval(keywords['name']) == 'year'
    field = {kw.arg: ast.literal_eval(kw.value) for kw in keywords['field'].keywords if kw.arg == 'null'}
    assert field == {'null': True}, 'the old release must keep working on the new schema'
    assert 'book.year' in text_of('v2', 'books/templates/books/index.html')


@pytest.mark.parametrize('release', RELEASES)
def test_each_release_says_which_it_is(release):
    assert 'RELEASE = "%s"' % release in text_of(release, 'books/__init__.py')


def test_the_css_and_so_its_hashed_name_changes_in_v3_only():
    assert hashed_css('v1') == hashed_css('v2')
    assert hashed_css('v3') != hashed_css('v2')
    for release in RELEASES:
        assert "{% static 'books/css/catalog.css' %}" in text_of(release, 'books/templates/books/base.html')
    assert 'tagline' not in text_of('v2', 'books/templates/books/base.html')
    assert 'tagline' in text_of('v3', 'books/templates/books/base.html')


def test_deploy_vars_are_role_variables_that_fit_the_project():
    with open(os.path.join(CATALOG, 'deploy-vars.yml'), encoding='utf-8') as handle:
        deploy_vars = yaml.safe_load(handle)
    unknown = sorted(set(deploy_vars) - set(role_options()))
    assert unknown == []
    module, attribute = deploy_vars['deploy_wsgi_app'].split(':')
    for release in RELEASES:
        wsgi = text_of(release, module.replace('.', '/') + '.py')
        assert re.search(r'^%s = ' % attribute, wsgi, re.M)
        settings = text_of(release, 'config/settings.py')
        assert "BASE_DIR / 'data' / 'db.sqlite3'" in settings
    assert 'data' in deploy_vars['deploy_shared_dirs']
    assert {'DJANGO_SECRET_KEY', 'DJANGO_ALLOWED_HOSTS'} <= set(deploy_vars['deploy_env'])


# --- Run for real -------------------------------------------------------------


@pytest.fixture(scope='module')
def catalog_venvs():
    """``get(release)`` -> the python of a virtualenv made from the release's requirements (cached by pins)."""
    python = venv_python()
    if python is None:
        pytest.skip('no Python >= 3.12 for the test virtualenvs')
    made = {}

    def get(release):
        key = venv_key(release)[:16]
        if key not in made:
            base = os.path.join(cache_dir(), 'catalog-' + key)
            made[key] = build_venv('5.2', python, base=base,
                                   extra_packages=['-r', path_of(release, 'requirements.txt')])
        return made[key]
    return get


def project_env(**extra):
    env = dict(os.environ, DJANGO_SECRET_KEY=SECRET, DJANGO_ALLOWED_HOSTS='catalog.example.com',
               CATALOG_API_TOKEN=API_TOKEN)
    for name in ('DJANGO_DEBUG', 'DATABASE_URL', 'DJANGO_SETTINGS_MODULE', 'PYTHONPATH'):
        env.pop(name, None)
    env.update(extra)
    return env


def manage(venv, project, *args, env=None):
    return subprocess.run([venv.python, 'manage.py'] + list(args), cwd=project, env=env or project_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, check=False)


def copy_release(release, dest, data):
    shutil.copytree(path_of(release), dest, ignore=shutil.ignore_patterns('__pycache__', 'data', 'staticfiles'))
    os.symlink(data, os.path.join(dest, 'data'))
    return dest


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


Answer = collections.namedtuple('Answer', 'status headers body')


def get(url, host='catalog.example.com', data=None, headers=None):
    """The Answer to a GET (a POST of the form DATA), redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=dict(headers or {}, Host=host),
                                     data=urllib.parse.urlencode(data).encode() if data is not None else None)
    try:
        with opener.open(request, timeout=10) as response:
            return Answer(response.status, response.headers, response.read().decode('utf-8', 'replace'))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers, exc.read().decode('utf-8', 'replace'))


def serve(venv, project, log):
    """Start the release's own gunicorn (its output to the file LOG); return (process, base URL) once it answers."""
    port = free_port()
    gunicorn = os.path.join(os.path.dirname(venv.python), 'gunicorn')
    with open(log, 'wb') as output:
        process = subprocess.Popen([gunicorn, '-b', '127.0.0.1:%d' % port, '-w', '1', 'config.wsgi:application'],
                                   cwd=project, env=project_env(), stdout=output, stderr=subprocess.STDOUT)
    base = 'http://127.0.0.1:%d' % port
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            get(base + '/')
            return process, base
        except OSError:
            if process.poll() is not None:
                with open(log, encoding='utf-8', errors='replace') as output:
                    raise AssertionError('gunicorn exited: %s' % output.read())
            time.sleep(0.1)
    process.kill()
    raise AssertionError('gunicorn did not answer within 30 s')


def stop(process):
    process.terminate()
    process.wait(timeout=30)


def add_book(base, release):
    """POST a book to /books/add/: refused without the token, added with it; return the JSON answer."""
    book = {'title': 'Written under %s' % release, 'author': 'A. Client'}
    assert get(base + '/books/add/').status == 405
    assert get(base + '/books/add/', data=book).status == 403
    assert get(base + '/books/add/', data=book, headers={'Authorization': 'Bearer not-the-token'}).status == 403
    assert get(base + '/books/add/', data={'title': 'no author'}, headers=BEARER).status == 400
    added = get(base + '/books/add/', data=book, headers=BEARER)
    assert (added.status, added.headers['X-Release']) == (201, release), added.body
    return json.loads(added.body)


def test_settings_come_from_the_environment(catalog_venvs, tmp_path):
    venv = catalog_venvs('v1')
    project = copy_release('v1', str(tmp_path / 'v1'), str(tmp_path))
    failed = manage(venv, project, 'check', env=project_env(DJANGO_SECRET_KEY=''))
    assert failed.returncode != 0
    assert 'DJANGO_SECRET_KEY is not set' in failed.stderr
    shown = manage(venv, project, 'diffsettings', '--all',
                   env=project_env(DJANGO_ALLOWED_HOSTS='a.example, b.example'))
    assert shown.returncode == 0, shown.stderr
    assert "ALLOWED_HOSTS = ['a.example', 'b.example']" in shown.stdout
    assert re.search(r'^(### )?DEBUG = False$', shown.stdout, re.M)
    assert "'NAME': '%s'" % os.path.join(project, 'data', 'db.sqlite3') in shown.stdout
    assert "STATIC_ROOT = PosixPath('%s')" % os.path.join(project, 'staticfiles') in shown.stdout
    assert 'whitenoise.storage.CompressedManifestStaticFilesStorage' in shown.stdout
    debug = manage(venv, project, 'diffsettings', '--all', env=project_env(DJANGO_DEBUG='1'))
    assert re.search(r'^DEBUG = True$', debug.stdout, re.M)
    other = manage(venv, project, 'diffsettings', '--all',
                   env=project_env(DATABASE_URL='sqlite:///%s' % (tmp_path / 'other.sqlite3')))
    assert "'NAME': '%s'" % (tmp_path / 'other.sqlite3') in other.stdout


def test_catalog_ready_is_a_hook_that_can_fail(catalog_venvs, tmp_path):
    venv = catalog_venvs('v1')
    project = copy_release('v1', str(tmp_path / 'v1'), str(tmp_path))
    on_purpose = manage(venv, project, 'catalog_ready', '--fail')
    assert on_purpose.returncode == 1
    assert 'failing on purpose' in on_purpose.stderr
    # Before migrate: read-only, it passes; --record needs the tables.
    before = manage(venv, project, 'catalog_ready')
    assert before.returncode == 0, before.stderr
    assert 'books: no table yet' in before.stdout
    assert manage(venv, project, 'catalog_ready', '--record').returncode == 1
    assert manage(venv, project, 'migrate', '--noinput').returncode == 0
    no_static = manage(venv, project, 'catalog_ready', '--record')
    assert no_static.returncode == 1
    assert 'collectstatic' in no_static.stderr
    assert manage(venv, project, 'collectstatic', '--noinput').returncode == 0
    for attempt in ('first', 'again'):
        ready = manage(venv, project, 'catalog_ready', '--record')
        assert ready.returncode == 0, (attempt, ready.stderr)
        assert 'books: 3; unapplied migrations: 0; static manifest: present' in ready.stdout


def test_releases_serve_with_debug_off_and_upgrade(catalog_venvs, tmp_path):
    """v1, v2, v3 in turn on one database: / redirects, the page and its hashed CSS answer."""
    data = str(tmp_path / 'shared-data')
    os.mkdir(data)
    names = {}
    for release in RELEASES:
        venv = catalog_venvs(release)
        project = copy_release(release, str(tmp_path / release), data)
        migrated = manage(venv, project, 'migrate', '--noinput')
        assert migrated.returncode == 0, migrated.stderr
        if release == 'v2':
            assert 'Applying books.0003_book_year... OK' in migrated.stdout
        collected = manage(venv, project, 'collectstatic', '--noinput')
        assert collected.returncode == 0, collected.stderr
        process, base = serve(venv, project, str(tmp_path / ('gunicorn-%s.log' % release)))
        try:
            root = get(base + '/')
            assert (root.status, root.headers['Location']) == (302, '/books/')
            assert get(base + '/books/', host='not-allowed.example').status == 400
            index = get(base + '/books/')
            assert index.status == 200, index.body[:500]
            page = index.body
            assert '<meta name="release" content="%s">' % release in page
            assert 'Pride and Prejudice' in page
            assert ('First published' in page) == (release != 'v1')
            assert index.headers['X-Release'] == release
            added = add_book(base, release)
            assert 'Written under %s' % release in get(base + '/books/').body
            assert added['release'] == release
            names[release] = hashed_css(release)
            assert '/static/%s' % names[release] in page
            css = get(base + '/static/' + names[release])
            assert css.status == 200
            assert css.headers['Content-Type'].startswith('text/css')
        finally:
            stop(process)
    assert names['v3'] != names['v2']
