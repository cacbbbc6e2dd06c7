# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Appended by the scenario to the Wagtail site's settings/local.py: each
# process that loads the settings (the deploy's jobs, collectstatic, the
# gunicorn workers) adds its effective user ID and command line to a log that
# prepare.yml made (root's, 0666). The tests read it: no line may be root's.
import json as _json
import os as _os

try:
    with open('/proc/self/cmdline', 'rb') as _cmdline:
        _argv = _cmdline.read().decode('utf-8', 'replace').split('\0')[:-1]
    with open('/var/tmp/realistic/settings-loads.jsonl', 'a', encoding='utf-8') as _log:
        _log.write(_json.dumps({'uid': _os.geteuid(), 'argv': _argv}) + '\n')
except OSError:
    pass
