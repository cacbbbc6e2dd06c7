# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for the app to answer over HTTP: the moment a window ends.

Private to the simpledeploy.django collection: the interface may change.
"""

from __future__ import annotations

import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url


def wait_for_url(url, status=200, timeout=30.0, interval=0.02, clock=time.monotonic, sleep=time.sleep):
    """Request URL until it answers STATUS; True when it did within TIMEOUT seconds."""
    deadline = clock() + timeout
    while True:
        try:
            answer = open_url(url, timeout=max(1.0, min(5.0, timeout)), follow_redirects='none',
                              validate_certs=False)
            code = answer.getcode()
        except HTTPError as exc:
            code = exc.code
        except (URLError, OSError, ValueError):
            code = None
        if code == status:
            return True
        if clock() >= deadline:
            return False
        sleep(interval)
