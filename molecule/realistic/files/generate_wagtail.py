# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate a Wagtail project that none of us wrote, in two releases, for a deploy test.

Usage: ``generate_wagtail.py OUT [--wagtail VERSION] [--python PYTHON] [--venv DIR] [--whitenoise VERSION]``

Runs on the controller, standard library only. In OUT it makes:

- ``venv/``: a virtualenv of PYTHON (default: the one running this) with
  ``wagtail==VERSION`` from PyPI (reused when it already holds that version;
  ``--venv DIR`` puts it elsewhere, e.g. in a cache that outlives OUT, where
  runs at the same time wait for each other);
- ``v1/``: ``wagtail start mysite v1``, the project exactly as the generator
  makes it (its ``requirements.txt``, ``Dockerfile``, settings dev/production,
  ``ManifestStaticFilesStorage``, SQLite), plus the one file a team must
  write to run it in production: ``mysite/settings/local.py`` (imported
  last by the project's own ``production.py``), which reads
  ``DJANGO_SECRET_KEY`` (required) and ``DJANGO_ALLOWED_HOSTS`` from the
  environment. No gunicorn: the project installs none, so the deploy role
  adds its own. The project serves no
  static file with DEBUG off (its urls.py serves them only in DEBUG): a front
  server must. With ``--whitenoise VERSION`` it serves them itself, as
  whitenoise's documentation tells a team to do: ``whitenoise==VERSION``
  added to ``requirements.txt`` and its middleware to ``MIDDLEWARE`` in
  ``mysite/settings/base.py``, after ``SecurityMiddleware``;
- ``v2/``: v1 plus a model change (``HomePage.body``, a ``RichTextField``)
  with its migration made by the venv's ``manage.py makemigrations``, a
  template change (``release v2`` and the body on the home page) and a CSS
  change (``mysite.css``, so its hashed name changes).

The files copied in are beside this script, under ``wagtail/v1`` and
``wagtail/v2``. OUT must be empty, missing, or made by this script before
(its v1 and v2 are then made again). Progress goes to standard error;
standard output gets one line, a JSON summary of what was made (paths,
versions, the settings module and WSGI application to deploy with).
"""

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

WAGTAIL = '7.0.10'
MARKER = '.generate_wagtail'
OVERLAYS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'wagtail')
# What the copied-in files replace or rely on, as `wagtail start` writes it: a
# newer template that differs stops the script instead of making something else.
EXPECTED = {
    'v1': {'mysite/settings/production.py': 'from .local import *'},
    'v2': {
        'home/models.py': 'class HomePage(Page):\n    pass',
        'home/templates/home/home_page.html': "{% include 'home/welcome_page.html' %}",
        'mysite/static/css/mysite.css': '',
    },
}
LEFTOVERS = ('db.sqlite3', '__pycache__')
SECURITY_MIDDLEWARE = '    "django.middleware.security.SecurityMiddleware",\n'
WHITENOISE_MIDDLEWARE = '    "whitenoise.middleware.WhiteNoiseMiddleware",\n'


class Failed(Exception):
    """A step failed; the message says which and why."""


def log(message):
    sys.stderr.write('generate_wagtail: %s\n' % message)
    sys.stderr.flush()


def run(argv, cwd=None, env=None):
    """Run ARGV; return its standard output; raise Failed with the command and its error's last lines."""
    started = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, check=False)
    if result.returncode != 0:
        tail = '\n'.join((result.stderr.strip() or result.stdout.strip()).splitlines()[-10:])
        raise Failed('%s exited with %d:\n%s' % (' '.join(argv), result.returncode, tail))
    log('%s (%.1f s)' % (' '.join(os.path.basename(arg) if i == 0 else arg for i, arg in enumerate(argv)),
                         time.monotonic() - started))
    return result.stdout


def clean_env(settings=None):
    """The environment for the venv's commands: nothing of the caller's Django or virtualenv.

    With SETTINGS, the project's settings module and a throw-away secret key
    (local.py requires one, in dev too): makemigrations signs nothing.
    """
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1', PYTHONDONTWRITEBYTECODE='1')
    for name in ('DJANGO_SETTINGS_MODULE', 'DJANGO_SECRET_KEY', 'DJANGO_ALLOWED_HOSTS', 'PYTHONPATH',
                 'VIRTUAL_ENV', 'PYTHONHOME'):
        env.pop(name, None)
    if settings:
        env.update(DJANGO_SETTINGS_MODULE=settings, DJANGO_SECRET_KEY='generate-wagtail-makemigrations-only')
    return env


def prepare_out(out):
    """Create OUT, or check that it is ours; remove the releases made before."""
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, MARKER)):
        raise Failed('%s is not empty and was not made by this script: give a new directory' % out)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, MARKER), 'w', encoding='utf-8') as handle:
        handle.write('made by generate_wagtail.py: v1/, v2/ and venv/ are made again on each run\n')
    for release in ('v1', 'v2'):
        shutil.rmtree(os.path.join(out, release), ignore_errors=True)


def make_venv(venv, python, version):
    """The virtualenv VENV with wagtail==VERSION; reused when it has it. Returns its bin directory."""
    bindir = os.path.join(venv, 'bin')
    stamp = os.path.join(venv, '.wagtail-version')
    if os.path.exists(stamp):
        with open(stamp, encoding='utf-8') as handle:
            if handle.read().strip() == version:
                log('reusing %s (wagtail %s)' % (venv, version))
                return bindir
    shutil.rmtree(venv, ignore_errors=True)
    run([python, '-m', 'venv', venv])
    run([os.path.join(bindir, 'python'), '-m', 'pip', 'install', '--quiet', 'wagtail==%s' % version], env=clean_env())
    with open(stamp, 'w', encoding='utf-8') as handle:
        handle.write(version + '\n')
    return bindir


def check_expected(tree, release):
    """Fail when the generated tree is not the one the copied-in files were written for."""
    for relpath, expected in EXPECTED[release].items():
        path = os.path.join(tree, relpath)
        if not os.path.isfile(path):
            raise Failed('%s is missing: the wagtail project template changed; update %s' % (path, OVERLAYS))
        with open(path, encoding='utf-8') as handle:
            content = handle.read()
        if expected not in content or (expected == '' and content.strip()):
            raise Failed('%s is not what %s/%s was written for (%r expected): update it'
                         % (path, OVERLAYS, release, expected or 'an empty file'))


def overlay(release, tree):
    """Copy the files of wagtail/RELEASE over TREE; return their paths relative to it."""
    source = os.path.join(OVERLAYS, release)
    copied = []
    for folder, _dirs, files in os.walk(source):
        for name in sorted(files):
            if name.endswith('.pyc'):
                continue
            relpath = os.path.relpath(os.path.join(folder, name), source)
            os.makedirs(os.path.dirname(os.path.join(tree, relpath)), exist_ok=True)
            shutil.copyfile(os.path.join(folder, name), os.path.join(tree, relpath))
            copied.append(relpath)
    return sorted(copied)


def edit(path, old, new):
    """Replace the one occurrence of OLD in the file PATH by NEW; fail when it is not there once."""
    with open(path, encoding='utf-8') as handle:
        content = handle.read()
    if content.count(old) != 1:
        raise Failed('%s does not hold %r once: the wagtail project template changed' % (path, old))
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(content.replace(old, new))


def add_whitenoise(tree, version):
    """Serve the static files with whitenoise (its documented setup); return the files changed."""
    edit(os.path.join(tree, 'requirements.txt'), 'wagtail>=', 'whitenoise==%s\nwagtail>=' % version)
    edit(os.path.join(tree, 'mysite', 'settings', 'base.py'), SECURITY_MIDDLEWARE,
         SECURITY_MIDDLEWARE + WHITENOISE_MIDDLEWARE)
    return ['requirements.txt', 'mysite/settings/base.py']


def remove_leftovers(tree):
    """Remove what running the project's commands left in TREE (SQLite file, bytecode)."""
    for folder, dirs, files in os.walk(tree, topdown=True):
        for name in list(dirs):
            if name in LEFTOVERS:
                shutil.rmtree(os.path.join(folder, name))
                dirs.remove(name)
        for name in files:
            if name in LEFTOVERS:
                os.unlink(os.path.join(folder, name))


def make_v2(bindir, v1, v2):
    """v2 = v1 + the files of wagtail/v2 + the migration makemigrations writes for them."""
    shutil.copytree(v1, v2)
    check_expected(v2, 'v2')
    before = set(os.listdir(os.path.join(v2, 'home', 'migrations')))
    copied = overlay('v2', v2)
    run([os.path.join(bindir, 'python'), 'manage.py', 'makemigrations', 'home'], cwd=v2,
        env=clean_env('mysite.settings.dev'))
    made = sorted(set(os.listdir(os.path.join(v2, 'home', 'migrations'))) - before - {'__pycache__'})
    if len(made) != 1:
        raise Failed('makemigrations made %s in %s/home/migrations, not one migration' % (made or 'nothing', v2))
    return copied, 'home/migrations/' + made[0]


def django_version(bindir):
    return run([os.path.join(bindir, 'python'), '-m', 'django', '--version'], env=clean_env()).strip()


def generate(out, version, python, whitenoise=None, venv=None):
    started = time.monotonic()
    prepare_out(out)
    venv = venv or os.path.join(out, 'venv')
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with open(venv + '.lock', 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run builds it, the others wait and reuse it
        bindir = make_venv(venv, python, version)
    v1, v2 = os.path.join(out, 'v1'), os.path.join(out, 'v2')
    os.mkdir(v1)
    run([os.path.join(bindir, 'wagtail'), 'start', 'mysite', v1], env=clean_env())
    check_expected(v1, 'v1')
    v1_files = overlay('v1', v1)
    if whitenoise:
        v1_files += add_whitenoise(v1, whitenoise)
    v2_files, migration = make_v2(bindir, v1, v2)
    for tree in (v1, v2):
        remove_leftovers(tree)
    return {
        'wagtail': version,
        'django': django_version(bindir),
        'python': run([os.path.join(bindir, 'python'), '--version'], env=clean_env()).split()[-1],
        'venv': os.path.dirname(bindir),
        'releases': {'v1': v1, 'v2': v2},
        'written': {'v1': v1_files, 'v2': v2_files + [migration]},
        'migration': migration,
        'settings_module': 'mysite.settings.production',
        'wsgi_app': 'mysite.wsgi:application',
        'requirements_file': 'requirements.txt',
        'static_root': 'static',
        'static_served_by': 'whitenoise' if whitenoise else None,
        'environment': ['DJANGO_SECRET_KEY', 'DJANGO_ALLOWED_HOSTS'],
        'seconds': round(time.monotonic() - started, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('out', help='directory to make the venv and the releases v1, v2 in')
    parser.add_argument('--wagtail', default=WAGTAIL, help='wagtail version to install (default %(default)s)')
    parser.add_argument('--python', default=sys.executable, help='interpreter of the venv (default: this one)')
    parser.add_argument('--venv', help='where the venv is (default: OUT/venv)')
    parser.add_argument('--whitenoise', metavar='VERSION',
                        help='serve the static files with whitenoise==VERSION (default: the project serves none)')
    args = parser.parse_args(argv)
    try:
        summary = generate(os.path.abspath(args.out), args.wagtail, args.python, args.whitenoise,
                           os.path.abspath(args.venv) if args.venv else None)
    except Failed as exc:
        log('failed: %s' % exc)
        return 1
    for release, files in sorted(summary['written'].items()):
        log('%s: %s, with %s' % (release, summary['releases'][release], ', '.join(files)))
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
