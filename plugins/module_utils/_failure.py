# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one message a failed deploy ends with, made from the result of the task that failed.

Private to the simpledeploy.django collection: the interface may change. Pure:
text only, standard library and ``_secrets``; the filter ``failure_message``
calls :func:`failure_message` on the controller.

A module of the collection fails with a message that says what to fix; a
command the role runs (``ansible.builtin.command``: the virtualenv, pip, a
``manage.py`` command) fails with only "The command exited with a non-zero
return code.", its own reason left in its stderr. For those the message names
the command, its return code and the last lines of its own error.
"""

from __future__ import annotations

import os
import re
import shlex

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets

# Non-blank lines of the command's error shown, the last ones.
TAIL_LINES = 5
# A longer line is cut to this many characters.
LINE_WIDTH = 300
# A longer argument is shown as its start and its end.
ARG_WIDTH = 100
# More arguments than this: the first and the last HEAD_TAIL_ARGS shown.
MAX_ARGS = 12
HEAD_TAIL_ARGS = 5

# What Ansible's command, shell, raw and script say of a non-zero return code:
# nothing the command said itself.
GENERIC_MESSAGES = frozenset([
    '', 'non-zero return code', 'The command exited with a non-zero return code.',
])
# What Ansible says of a module that died without a result (its output is in module_stderr).
MODULE_FAILURE = 'MODULE FAILURE'

# A headline of an error (pip: "ERROR: Cannot install a and b because ..."),
# kept when the last lines leave it out.
_ERROR_LINE = re.compile(r'(ERROR|Error|error|FATAL|Fatal|fatal)\b\s*:')
_ENV_ASSIGNMENT = re.compile(r'[A-Za-z_][A-Za-z0-9_]*=')
_PYTHON = re.compile(r'python[0-9.]*$')


def failed_item(result):
    """The result of the item that failed, for a loop (``results``), else ``result`` itself."""
    items = result.get('results') if isinstance(result, dict) else None
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get('failed'):
                return item
    return result


def argv_of(cmd):
    """The command's argv: ``cmd`` as the command module returns it (a list, or a string)."""
    if isinstance(cmd, (list, tuple)):
        return [str(arg) for arg in cmd]
    if not cmd:
        return []
    try:
        return shlex.split(str(cmd))
    except ValueError:
        return str(cmd).split()


def unwrap(argv):
    """``(argv, user)``: the command proper, without ``nice -n N``, ``runuser``/``sudo -u USER --`` and ``env NAME=VALUE``.

    The role runs the build user's commands as ``nice -n N runuser -u USER --
    env HOME=... TMPDIR=... COMMAND``: what failed is COMMAND, run as USER
    (None when no user was switched).
    """
    user = None
    argv = list(argv)
    if argv and os.path.basename(argv[0]) == 'nice':
        # deploy_prepare_nice: ``nice -n N COMMAND`` (or -nN, --adjustment=N): the priority, not the command.
        argv = argv[1:]
        if argv[:1] in (['-n'], ['--adjustment']):
            argv = argv[2:]
        elif argv and (argv[0].startswith('-n') or argv[0].startswith('--adjustment=')):
            argv = argv[1:]
    if argv and os.path.basename(argv[0]) in ('runuser', 'sudo') and '--' in argv:
        wrapper, argv = argv[:argv.index('--')], argv[argv.index('--') + 1:]
        if '-u' in wrapper[:-1]:
            user = wrapper[wrapper.index('-u') + 1]
    if argv and os.path.basename(argv[0]) == 'env':
        argv = argv[1:]
        while argv and _ENV_ASSIGNMENT.match(argv[0]):
            argv = argv[1:]
    return argv, user


def _short_arg(arg):
    if len(arg) <= ARG_WIDTH:
        return arg
    keep = (ARG_WIDTH - 3) // 2
    return arg[:keep] + '...' + arg[-keep:]


def shown_command(argv):
    """The command as a message shows it: the program whole (a virtualenv's python is the
    useful part), long arguments cut in the middle, a long list of arguments cut too."""
    argv, user = unwrap(argv)
    if not argv:
        return 'the command'
    program, args = argv[0], [shlex.quote(_short_arg(arg)) for arg in argv[1:]]
    if len(args) > MAX_ARGS:
        args = args[:HEAD_TAIL_ARGS] + ['... (%d more) ...' % (len(args) - 2 * HEAD_TAIL_ARGS)] + args[-HEAD_TAIL_ARGS:]
    text = ' '.join([program] + args)
    if user:
        text += ' (as %s)' % user
    return text


def last_lines(text, count=TAIL_LINES):
    """The last COUNT non-blank lines of TEXT, each stripped and cut to LINE_WIDTH.

    When none of them is an error headline (``ERROR: ...``, ``error: ...``) and a
    line above them is, the first such line comes first, then ``...``.
    """
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    tail = lines[-count:]
    if not any(_ERROR_LINE.match(line) for line in tail):
        headline = next((line for line in lines[:-count] if _ERROR_LINE.match(line)), None)
        if headline:
            tail = [headline, '...'] + tail
    return [line if len(line) <= LINE_WIDTH else line[:LINE_WIDTH - 3] + '...' for line in tail]


def command_error(result):
    """What a command's result says of its failure: its stderr's last lines, else its stdout's,
    else the message of the module that ran it."""
    for key in ('stderr', 'stdout'):
        lines = last_lines(result.get(key))
        if lines:
            return ' | '.join(lines)
    msg = str(result.get('msg') or '').strip()
    return msg if msg not in GENERIC_MESSAGES else 'no output'


def is_command_result(result):
    """Whether RESULT is that of a command that failed with no message of its own: a command
    (``cmd``) with a return code (``rc``) and the generic message of Ansible's command module
    (or none), or the error of starting it (``[Errno 2] No such file or directory: ...``)."""
    msg = str(result.get('msg') or '').strip()
    return 'cmd' in result and 'rc' in result and (msg in GENERIC_MESSAGES or msg.startswith('[Errno '))


def what_failed(result):
    """The text of a failed result, unmasked: see :func:`failure_message`."""
    if not isinstance(result, dict):
        return 'no message'
    result = failed_item(result)
    msg = str(result.get('msg') or '').strip()
    if is_command_result(result):
        return '%s failed (rc=%s): %s' % (shown_command(argv_of(result.get('cmd'))), result.get('rc'),
                                          command_error(result))
    if msg.startswith(MODULE_FAILURE):
        for key in ('module_stderr', 'module_stdout'):
            lines = last_lines(result.get(key))
            if lines:
                return '%s: %s' % (MODULE_FAILURE, ' | '.join(lines))
    if msg:
        return msg
    if result.get('censored'):
        return str(result['censored'])
    return 'no message'


def _command_strings(result):
    """The arguments of the command that failed, if any (Ansible shows them in clear)."""
    result = failed_item(result) if isinstance(result, dict) else None
    return argv_of(result.get('cmd')) if isinstance(result, dict) else []


def failure_message(result, app, task, env=None):
    """``<app>: the deploy failed at "<task>": <what failed>``, the app's secrets masked.

    RESULT is the failed task's result (``ansible_failed_result``): for a loop,
    the item that failed. A command that failed with no message of its own
    (``cmd``, ``rc`` and Ansible's "non-zero return code") is named, shortened
    (:func:`shown_command`), with its return code and the last TAIL_LINES
    non-blank lines of its stderr (else stdout) joined by `` | ``; a module
    that died says the last lines of its output; any other failure says its
    ``msg``.

    The values of ENV (the app's environment, ``deploy_env``) that
    ``_secrets.secret_strings`` would register are masked, except one that is
    part of the command's arguments, the app's name or the task's name
    (Ansible shows those in clear anyway: masking them would only blank the
    message); the userinfo of every URL is shown as ``***``.
    """
    public = [str(app), str(task or '')] + _command_strings(result)
    secrets = _secrets.secret_strings(dict(env or {}), public=public)
    text = '%s: the deploy failed at "%s": %s' % (app, task or '?', what_failed(result))
    return _secrets.protect(text, secrets)
