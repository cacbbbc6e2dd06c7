# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""manage.py hold_window: the failure scenario's barrier inside the downtime window.

faults.py copies this command into the releases whose runs it kills in the
window, and runs it there (deploy_hooks_window: after migrate, the service
stopped). It says it is in the window (the file "out/in-window", in the
app user's own directory), then waits while root's file "hold" exists (at
most 120 s): the kill lands inside the window
every time, however slow the machine, instead of racing a poll against a
window of a second. Without "hold" (the rerun) it returns at once.
"""

import os
import time

from django.core.management.base import BaseCommand

FLAGS = '/var/tmp/sd-faults'


class Command(BaseCommand):
    help = 'Inside the downtime window: say so, then wait while the fault injector holds it (tests only).'

    def handle(self, *args, **options):
        if not os.path.exists(os.path.join(FLAGS, 'hold')):
            return
        with open(os.path.join(FLAGS, 'out', 'in-window'), 'w', encoding='utf-8') as handle:
            handle.write('%d\n' % os.getpid())
        deadline = time.monotonic() + 120
        while os.path.exists(os.path.join(FLAGS, 'hold')) and time.monotonic() < deadline:
            time.sleep(0.1)
