# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``static`` job: where the release's static files go, and ``collectstatic`` into a directory given.

Private to the simpledeploy.django collection: the interface may change.

Runs inside the project's Django process (see ``runner``), as the app's
user. It says whether the project has static files to collect: the app
``django.contrib.staticfiles`` installed, a ``STATIC_ROOT`` set, and a
static files storage that writes to this host's disk (a storage that uploads
elsewhere, S3 say, is not collected here: the reason says how to run it).
With ``output``, it runs Django's own ``collectstatic --noinput`` with
``STATIC_ROOT`` pointed at that directory (``override_settings``: Django
resets its static files storage when ``STATIC_ROOT`` changes), so that the
app's user writes only there; the module side copies the result into the
release's tree, root's, at the place ``STATIC_ROOT`` names.

Parameters: ``output`` (a directory the app's user can write, or none to
only report). Result: ``{enabled, reason, static_root, static_url, storage}``.
"""

from __future__ import absolute_import, division, print_function

import io
import os

from .protocol import Failure

STATICFILES_APP = 'django.contrib.staticfiles'


def storage_path(storage):
    """The directory STORAGE writes to on this host's disk, or None when it writes elsewhere."""
    try:
        return storage.path('')
    except NotImplementedError:
        return None


def verdict(settings):
    """``(enabled, reason, static_root, storage name)`` of the project's settings, before collecting."""
    from django.contrib.staticfiles.storage import staticfiles_storage
    if STATICFILES_APP not in settings.INSTALLED_APPS:
        return False, '%s is not in INSTALLED_APPS' % STATICFILES_APP, None, None
    root = getattr(settings, 'STATIC_ROOT', None)
    if not root:
        return False, 'STATIC_ROOT is not set', None, None
    root = os.path.abspath(str(root))
    on_disk = storage_path(staticfiles_storage)
    storage = type(getattr(staticfiles_storage, '_wrapped', staticfiles_storage)).__name__
    if on_disk is None:
        return (False, 'the static files storage (%s) does not write to this host\'s disk: run collectstatic as a '
                'hook (deploy_hooks_before_switch) if it should upload' % storage, root, storage)
    return True, '', root, storage


def collect(output):
    """``collectstatic --noinput`` into OUTPUT; returns what it printed."""
    from django.core.management import call_command
    from django.test.utils import override_settings
    printed = io.StringIO()
    with override_settings(STATIC_ROOT=output):
        call_command('collectstatic', interactive=False, verbosity=1, stdout=printed)
    return printed.getvalue().strip()


def run(params, settings):
    """The job: the verdict, and the files collected into ``params['output']`` when there is one."""
    enabled, reason, root, storage = verdict(settings)
    result = {'enabled': enabled, 'reason': reason, 'static_root': root,
              'static_url': getattr(settings, 'STATIC_URL', None), 'storage': storage, 'printed': ''}
    output = params.get('output')
    if enabled and output:
        try:
            result['printed'] = collect(output)
        except Exception as exc:
            raise Failure('collectstatic', exc)
    return result
