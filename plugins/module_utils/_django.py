# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run a project's ``manage.py`` inside its virtualenv, and read its migration plan.

Private to the collection: the interface may change without notice.

Everything here runs on the managed host's own Python (3.9 or newer) with the
standard library only; Django itself only ever runs inside the project's
virtualenv, in a child process started through ``module.run_command``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
import os
import pwd
import re
import shutil

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets
from ansible_collections.simpledeploy.django.plugins.module_utils._compat import judge_plan


# Which values of the app environment are masked: see _secrets.secret_strings.
SECRET_KEY_PATTERN = _secrets.SECRET_KEY_PATTERN
MIN_SECRET_LENGTH = _secrets.MIN_LENGTH

# Prefix of the one stdout line that carries the plan as JSON.
PLAN_MARKER = '@@simpledeploy.django.migration_plan@@ '

_ENV_KEY = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
# systemd's EnvironmentFile grammar (src/basic/env-file.c): what ends a line, what
# is a blank, and what a backslash stands for inside double quotes.
_ENV_NEWLINE = '\n\r'
_ENV_WHITESPACE = ' \t\n\r'
_ENV_DQ_ESCAPED = '"\\`$'
_TRACEBACK_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)', re.MULTILINE)
_RUNUSER_DIRS = ('/usr/sbin', '/sbin', '/usr/bin', '/bin')

# Executed by ``manage.py shell -c`` in the project's virtualenv (any Python
# Django 4.2+ runs on). Parameters come from the environment, the result is one
# JSON line behind PLAN_MARKER; tracebacks go to stderr. It must not create or
# change anything: no database file, no django_migrations table.
# How every piece of code run by ``manage.py shell -c`` reports: one JSON line
# behind the marker in SIMPLEDEPLOY_MARKER, or an ``error`` object and exit 3.
CHILD_PRELUDE = r'''
import json as _j, os as _o, sys as _s, traceback as _t


def _sd_emit(obj):
    _s.stdout.write("\n" + _o.environ["SIMPLEDEPLOY_MARKER"] + _j.dumps(obj) + "\n")
    _s.stdout.flush()


def _sd_fail(stage, exc=None, **extra):
    if exc is not None:
        _t.print_exc()
        extra.setdefault("type", type(exc).__name__)
        extra.setdefault("message", str(exc))
    _sd_emit({"error": dict(stage=stage, **extra)})
    _s.exit(3)


def _sd_setup():
    """Load the settings and the apps (manage.py shell has usually done it); fail at stage "settings"."""
    import django
    from django.conf import settings
    try:
        settings.INSTALLED_APPS
        from django.apps import apps
        if not apps.ready:
            django.setup()
    except Exception as exc:
        _sd_fail("settings", exc, settings_module=_o.environ.get("DJANGO_SETTINGS_MODULE"))
    return settings
'''

PLAN_CODE = CHILD_PRELUDE + r'''


def _sd_base_kind(op):
    for cls in type(op).__mro__:
        mod = getattr(cls, "__module__", "") or ""
        if mod.startswith("django.db.migrations.operations") or \
                mod.startswith("django.contrib.postgres.operations"):
            return cls.__name__
    return type(op).__name__


def _sd_describe(op):
    try:
        from django.core.management.commands.migrate import Command
        return Command.describe_operation(op, False)[0]
    except Exception:
        try:
            return op.describe()
        except Exception:
            return type(op).__name__


class _SdStates(object):
    """The project state, walked operation by operation as migrate would."""

    def __init__(self, loader, applied, alias, conn):
        from django.db.migrations.state import ProjectState
        self.alias, self.conn, self.ok, self.state = alias, conn, True, None
        nodes = [key for key in applied if key in loader.graph.nodes]
        try:
            if nodes:
                self.state = loader.project_state(nodes, at_end=True)
            else:
                self.state = ProjectState(real_apps=loader.unmigrated_apps)
            self.state.apps  # render the models once, as migrate does
        except Exception:
            _t.print_exc()
            self.ok = False

    def model(self, state, op, app, name):
        if not self.ok or not name:
            return None
        try:
            model = state.apps.get_model(app, name)
        except LookupError:
            return None
        except Exception:
            _t.print_exc()
            return None
        meta = model._meta
        facts = {"table": meta.db_table, "applies": True, "m2m": False,
                 "unique_together": sorted(list(t) for t in meta.unique_together),
                 "order_with_respect_to": None}
        order = meta.order_with_respect_to
        if order:
            facts["order_with_respect_to"] = str(getattr(order, "name", order))
        try:
            facts["applies"] = bool(op.allow_migrate_model(self.alias, model))
        except Exception:
            pass
        try:
            facts["m2m"] = any(
                f.remote_field.through._meta.auto_created and f.related_model is not model
                for f in meta.local_many_to_many) or any(
                r.many_to_many and r.through._meta.auto_created for r in meta.related_objects)
        except Exception:
            pass
        return facts

    def field(self, state, app, model_name, name):
        if not self.ok or not name or not model_name:
            return None
        from django.db.models.fields import NOT_PROVIDED
        try:
            f = state.apps.get_model(app, model_name)._meta.get_field(name)
        except Exception:
            return None
        facts = {"class": type(f).__name__, "column": getattr(f, "column", None) or None,
                 "null": bool(f.null), "default": bool(f.has_default()),
                 "db_default": getattr(f, "db_default", NOT_PROVIDED) is not NOT_PROVIDED,
                 "unique": bool(f.unique), "db_index": bool(f.db_index),
                 "primary_key": bool(f.primary_key), "many_to_many": bool(f.many_to_many),
                 "generated": bool(getattr(f, "generated", False)),
                 "max_length": getattr(f, "max_length", None),
                 "related": None, "db_type": None, "m2m_table": None}
        related = getattr(f, "related_model", None)
        if isinstance(related, str):
            facts["related"] = related.lower()
        elif related is not None:
            facts["related"] = related._meta.label_lower
        try:
            facts["db_type"] = f.db_type(self.conn)
        except Exception:
            pass
        if f.many_to_many:
            try:
                facts["m2m_table"] = f.m2m_db_table()
            except Exception:
                pass
        return facts

    def operation(self, op, app, state=None):
        """Serialise ``op``, advancing ``state`` (the walked one by default) past it."""
        from django.db.migrations import operations as ops
        state = self.state if state is None else state
        kind, base = type(op).__name__, _sd_base_kind(op)
        data = {"kind": kind, "base": base, "description": _sd_describe(op),
                "reversible": bool(getattr(op, "reversible", True))}
        if isinstance(op, ops.RenameModel):
            names = (op.old_name, op.new_name)
        elif hasattr(op, "model_name"):
            names = (op.model_name, op.model_name)
        elif isinstance(op, ops.models.ModelOperation):
            names = (op.name, op.name)
        else:
            names = (None, None)
        fields = (None, None)
        if isinstance(op, ops.RenameField):
            fields = (op.old_name, op.new_name)
        elif isinstance(op, ops.fields.FieldOperation):
            fields = (op.name, op.name)
        data["model"] = names[1]
        data["before"] = self.model(state, op, app, names[0])
        if fields[0]:
            data["field"] = fields[1]
            data["old"] = self.field(state, app, names[0], fields[0])
        if isinstance(op, ops.RunPython):
            data["code"] = "noop" if op.code is ops.RunPython.noop else (
                getattr(op.code, "__name__", None) or repr(op.code))
            reverse = op.reverse_code
            data["reverse"] = None if reverse is None else (
                "noop" if reverse is ops.RunPython.noop else
                getattr(reverse, "__name__", None) or repr(reverse))
            data["elidable"] = bool(op.elidable)
        elif isinstance(op, ops.RunSQL):
            data["sql"] = "noop" if op.sql in ("", []) else "sql"
            data["reverse"] = None if op.reverse_sql is None else (
                "noop" if op.reverse_sql in ("", []) else "sql")
            data["elidable"] = bool(op.elidable)
        elif isinstance(op, ops.AddConstraint):
            data["constraint"] = {"class": type(op.constraint).__name__,
                                  "name": getattr(op.constraint, "name", None)}
        elif isinstance(op, ops.SeparateDatabaseAndState):
            inner = state.clone() if self.ok else None
            data["database_operations"] = [self.operation(o, app, inner)
                                           for o in op.database_operations]
        if self.ok and state is not None:
            try:
                op.state_forwards(app, state)
            except Exception:
                _t.print_exc()
                self.ok = False
        data["after"] = self.model(state, op, app, names[1])
        if fields[1]:
            data["new"] = self.field(state, app, names[1], fields[1])
        return data


def _sd_operations(loader, plan, applied, alias, conn):
    """[{app, name, operations}] for the migrations of ``plan``, in order."""
    states = _SdStates(loader, applied, alias, conn)
    found = []
    for migration in plan:
        operations = []
        for op in migration.operations:
            try:
                operations.append(states.operation(op, migration.app_label))
            except Exception:
                _t.print_exc()
                states.ok = False
                operations.append({"kind": type(op).__name__, "base": _sd_base_kind(op),
                                   "description": _sd_describe(op),
                                   "reversible": bool(getattr(op, "reversible", True))})
        found.append({"app": migration.app_label, "name": migration.name,
                      "operations": operations})
    return found


def _sd_missing(loader):
    """{app: [description]} of model changes that have no migration (makemigrations --check)."""
    from django.apps import apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
    from django.db.migrations.state import ProjectState

    class Questioner(NonInteractiveMigrationQuestioner):
        # The stock one exits (sys.exit(3)) where makemigrations would need a default.
        def ask_not_null_addition(self, field_name, model_name):
            return None

        def ask_auto_now_add_addition(self, field_name, model_name):
            return None

    questioner = Questioner(specified_apps=set(), dry_run=True, verbosity=0,
                            log=lambda *args, **kwargs: None)
    detector = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps),
                                     questioner)
    changes = detector.changes(graph=loader.graph)
    return dict((app, [op.describe() for m in migrations for op in m.operations])
                for app, migrations in changes.items())


def _sd_plan():
    import django
    alias = _o.environ["SIMPLEDEPLOY_DATABASE"]
    result = {"django_version": django.get_version(), "database": alias}
    settings = _sd_setup()
    if _o.environ.get("SIMPLEDEPLOY_CHECK") == "1":
        from django.core import checks
        try:
            found = [m for m in checks.run_checks() if not m.is_silenced()]
        except Exception as exc:
            _sd_fail("checks", exc)
        errors = [str(m) for m in found if m.is_serious()]
        result["checks"] = [str(m) for m in found if not m.is_serious()]
        if errors:
            _sd_fail("checks", type="SystemCheckError", messages=errors,
                     warnings=result["checks"])
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader
    if alias not in settings.DATABASES:
        _sd_fail("database", type="UnknownDatabase", defined=sorted(settings.DATABASES))
    try:
        conn = connections[alias]
        vendor = conn.vendor
    except Exception as exc:
        _sd_fail("backend", exc)
    where = dict((k, str(conn.settings_dict.get(k) or "")) for k in ("NAME", "HOST", "PORT"))
    result.update(vendor=vendor, database_exists=True,
                  location=dict((k.lower(), where[k]) for k in ("NAME", "HOST", "PORT")))
    if vendor == "sqlite" and not conn.is_in_memory_db():
        result["database_exists"] = _o.path.exists(str(conn.settings_dict["NAME"]))
    if result["database_exists"]:
        try:
            conn.ensure_connection()
        except Exception as exc:
            _sd_fail("connect", exc, vendor=vendor, **where)
        from django.db.migrations.executor import MigrationExecutor
        try:
            executor = MigrationExecutor(conn)
        except Exception as exc:
            _sd_fail("connect", exc, vendor=vendor, **where)
        loader = executor.loader
    else:
        loader = MigrationLoader(None, ignore_no_migrations=True)
    conflicts = loader.detect_conflicts()
    if conflicts:
        _sd_fail("conflicts", type="ConflictingMigrations",
                 conflicts=dict((a, sorted(n)) for a, n in conflicts.items()))
    if result["database_exists"]:
        from django.db.migrations.exceptions import InconsistentMigrationHistory
        try:
            loader.check_consistent_history(conn)
        except InconsistentMigrationHistory as exc:
            _sd_fail("history", exc)
        plan = executor.migration_plan(loader.graph.leaf_nodes())
    else:
        plan, seen = [], set()
        for target in loader.graph.leaf_nodes():
            for key in loader.graph.forwards_plan(target):
                if key not in seen:
                    seen.add(key)
                    plan.append((loader.graph.nodes[key], False))
    applied = set(loader.applied_migrations or ())
    leaves = []
    for key in sorted(applied):
        if key not in loader.graph.node_map:
            continue
        kids = [c.key for c in loader.graph.node_map[key].children if c.key[0] == key[0]]
        if not any(k in applied for k in kids):
            leaves.append({"app": key[0], "name": key[1]})
    result["applied_leaves"] = leaves
    result["migrations"] = _sd_operations(loader, [m for m, dummy in plan], applied, alias, conn)
    if _o.environ.get("SIMPLEDEPLOY_DETECT_MISSING") == "1":
        try:
            result["missing_migrations"] = _sd_missing(loader)
        except (Exception, SystemExit) as exc:
            _sd_fail("missing", exc)
    _sd_emit(result)


_sd_plan()
'''


def read_env_file(path):
    """Read an environment file into a dict, the way systemd reads an EnvironmentFile.

    The grammar is systemd's (``load_env_file``, systemd 252 and later), so a file
    gives the same values to ``manage.py`` as to the service:

    - Blank lines are skipped; a line whose first non-blank character is ``#`` or
      ``;`` is a comment. ``KEY=VALUE``: blanks around the key and before the value
      are dropped; ``export KEY=...`` is taken as ``KEY=...`` (systemd ignores such
      a line with a warning; shells do not).
    - Unquoted text runs to the end of the line, trailing blanks dropped; ``\\``
      takes the next character literally, and a backslash before the end of the line
      joins the next line.
    - A quote right after ``=`` (or right after a closing quote) opens a quoted part,
      which may span lines: ``'...'`` is literal; in ``"..."`` a backslash before
      ``"``, ``\\``, ``$`` or a backquote stands for that character, a backslash
      before a newline joins the lines, and any other backslash is kept. Parts
      follow each other without a blank: ``'it'"'"'s'`` is ``it's``.
    - The last assignment of a key wins.

    Raises ValueError, naming the file and the line (never a value: values may be
    secrets), where systemd would read something other than the line says or
    nothing at all: a line without ``=``, a key that is not a shell variable name
    (systemd drops it), a quote that is never closed (systemd takes the rest of the
    file), a comment that ends with a backslash (systemd before 254 joins the next
    line to it, later ones do not), a NUL byte or text that is not UTF-8. Raises
    OSError when the file cannot be read.
    """
    with open(path, 'rb') as handle:
        data = handle.read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ValueError('%s, line %d: not UTF-8 text' % (path, data.count(b'\n', 0, exc.start) + 1))
    return dict(parse_env_text(text, path))


def _env_error(path, text, pos, what):
    return ValueError('%s, line %d: %s' % (path, text.count('\n', 0, pos) + 1, what))


def _env_value(text, pos, path):
    """Read the value that starts at ``pos`` (just after ``=``): (value, end).

    ``end`` is the position of the line break that ends the value, or len(text).
    """
    out = []
    end = len(text)
    unquoted = False  # unquoted text has started: quotes are plain characters from here on
    keep = 0  # len(out) without the trailing blanks of unquoted text
    while pos < end:
        char = text[pos]
        if char in _ENV_NEWLINE:
            break
        if char == '\\':
            # The next character literally; before a line break, the next line joins this one.
            if pos + 1 < end and text[pos + 1] not in _ENV_NEWLINE:
                out.append(text[pos + 1])
            pos += 2
            unquoted = True
            keep = len(out)
        elif unquoted:
            out.append(char)
            pos += 1
            if char not in _ENV_WHITESPACE:
                keep = len(out)
        elif char in _ENV_WHITESPACE:
            pos += 1
        elif char == "'":
            close = text.find("'", pos + 1)
            if close < 0:
                raise _env_error(path, text, pos, 'the single quote opened here is never closed')
            out.extend(text[pos + 1:close])
            pos = close + 1
            keep = len(out)
        elif char == '"':
            pos = _env_double_quoted(text, pos, path, out)
            keep = len(out)
        else:
            unquoted = True
            out.append(char)
            pos += 1
            keep = len(out)
    return ''.join(out[:keep]), pos


def _env_double_quoted(text, pos, path, out):
    """Append the double-quoted part that opens at ``pos`` to ``out``; return the position after it."""
    start, pos, end = pos, pos + 1, len(text)
    while pos < end and text[pos] != '"':
        char = text[pos]
        if char == '\\' and pos + 1 < end:
            following = text[pos + 1]
            if following in _ENV_DQ_ESCAPED:
                out.append(following)
            elif following != '\n':
                out.extend((char, following))
            pos += 2
        else:
            out.append(char)
            pos += 1
    if pos >= end:
        raise _env_error(path, text, start, 'the double quote opened here is never closed')
    return pos + 1


def parse_env_text(text, path='<string>'):
    """The assignments of an environment file's text, in order: a list of (key, value).

    See read_env_file for the grammar and the errors; ``path`` is only used in them.
    """
    if '\0' in text:
        raise _env_error(path, text, text.index('\0'), 'a NUL byte, which an environment file cannot hold')
    result = []
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char in _ENV_WHITESPACE:
            pos += 1
        elif char in '#;':
            while pos < end and text[pos] not in _ENV_NEWLINE:
                if text[pos] == '\\':
                    if pos + 1 < end and text[pos + 1] in _ENV_NEWLINE:
                        raise _env_error(path, text, pos, 'a comment ends with a backslash, which systemd before '
                                         'version 254 reads as joining the next line to the comment: remove it')
                    pos += 1
                pos += 1
        else:
            equals = pos
            while equals < end and text[equals] not in _ENV_NEWLINE and text[equals] != '=':
                equals += 1
            if equals >= end or text[equals] != '=':
                raise _env_error(path, text, pos, 'expected KEY=VALUE')
            key = text[pos:equals].rstrip(_ENV_WHITESPACE)
            if key[:6] == 'export' and key[6:7] in (' ', '\t'):
                key = key[6:].lstrip(_ENV_WHITESPACE)
            if not _ENV_KEY.match(key):
                raise _env_error(path, text, pos, 'expected KEY=VALUE, with a KEY of letters, digits and _ '
                                 'that does not start with a digit')
            value, pos = _env_value(text, equals + 1, path)
            result.append((key, value))
    return result


def app_env(environment=None, env_file=None):
    """The application's own variables: those of ``env_file``, then ``environment`` (winning).

    Values are made strings (``None`` -> empty, booleans -> ``1``/``0``).
    Raises OSError or ValueError when ``env_file`` cannot be read.
    """
    env = {}
    if env_file:
        env.update(read_env_file(env_file))
    for key, value in (environment or {}).items():
        if value is None:
            value = ''
        elif isinstance(value, bool):
            value = '1' if value else '0'
        env[str(key)] = str(value)
    return env


def build_env(settings=None, environment=None, env_file=None):
    """Return the environment for manage.py.

    In order, later winning: ``LC_ALL=C`` and ``PYTHONUNBUFFERED=1``; the
    variables of ``env_file``; the ``environment`` dict (values made strings);
    ``DJANGO_SETTINGS_MODULE`` when ``settings`` is given (the dedicated option
    wins over a value in the file or the dict).
    """
    env = {'LC_ALL': 'C', 'PYTHONUNBUFFERED': '1'}
    env.update(app_env(environment, env_file))
    if settings:
        env['DJANGO_SETTINGS_MODULE'] = settings
    return env


def secret_values(env, public=()):
    """The strings of the app environment ``env`` to mask: see ``_secrets.secret_strings``."""
    return _secrets.secret_strings(env, public)


def current_user():
    """Name of the effective user, or its uid as a string when it has no name."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def find_runuser():
    """Path of util-linux ``runuser``, looked up on PATH and the sbin directories."""
    path = os.pathsep.join([os.environ.get('PATH', '')] + list(_RUNUSER_DIRS))
    return shutil.which('runuser', path=path)


def manage_argv(python, args, run_as=None):
    """Return ``[runuser -u USER --] PYTHON manage.py ARGS``.

    runuser is used only when ``run_as`` is set and differs from the current
    user; raises ValueError when it is needed and cannot be found.
    """
    argv = [python, 'manage.py'] + [str(arg) for arg in args]
    if run_as and run_as != current_user():
        runuser = find_runuser()
        if not runuser:
            raise ValueError('run_as=%s needs runuser (util-linux), which is not installed' % run_as)
        argv = [runuser, '-u', run_as, '--'] + argv
    return argv


def last_error_line(stderr, stdout=''):
    """The last non-blank line of stderr (else stdout): Django's own error line."""
    for text in (stderr, stdout):
        lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return 'no output'


def last_traceback_location(stderr):
    """``FILE:LINE`` of the innermost frame of the last Python traceback in stderr, or None."""
    found = _TRACEBACK_FRAME.findall(stderr or '')
    if not found:
        return None
    return '%s:%s' % found[-1]


def _shown(args):
    return ' '.join(arg if len(arg) <= 60 and '\n' not in arg else '<...>' for arg in args)


def run_manage(module, project_path, virtualenv, args, settings=None, environment=None,
               env_file=None, run_as=None, check_rc=True, extra_env=None):
    """Run ``manage.py ARGS`` with the virtualenv's Python in ``project_path``.

    Fails the module (fail_json) when manage.py or the virtualenv's python is
    missing, the env file cannot be read, or, with ``check_rc``, when the
    command exits non-zero. The values of the app environment (``env_file``,
    ``environment``) that can be secrets are registered in
    ``module.no_log_values`` (``_secrets.secret_strings``), and masked in the
    returned stderr too, the longest first, with the userinfo of every URL
    shown as ``***``. Returns ``(rc, stdout, stderr)``.
    """
    args = [str(arg) for arg in args]
    manage_py = os.path.join(project_path, 'manage.py')
    python = os.path.join(virtualenv, 'bin', 'python')
    if not os.path.isfile(manage_py):
        module.fail_json(msg='%s not found: project_path must be the directory that holds '
                             "the project's manage.py" % manage_py)
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        module.fail_json(msg='%s not found: virtualenv must be an existing virtualenv with '
                             'Django installed (python3 -m venv %s; %s -m pip install '
                             '-r requirements.txt)' % (python, virtualenv, python))
    try:
        public = [project_path, virtualenv] + _secrets.public_strings(
            getattr(module, 'argument_spec', {}), getattr(module, 'params', {}))
        secrets = secret_values(app_env(environment, env_file), public)
        env = build_env(settings=settings, environment=environment, env_file=env_file)
    except (OSError, ValueError) as exc:
        module.fail_json(msg='could not read env_file: %s' % exc)
    env.update(extra_env or {})
    module.no_log_values.update(secrets)
    if run_as and run_as != current_user() and os.geteuid() != 0:
        module.fail_json(msg='run_as=%s needs root to switch user: run the task with become: true'
                             % run_as)
    try:
        argv = manage_argv(python, args, run_as=run_as)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    rc, out, err = module.run_command(argv, cwd=project_path, environ_update=env)
    # Not stdout: callers parse it (the result is masked by Ansible anyway).
    err = _secrets.protect(err, secrets)
    if rc != 0 and check_rc:
        msg = 'manage.py %s failed (rc=%d): %s' % (_shown(args), rc, last_error_line(err, out))
        module.fail_json(msg=_secrets.protect(msg, secrets), rc=rc, stdout=_secrets.protect(out, secrets),
                         stderr=err, cmd=argv)
    return rc, out, err


def parse_marked_json(stdout, marker=PLAN_MARKER):
    """Return the object on the last stdout line starting with ``marker``, or None."""
    for line in reversed((stdout or '').splitlines()):
        if line.startswith(marker):
            try:
                return json.loads(line[len(marker):])
            except ValueError:
                return None
    return None


def plan_error_message(error, database='default'):
    """One-line message, naming what to fix, for the ``error`` object of PLAN_CODE."""
    stage = error.get('stage')
    what = '%s: %s' % (error.get('type', 'Error'), error.get('message', '')) \
        if error.get('message') else error.get('type', 'Error')
    what = what.strip().splitlines()[0].rstrip('.') if what.strip() else what
    if stage == 'settings':
        return ('Django settings could not be loaded (DJANGO_SETTINGS_MODULE=%s): %s; fix the '
                'settings module or the variables it reads (env_file, environment)'
                % (error.get('settings_module'), what))
    if stage == 'checks':
        return ("Django's system checks reported %d error(s): %s"
                % (len(error.get('messages', [])), ' | '.join(error.get('messages', []))))
    if stage == 'database':
        return ('database %r is not defined in settings.DATABASES (defined: %s)'
                % (database, ', '.join(error.get('defined', []))))
    if stage == 'backend':
        return ('Django could not load the database backend of %r: %s; install the driver '
                "in the project's virtualenv" % (database, what))
    if stage == 'connect':
        where = ' '.join('%s=%s' % (k.lower(), error[k]) for k in ('HOST', 'PORT', 'NAME')
                         if error.get(k))
        return ('the database %r could not be reached (%s %s): %s; check that the database '
                'server is up and that the connection settings and credentials are right'
                % (database, error.get('vendor'), where, what))
    if stage == 'conflicts':
        return ('conflicting migrations (more than one leaf) in %s; run makemigrations --merge '
                'and commit the result' % ', '.join(
                    '%s: %s' % (app, ', '.join(names))
                    for app, names in sorted(error.get('conflicts', {}).items())))
    if stage == 'history':
        return 'the migration history of the database is inconsistent: %s' % what
    if stage == 'missing':
        return ('looking for model changes without a migration (makemigrations --check) '
                'failed: %s; detect_missing=false skips that check' % what)
    return 'reading the migration plan failed: %s' % what


def migration_plan(module, project_path, virtualenv, settings=None, environment=None,
                   env_file=None, database='default', run_as=None, check=False,
                   detect_missing=True):
    """Report the migrations ``manage.py migrate`` would apply, without changing anything.

    Runs ``manage.py shell -c PLAN_CODE`` once (one Django start-up, the
    optional system checks and the missing-migration check included). Returns
    a dict with ``pending``, ``total``, ``migrations`` (in plan order, each
    ``{app, name, operations, reversible, backward_compatible, reasons}``, see
    ``_compat.judge_plan``), ``reversible``, ``backward_compatible``,
    ``by_app``, ``applied_leaves``, ``database_exists``, ``vendor``,
    ``django_version``; with ``check``, ``checks`` (warnings); with
    ``detect_missing``, ``missing`` and ``missing_migrations`` (``{app:
    [change]}``). Fails the module with a one-line ``msg`` and Django's
    ``stderr`` otherwise.
    """
    extra = {
        'SIMPLEDEPLOY_MARKER': PLAN_MARKER,
        'SIMPLEDEPLOY_DATABASE': database,
        'SIMPLEDEPLOY_CHECK': '1' if check else '0',
        'SIMPLEDEPLOY_DETECT_MISSING': '1' if detect_missing else '0',
        # a report writes nothing, not even bytecode into the project tree
        'PYTHONDONTWRITEBYTECODE': '1',
    }
    args = ['shell', '--verbosity', '0', '-c', PLAN_CODE]
    rc, out, err = run_manage(module, project_path, virtualenv, args, settings=settings,
                              environment=environment, env_file=env_file, run_as=run_as,
                              check_rc=False, extra_env=extra)
    cmd = manage_argv(os.path.join(virtualenv, 'bin', 'python'), ['shell', '-c', '<plan>'],
                      run_as=run_as)
    data = parse_marked_json(out)
    if data is None:
        # Django did not get as far as the plan code: manage.py, Django or an app failed
        # while starting up (django.setup()).
        where = last_traceback_location(err)
        module.fail_json(msg=_secrets.protect(
            'Django could not start (manage.py shell, rc=%d): %s%s; fix the project or its virtualenv'
            % (rc, last_error_line(err, out), ' (at %s)' % where if where else ''), module.no_log_values),
            rc=rc, stdout=_secrets.protect(out, module.no_log_values), stderr=err, cmd=cmd)
    if 'error' in data:
        error = data['error']
        fail = dict(msg=_secrets.protect(plan_error_message(error, database), module.no_log_values),
                    rc=rc, stdout=_secrets.protect(out, module.no_log_values), stderr=err,
                    cmd=cmd, stage=error.get('stage'))
        if error.get('stage') == 'checks':
            fail['checks'] = error.get('messages', []) + error.get('warnings', [])
        module.fail_json(**fail)
    migrations, summary = judge_plan(data['migrations'])
    by_app = {}
    for migration in migrations:
        by_app[migration['app']] = by_app.get(migration['app'], 0) + 1
    result = dict(
        pending=bool(migrations),
        total=len(migrations),
        migrations=migrations,
        by_app=by_app,
        reversible=summary['reversible'],
        backward_compatible=summary['backward_compatible'],
        applied_leaves=data.get('applied_leaves', []),
        database=database,
        database_exists=bool(data.get('database_exists')),
        vendor=data.get('vendor'),
        location=data.get('location'),
        django_version=data.get('django_version'),
    )
    if check:
        result['checks'] = data.get('checks', [])
    if detect_missing:
        missing = data.get('missing_migrations') or {}
        result['missing'] = bool(missing)
        result['missing_migrations'] = missing
    return result
