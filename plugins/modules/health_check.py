#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: health_check
short_description: Ask a Django app's health URL as its proxy would, until it answers
version_added: 0.1.0
description:
  - Requests O(url) from the host until the app answers O(status) or O(timeout) seconds have passed,
    the same check as the O(simpledeploy.django.release_switch#module:ready_url) of the window. The role
    runs it before the deploy (does the live release answer at all?) and after a run that put nothing
    live.
  - Redirects that stay on the host asked (a relative C(Location), or the URL's scheme and host:port, or
    O(host)) are followed, at most 5; one that leaves it (C(SECURE_SSL_REDIRECT)'s 301 to C(https://...))
    is the last answer, not a success.
  - Fails, unless O(fail) is false, with the last answer (the status, where a redirect pointed, the start
    of the page's text, or why nothing answered) and what to set. The values of O(headers) are never
    shown.
author:
  - simpledeploy developers (@simpledeploy)
options:
  url:
    description: The URL to request, from the host.
    type: str
    required: true
  status:
    description:
      - The status that means healthy. V(200), the default, accepts any 2xx status in the end; another
        value is required exactly (a 3xx one is the redirect itself, not followed).
    type: int
    default: 200
  host:
    description: The C(Host) header, a host the project's C(ALLOWED_HOSTS) lists; not given, the URL's own.
    type: str
  headers:
    description:
      - More headers, e.g. the one C(SECURE_PROXY_SSL_HEADER) names; a C(Host) here wins over O(host).
      - The values may be secrets (a token) and are never shown, in the result's invocation included.
    type: dict
    default: {}
  timeout:
    description: Seconds to keep asking; V(0) asks once.
    type: float
    default: 30
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 10
  fail:
    description: Fail when the app does not answer O(status) in time; with V(false), RV(answered) says.
    type: bool
    default: true
  env_file:
    description:
      - The app's environment file (C(KEY=VALUE) lines). Its values that may be secrets are masked in the
        result, the start of the page's text included (a DEBUG page may show them), by the rule of the role's
        C(deploy_env).
    type: path
  service:
    description:
      - A systemd service. When given, the URL is asked only while the service is C(active), and RV(active)
        says whether it was. A request to a socket-activated service that is stopped would start it (the
        role's unit is one), so asking would change the host.
    type: str
extends_documentation_fragment:
  - simpledeploy.django._attributes
  - simpledeploy.django._attributes.read_only
seealso:
  - module: simpledeploy.django.release_switch
"""

EXAMPLES = r"""
- name: Ask the app as its proxy would (Host and the HTTPS header its settings trust)
  simpledeploy.django.health_check:
    url: http://127.0.0.1:8000/
    host: example.com
    headers:
      X-Forwarded-Proto: https
    timeout: 30

- name: Does anything answer at all? (Not asked while the service is stopped)
  simpledeploy.django.health_check:
    url: http://127.0.0.1:8000/
    service: gunicorn
    timeout: 0
    fail: false
  register: health
"""

RETURN = r"""
answered:
  description: Whether the app answered O(status) in time.
  returned: always
  type: bool
  sample: true
status:
  description: The last status it answered (after the redirects followed); null when nothing answered.
  returned: always
  type: int
  sample: 200
last:
  description: The last answer in words, the status, where a redirect pointed, the start of the page's text.
  returned: always
  type: str
  sample: "HTTP 200: Local Library (after redirects to /catalog/)"
active:
  description:
    - Whether O(service) was active (the URL is asked only then); null without O(service).
  returned: always
  type: bool
  sample: true
hint:
  description: What to set when it did not answer; null when it did.
  returned: always
  type: str
  sample: >-
    Django answers 400 when ALLOWED_HOSTS does not list the Host header (Host example.com sent):
    set deploy_healthcheck_host to a host ALLOWED_HOSTS lists
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _health, _wait


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            status=dict(type='int', default=200),
            host=dict(type='str'),
            headers=dict(type='dict', default={}, no_log=True),
            timeout=dict(type='float', default=30),
            request_timeout=dict(type='float', default=10),
            fail=dict(type='bool', default=True),
            env_file=dict(type='path'),
            service=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    headers = _wait.take_headers(module, 'headers', 'host')
    result = _health.ask(module, params['url'], params['status'], params['host'], headers, env_file=params['env_file'],
                         service=params['service'], timeout=params['timeout'],
                         request_timeout=params['request_timeout'])
    if not result['answered'] and params['fail']:
        if result['active'] is False:
            module.fail_json(msg='%s: %s' % (params['url'], result['last']), changed=False, **result)
        module.fail_json(msg='%s did not answer %s within %s s (last answer: %s); %s' % (
            params['url'], _wait.expected(params['status']), params['timeout'], result['last'], result['hint']),
            changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
