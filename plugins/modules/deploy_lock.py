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
  - The lock is a JSON file naming who holds it (RV(lock)), in a directory only root
    can write (the deploy role uses C(/run/simpledeploy/<app>.lock)). It is written
    whole to a temporary file, flushed and renamed into place, under an exclusive
    C(flock) on a guard file beside it (C(<name>.guard)), so of two runs racing for
    it exactly one gets it. The guard is tried without blocking for 10 seconds at
    most, then the task fails naming the process that holds it.
  - Nothing there is followed through a link or opened as another user's file. The
    directory must be a real directory owned by root (or by the user the module runs
    as), not writable by group or others, under parents only root can change (sticky
    ones such as C(/tmp) allowed); a missing directory is created, mode 0700. A lock
    file that is a symbolic link or not a regular file is refused, never read.
  - A lock held by this run (the same O(run_id)) is kept and renewed (C(renewed_epoch) in RV(lock),
    a heartbeat; the lock's owner does not change, so the task reports no change).
    Another run's lock is taken over when its last renewal (or its taking) is older than
    O(timeout) seconds, when it is dated more than 60 seconds in the future (an impossible
    date, reported in a warning and handled as expired; a lock without a usable date
    counts from its file's modification time), or at once when its run is known to be
    dead; otherwise the task fails at once, naming who holds the lock, since when, and
    what to do.
  - No lock is taken or taken over, however old or whoever left it, while the window
    of a deploy still runs on this host. The process that runs it
    (M(simpledeploy.django.release_switch), given this lock's path in its C(lock) option)
    holds an C(flock) on C(<name>.window) beside the lock, which the kernel drops when
    that process ends. The task then fails naming that process (RV(window)).
  - Whether a run is dead is known on the controller only. The action plugin of
    the same name checks, when another run of this controller (the same machine ID
    and host name) holds the lock, whether its C(ansible-playbook) process still runs
    there (and is the same process, not a later one that got its PID), and takes over
    the lock of a dead one by running the module again with its run ID in O(takeover_run_ids).
  - O(state=absent) removes the lock only when this run holds it; another run's
    lock is left in place with a warning.
author:
  - simpledeploy developers (@simpledeploy)
options:
  path:
    description:
      - The lock file, an absolute path.
      - Its directory must be one only root can write (see the description); it is
        created, mode 0700, when missing and its parent is such a directory. The guard
        (C(<name>.guard)) and window (C(<name>.window)) files go beside it, C(<name>)
        being the file name without C(.lock).
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
      - When not given, the action plugin sets C(TOKEN-MACHINE-PID-START), a random token made once
        per C(ansible-playbook) run, the controller's machine ID (hashed), and the PID and start
        time of that C(ansible-playbook) process.
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
        (and O(controller_machine_id) and O(controller_pid_started)) to this controller's.
    type: str
  controller_machine_id:
    description:
      - The machine ID of the controller the run lives on, hashed for this use (from
        C(/etc/machine-id), else C(/var/lib/dbus/machine-id), else the host name); with
        O(controller_host), what tells two controllers apart.
      - When not given, the action plugin sets it with O(controller_pid).
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
      - Another run's lock not renewed for more than this many seconds is taken over (its
        run is taken for dead), wherever that run lives, unless a window still runs.
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
    details:
      - Reports what a real run would do and writes nothing (a missing directory is not created).
      - A lock held by another live run does not fail the task in check mode; it
        returns RV(would_wait=true) and RV(held_by) with a warning.
  diff_mode:
    support: full
    details: The lock file's content before and after, when it changes.
  platform:
    details: Runs on the managed host's Python 3.9 or newer, standard library only.
extends_documentation_fragment:
  - simpledeploy.django._attributes
notes:
  - The flock on the guard file is held for the few milliseconds of a read and a
    write, never for the whole deploy; a run that dies leaves its lock file behind, which
    the next run takes over as described above. No other user can hold it, the directory
    is root's alone.
  - A run longer than O(timeout) keeps its lock by calling this module again (O(state=present),
    the same run), which renews it. The window's C(flock) covers the switch itself, however long.
  - Releasing the lock is not forced by a failure; call O(state=absent) in the C(always)
    section of a block.
seealso:
  - module: simpledeploy.django.release_switch
"""

EXAMPLES = r"""
- name: Take the deploy lock
  simpledeploy.django.deploy_lock:
    path: /run/simpledeploy/person.lock
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
        path: /run/simpledeploy/person.lock
        state: absent

- name: Take over the lock of a run known to be dead
  simpledeploy.django.deploy_lock:
    path: /run/simpledeploy/person.lock
    takeover_run_ids:
      - 5f3c9a0e1b2d4c6f-9a8b7c6d5e4f3a2b-4242-1767261600
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
    run_id: 0c1d2e3f4a5b6c7d-3d1219c7c4c5404a-81234-1767261600
    controller_host: laptop
    controller_machine_id: 3d1219c7c4c5404aaa1f6d2a48adfda4
    controller_pid: 81234
    controller_pid_started: 1767261600.42
    since: "2026-01-01T10:00:05Z"
    since_epoch: 1767261605
    renewed: "2026-01-01T10:20:05Z"
    renewed_epoch: 1767262805
held_by:
  description:
    - The lock of another run found at O(path) (for V(wait), V(take_over) and V(leave)), null otherwise.
    - A file that is not a lock holds only C(unreadable) (why), C(since) and C(since_epoch) (its modification time).
    - A lock written by an older version has no C(controller_machine_id) (its run is then never judged dead
      by the action plugin, only by its age).
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
  description:
    - Seconds since the lock found at O(path) was taken, null when there was none.
    - Its expiry counts from its last renewal (C(renewed_epoch)) when later.
  returned: always
  type: int
  sample: 65
would_wait:
  description: Whether another live run or a live window holds the lock (the task fails then, unless in check mode).
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
window:
  description:
    - The window found running on this host (C(path) of the window file, C(pid) of the process holding its
      C(flock) when C(/proc/locks) names it), null when none runs.
    - While one runs the lock is neither taken nor taken over (RV(action=wait)).
  returned: always
  type: dict
  sample:
    path: /run/simpledeploy/person.window
    pid: 31337
msg:
  description: What happened, in one line; on a refusal, who holds the lock, since when and what to do.
  returned: always
  type: str
  sample: took the lock /run/simpledeploy/person.lock
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.simpledeploy.django.plugins.module_utils._lock import (
    DEFAULT_TIMEOUT,
    REQUEST,
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
            controller_machine_id=dict(type='str'),
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
            dict((key, params.get(key)) for key in REQUEST),
            timeout=params['timeout'],
            dead_run_ids=params['takeover_run_ids'],
            check_mode=module.check_mode,
            diff=module._diff,
        )
    except LockError as exc:
        failure = dict(exc.result)
        failure.pop('msg', None)
        for warning in failure.pop('warnings', []):
            module.warn(warning)
        failure.setdefault('changed', False)
        module.fail_json(msg=exc.msg, **failure)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
