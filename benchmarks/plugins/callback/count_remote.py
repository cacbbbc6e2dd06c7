# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count the remote executions of a playbook run (benchmarks only, not part of the role)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: count_remote
type: aggregate
short_description: Count each command run on a host and each file sent to or fetched from it
description:
  - For benchmarks/bench_playbook.py. Wraps the containers.podman.podman connection's C(exec_command),
    C(put_file) and C(fetch_file) when it loads (before ansible-playbook forks its workers, which inherit
    the wrapper), and appends one line per call (C(exec), C(put) or C(fetch), then the host) to the file
    named by the environment variable C(SD_COUNT_FILE).
  - A remote execution is one of those calls. Each module run is one C(exec) with pipelining; a task that
    sends a file adds a C(put), and the C(exec) that makes Ansible's remote temporary directory and the
    one that removes it.
requirements:
  - the environment variable C(SD_COUNT_FILE)
"""

import functools
import os

from ansible.plugins.callback import CallbackBase


def _count(kind, method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        path = os.environ.get('SD_COUNT_FILE')
        if path:
            host = getattr(self._play_context, 'remote_addr', None) or '?'
            with open(path, 'a', encoding='utf-8') as handle:
                handle.write('%s %s\n' % (kind, host))
        return method(self, *args, **kwargs)
    wrapper.sd_counted = True
    return wrapper


def wrap_podman():
    from ansible_collections.containers.podman.plugins.connection import podman
    connection = podman.Connection
    for kind, name in (('exec', 'exec_command'), ('put', 'put_file'), ('fetch', 'fetch_file')):
        method = getattr(connection, name)
        if not getattr(method, 'sd_counted', False):
            setattr(connection, name, _count(kind, method))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'count_remote'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        wrap_podman()
