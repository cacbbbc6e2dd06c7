# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One health check of the app, as a module's result: health_check's, and release_info's (the live release asked
in the same remote execution that reads the host).

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

from ansible_collections.simpledeploy.django.plugins.module_utils import _envfile, _secrets, _systemd, _wait


def ask(module, url, status=200, host=None, headers=None, env_file=None, service=None, timeout=30.0,
        request_timeout=10.0):
    """Ask URL until it answers STATUS or TIMEOUT passes; returns the result (answered, status, last, active,
    hint). HEADERS: what _wait.take_headers took out of the module's no_log option (the caller takes them first,
    whether or not it asks). What the page shows is masked: the URL's password and the values of ENV_FILE the
    masking rule holds for secrets. With SERVICE, asked only while that unit is active: through a socket unit a
    request would start it."""
    mask_url(module, url)
    if env_file:
        # The page may show what the app read from it (a DEBUG page, an error): masked like every output.
        try:
            env = _envfile.read_env_file(env_file)
        except (OSError, ValueError):
            env = {}
        module.no_log_values.update(_secrets.secret_strings(env, _secrets.public_strings(module.argument_spec,
                                                                                         module.params)))
    active = None
    if service:
        unit, dummy, dummy = _systemd.show(module, service)
        active = unit.get('ActiveState') == 'active'
        if not active:
            return dict(answered=False, status=None, active=False,
                        last='not asked: %s is %s' % (service, unit.get('ActiveState') or 'unknown'),
                        hint='start %s' % service)
    code, last, answered = _wait.check(url, status, timeout, _wait.request_headers(host, headers or {}),
                                       request_timeout)
    return dict(answered=answered, status=code, last=last, active=active,
                hint=None if answered else _wait.hint(last, status, host))


def mask_url(module, url):
    """A password in URL's userinfo, masked everywhere, the invocation included."""
    module.no_log_values.update(_secrets.url_secret_parts(url or ''))
