# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run by systemd in tests/unit/test_systemd_quoting.py, as a unit's "gunicorn" or a transient service.

Writes {"argv": its arguments, "env": its environment} as JSON to the file named by
$DUMP, then tells systemd it is ready (Type=notify). Standard library only: it runs
with the host's python3.
"""

import json
import os
import socket
import sys


def main():
    with open(os.environ['DUMP'], 'w', encoding='utf-8') as handle:
        json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, handle)
    address = os.environ.get('NOTIFY_SOCKET')
    if address:
        if address.startswith('@'):
            address = '\0' + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.sendto(b'READY=1', address)


if __name__ == '__main__':
    main()
