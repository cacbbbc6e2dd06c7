# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The code that runs inside the project's Django process, in its own virtualenv.

Private to the simpledeploy.django collection: the interface may change.

Nothing here runs in the module's own process (the host's Python): the
module side (``module_utils/_django.py``, ``run_in_django``) copies this
package into a new root-owned directory that the app's user can read, and
starts ``<virtualenv>/bin/python -m <package>.runner JOB`` as that user in the
project's directory, with the app's environment; the job's parameters go to
the child's stdin as JSON. ``runner`` loads the project the way its
``manage.py`` does and runs one job:

- ``plan``      the migration plan, the system checks and the missing-migration
                check, as data (``plan.py``); changes nothing;
- ``migrate``   Django's ``migrate`` under a database lock (``migrate.py``);
- ``database``  probe, back up or restore the database (``database.py``);
- ``static``    where the static files go, and ``collectstatic`` into a directory
                of the app user's (``static.py``).

How a job reports is ``protocol.py``. The modules import only the standard
library at their top (and each other, relatively): Django is imported inside
functions, so the host's Python can import them too (the module side reads
their source, and ``postgres.py`` is used on both sides).
"""
