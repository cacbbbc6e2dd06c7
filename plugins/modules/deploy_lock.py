#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: deploy_lock
short_description: One deploy at a time per app and host
version_added: 0.1.0
description:
  - Takes (O(state=present)) or releases (O(state=absent)) a lock file on the
    managed host, so that two runs never deploy the same app on the same host at once.
  - The lock is a JSON file naming who holds it (RV(lock)). It is written whole
    to a temporary file and renamed into place, under an exclusive C(flock) on its
    directory, so of two runs racing for it exactly one gets it.
  - A lock held by this run (the same O(run_id)) is kept, unchanged. Another
    run's lock is taken over when it is older than O(timeout) seconds, or at once
    when its run is known to be dead; otherwise the task fails at once, naming
    who holds the lock, since when, and what to do.
  - Whether a run is dead is known on the controller only. The action plugin of
    the same name checks, when another run of this controller (the same host name)
    holds the lock, whether its C(ansible-playbook) process still runs there (and
    is the same process, not a later one that got its PID), and takes over the lock
    of a dead one by running the module again with its run ID in O(takeover_run_ids).
  - O(state=absent) removes the lock only when this run holds it; another run's
    lock is left in place with a warning.
author:
  - simpledeploy developers (@simpledeploy)
options:
  path:
    description:
      - The lock file, an absolute path. Its directory must exist.
    type: path
    required: true
  state:
    description:
      - V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description:
      - Identifies this run; the same value in every task of one playbook run, another in the next.
      - When not given, the action plugin sets C(HOST-PID-START) from the controller's host name
        and the PID and start time of its C(ansible-playbook) process.
    type: str
  owner:
    description:
      - Who takes the lock, shown to anyone it stops.
      - When not given, the action plugin sets C(USER@HOST) of the controller.
    type: str
  controller_host:
    description:
      - The host name of the controller the run lives on.
      - Used only with O(controller_pid); when that is not given, the action plugin sets both
        (and O(controller_pid_started)) to this controller's.
    type: str
  controller_pid:
    description:
      - The PID of the run's C(ansible-playbook) process on O(controller_host).
      - When not given, the action plugin sets it (and O(controller_pid_started)).
    type: int
  controller_pid_started:
    description:
      - When the O(controller_pid) process started (seconds since the epoch, the
        controller's clock), so that a later process given the same PID is not taken
        for it. Set by the action plugin on Linux and wherever C(ps -o lstart) works.
    type: float
  timeout:
    description:
      - Another run's lock older than this many seconds is taken over (its run is
        taken for dead), wherever that run lives.
    type: int
    default: 1800
  takeover_run_ids:
    description:
      - Run IDs known to be dead; a lock held by one of them is taken over whatever its age.
      - The action plugin adds the run ID of a dead run of the same controller by itself.
    type: list
    elements: str
    default: []
attributes:
  action:
    support: full
    description: The action plugin fills in the controller's identity and judges whether a run of this controller is dead.
  async:
    support: none
    description: Takes a few milliseconds; a lock is held across tasks, not within one.
  check_mode:
    support: full
    description:
      - Reports what a real run would do and writes nothing.
      - A lock held by another live run does not fail the task in check mode; it
        returns RV(would_wait=true) and RV(held_by) with a warning.
  diff_mode:
    support: full
    description: The lock file's content before and after, when it changes.
  platform:
    support: full
    platforms: posix
    description: Runs on the managed host's Python 3.9 or newer, standard library only.
notes:
  - The flock on the lock's directory is held for the few milliseconds of a read and a
    write, never for the whole deploy; a run that dies leaves its lock file behind, which
    the next run takes over as described above.
  - Releasing the lock is not forced by a failure; call O(state=absent) in the C(always)
    section of a block.
seealso:
  - module: simpledeploy.django.release_switch
"""

EXAMPLES = r"""
- name: Take the deploy lock
  simpledeploy.django.deploy_lock:
    path: /srv/person/.simpledeploy.lock
    timeout: 1800
  register: deploy_lock

- name: Deploy, then release the lock whatever happened
  block:
    - name: Show whose lock was taken over, if any
      ansible.builtin.debug:
        msg: "{{ deploy_lock.taken_over }}"
      when: deploy_lock.taken_over is not none
  always:
    - name: Release the deploy lock
      simpledeploy.django.deploy_lock:
        path: /srv/person/.simpledeploy.lock
        state: absent

- name: Take over the lock of a run known to be dead
  simpledeploy.django.deploy_lock:
    path: /srv/person/.simpledeploy.lock
    takeover_run_ids:
      - ci-runner-4242-1767261600
"""

RETURN = r"""
action:
  description:
    - What the module did, or in check mode would do.
    - V(acquire) (no lock), V(keep) (this run holds it already), V(take_over) (another run's expired or dead
      lock), V(wait) (another live run holds it; fails unless in check mode), V(release), V(none) (nothing to
      release), V(leave) (another run's lock, not released).
  returned: always
  type: str
  sample: acquire
lock:
  description: The lock this run holds after the task (or would), null when it holds none.
  returned: always
  type: dict
  sample:
    owner: alice@laptop
    run_id: laptop-81234-1767261600
    controller_host: laptop
    controller_pid: 81234
    controller_pid_started: 1767261600.42
    since: "2026-01-01T10:00:05Z"
    since_epoch: 1767261605
held_by:
  description:
    - The lock of another run found at O(path) (for V(wait), V(take_over) and V(leave)), null otherwise.
    - A file that is not a lock holds only C(unreadable) (why), C(since) and C(since_epoch) (its modification time).
  returned: always
  type: dict
  sample:
    owner: bob@ci-runner
    run_id: ci-runner-4242-1767261540
    controller_host: ci-runner
    controller_pid: 4242
    since: "2026-01-01T09:59:00Z"
    since_epoch: 1767261540
age:
  description: Seconds since the lock found at O(path) was taken, null when there was none.
  returned: always
  type: int
  sample: 65
would_wait:
  description: Whether another live run holds the lock (the task fails then, unless in check mode).
  returned: always
  type: bool
  sample: false
taken_over:
  description: The lock taken over, with its C(age) and the C(reason), null when none was.
  returned: always
  type: dict
  sample:
    owner: bob@ci-runner
    run_id: ci-runner-4242-1767254400
    controller_host: ci-runner
    controller_pid: 4242
    since: "2026-01-01T08:00:00Z"
    since_epoch: 1767254400
    age: 7205
    reason: it is 2 h 0 min old, older than the timeout of 1800 s
msg:
  description: What happened, in one line; on a refusal, who holds the lock, since when and what to do.
  returned: always
  type: str
  sample: took the lock /srv/person/.simpledeploy.lock
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.simpledeploy.django.plugins.module_utils._lock import (
    DEFAULT_TIMEOUT,
    FIELDS,
    STATES,
    LockError,
    apply,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            state=dict(type='str', choices=list(STATES), default='present'),
            run_id=dict(type='str'),
            owner=dict(type='str'),
            controller_host=dict(type='str'),
            controller_pid=dict(type='int'),
            controller_pid_started=dict(type='float'),
            timeout=dict(type='int', default=DEFAULT_TIMEOUT),
            takeover_run_ids=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result, warnings = apply(
            params['path'],
            params['state'],
            dict((key, params.get(key)) for key in FIELDS[:5]),
            timeout=params['timeout'],
            dead_run_ids=params['takeover_run_ids'],
            check_mode=module.check_mode,
            diff=module._diff,
        )
    except LockError as exc:
        failure = dict(exc.result)
        failure.pop('msg', None)
        failure.setdefault('changed', False)
        module.fail_json(msg=exc.msg, **failure)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
