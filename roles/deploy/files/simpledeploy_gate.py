# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ExecStartPre of the units that simpledeploy.django's deploy role writes: wait while a deploy's window is open.

Usage: ``simpledeploy_gate.py GATE``. The role installs it as <deploy_root>/simpledeploy_gate.py (root's,
0644); the unit runs it with the app's virtualenv's Python, as the app user. release_switch puts the file
GATE in place before it stops the service and removes it just before it starts the service again; with
socket activation, a connection that arrives meanwhile makes systemd start the service at once, and this
keeps that start (any release's code) waiting until the window is over. The connection waits in the
socket's backlog and is answered by the release the window put live. The unit's TimeoutStartSec bounds
the wait (deploy_hold_timeout).
"""

from __future__ import annotations

import os
import sys
import time

INTERVAL = 0.05


def _closed(gate):
    """Whether GATE is there; a file that cannot be looked at (permissions) counts as there: fail closed."""
    try:
        os.lstat(gate)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: simpledeploy_gate.py GATE\n')
        return 2
    said = False
    while _closed(argv[1]):
        if not said:
            sys.stderr.write('simpledeploy: a deploy window is open (%s): the start waits for its end\n' % argv[1])
            said = True
        time.sleep(INTERVAL)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
