# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a job run inside Django reports to the module that started it.

Private to the simpledeploy.django collection: the interface may change.

A job's parameters come as one JSON object on stdin. Its result is one line
on stdout: MARKER followed by a JSON object, ``{"result": ...}`` (exit 0) or
``{"error": {"stage", "type", "message", "where", ...}}`` (exit 3), written
last, after anything the project or Django printed (``migrate`` prints its
progress on the same stdout, so that what was printed before a crash is
kept). Tracebacks go to stderr. The module side reads the last marked line
(``read_report``); no marked line means the child died before it could say
anything.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys
import traceback

MARKER = '@@simpledeploy.django@@ '
# The exit status of a job that reported an error.
ERROR_EXIT = 3


class Failure(Exception):
    """A job failed at STAGE; raised inside the child, reported by ``runner``.

    ``cause`` is the exception behind it (its type, message, traceback and the
    place it was raised go into the report); ``extra`` are more facts for the
    module side's message (JSON-serialisable).
    """

    def __init__(self, stage, cause=None, **extra):
        super(Failure, self).__init__(stage)
        self.stage = stage
        self.cause = cause
        self.extra = extra

    def report(self):
        """The ``error`` object of the protocol."""
        error = dict(self.extra, stage=self.stage)
        if self.cause is not None:
            error.setdefault('type', type(self.cause).__name__)
            error.setdefault('message', str(self.cause))
            where = location(self.cause)
            if where:
                error.setdefault('where', where)
        return error


def location(exc, root=None):
    """``FILE:LINE`` of the project's own code where EXC was raised, or None.

    A SyntaxError: the line it is about. Else the innermost frame of the
    traceback under ROOT (the project's directory, the current one by
    default): the line of the project that led to the error, not a line of
    Django or of a library.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return '%s:%s' % (exc.filename, exc.lineno)
    root = os.path.join(os.path.abspath(root or os.getcwd()), '')
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    for frame in reversed(frames):
        if os.path.abspath(frame.filename).startswith(root):
            return '%s:%s' % (frame.filename, frame.lineno)
    return None


def emit(obj, stream=None):
    """Write OBJ as the marked result line (on a line of its own) and flush."""
    stream = stream or sys.stdout
    stream.write('\n' + MARKER + json.dumps(obj, sort_keys=True) + '\n')
    stream.flush()


def read_report(stdout):
    """The object of the last marked line of STDOUT, or None when there is none (or it is cut)."""
    for line in reversed((stdout or '').splitlines()):
        if line.startswith(MARKER):
            try:
                found = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def printed_lines(stdout):
    """What the job printed before its report: the non-blank lines other than the marked one."""
    return [line for line in (stdout or '').splitlines() if line.strip() and not line.startswith(MARKER)]
