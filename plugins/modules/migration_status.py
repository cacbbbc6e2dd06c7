#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: migration_status
short_description: Report the pending Django migrations of a database, what they do and whether the old release survives them
version_added: 0.1.0
description:
  - Asks Django, inside the project's own virtualenv and with the project's own C(manage.py),
    which migrations C(manage.py migrate) would apply to a database, and returns them as data
    in the order C(migrate) would apply them.
  - For every pending migration it lists the operations as C(migrate --plan) describes them, and
    says whether C(migrate) can undo it (RV(migrations[].reversible)) and whether the release that
    runs now keeps working on the migrated schema (RV(migrations[].backward_compatible)) - V(true),
    V(false), or V(null) when that is not known - with the reasons in plain sentences. The verdicts
    follow django-migration-linter's catalogue of backward incompatible operations and Django's
    semantics (a field's C(default) is not kept in the database, C(db_default) is); the
    collection's C(docs/method.md) lists them.
  - With O(detect_missing), it also reports models that changed without a migration file, as
    C(makemigrations --check --dry-run) would, without writing any file and without asking anything.
  - One Django start-up - the collection's own code (C(plugins/module_utils/in_django/)) runs in
    the virtualenv's Python as a process of its own, after the project's C(manage.py) has set up
    what it sets for any command (see the notes); the optional system checks and the
    missing-migration check run in the same process.
  - It never changes anything. With SQLite, a database file that does not exist is not created
    (every migration is then reported pending and RV(database_exists) is V(false)); the
    C(django_migrations) table is never created; no bytecode is written into the project.
  - It fails, with a one-line C(msg) naming what to fix and Django's own output in RV(stderr),
    when C(manage.py) or the virtualenv is missing, the settings cannot be loaded, the database
    cannot be reached, the migrations conflict or the recorded history is inconsistent.
  - The values of O(env_file) and O(environment) that can be secrets are masked (shown as
    C(********)) in every output of the module, whatever their names - C(msg), RV(stderr), the
    result, the arguments shown with C(-v) - by value - every value of 6 characters or more that
    is not a number, a boolean word (C(true), C(false), C(yes), C(no), C(on), C(off), any case), an
    IP address, C(localhost) or the name of a Django database backend (C(postgresql), C(sqlite3),
    C(django.db.backends.mysql)...);
    values of 4 characters or more, numbers included, of variables whose names contain C(SECRET),
    C(PASSWORD), C(PASSWD), C(PASS), C(TOKEN), C(KEY), C(CREDENTIAL), C(DATABASE_URL) or C(DSN);
    and, for every value that is or holds a URL, its userinfo (C(user:password)), the password
    alone, the pieces of the password between the URL delimiters C(/), C(:), C(@), C(?) and C(#) that are 6 characters
    or more (what a URL parser's error shows of a password holding them unencoded), and their
    percent-decoded forms. The userinfo of a URL in a message of the module is shown as C(***).
  - Shorter values, numbers and booleans are not masked, so that counts and names such as
    C(0001_initial) stay readable; a secret shorter than 6 characters is therefore not protected by
    masking. A value that is not secret but long enough (a host name, a path) is masked wherever it
    occurs, except when the module's other options hold it (the app's name in O(project_path), for example,
    which Ansible logs in clear) and inside the app labels and migration names the module reports
    (those are in the project's code).
author:
  - simpledeploy developers (@simpledeploy)
requirements:
  - Python 3.9 or newer on the managed host (standard library only).
  - A virtualenv holding Django 4.2 or newer (tested with 4.2, 5.2 and 6.1) and the project's
    requirements, including the database driver.
  - C(runuser) (util-linux) when O(run_as) is used.
extends_documentation_fragment:
  - simpledeploy.django._attributes
  - simpledeploy.django._attributes.nice
attributes:
  check_mode:
    support: full
    details:
      - The same plan in check mode; the plan changes nothing.
      - With O(collect_static), check mode says where the files would be collected and writes nothing.
  diff_mode:
    support: none
    details: No diff; the static files collected are counted in RV(static).
options:
  project_path:
    description:
      - The directory that holds the project's C(manage.py). Django runs with it as working directory.
    type: path
    required: true
  virtualenv:
    description:
      - The project's virtualenv; C(bin/python) in it runs Django.
    type: path
    required: true
  settings:
    description:
      - The Django settings module, set as C(DJANGO_SETTINGS_MODULE). It wins over a value in
        O(env_file) or O(environment).
      - When unset, C(manage.py) picks its own default (C(os.environ.setdefault)).
    type: str
  env_file:
    description:
      - A file of C(KEY=VALUE) lines (the format of systemd's C(EnvironmentFile), for example the
        env file of the WSGI service) whose variables Django runs with.
      - Blank lines and C(#) comments are ignored, C(export KEY=value) is tolerated, values may
        be single- or double-quoted.
    type: path
  environment:
    description:
      - Extra environment variables for Django; they win over O(env_file).
      - The option is C(no_log), so the host's journal never logs its values. Its values are
        masked in the module's output by the rule in the description (a value like V(1) stays
        shown, so that counts and migration names are not turned into asterisks).
    type: dict
  database:
    description:
      - The alias in C(settings.DATABASES) to report on.
    type: str
    default: default
  run_as:
    description:
      - Run C(manage.py) as this user through C(runuser) (the user the service runs as), so files
        Django creates or reads have the right owner and permissions.
      - Needs root (C(become)) when it differs from the user the module runs as; ignored when equal.
    type: str
  check:
    description:
      - Run Django's system checks (C(manage.py check), without database checks) first, in the
        same process; fail when they report errors and return the warnings in RV(checks).
    type: bool
    default: false
  detect_missing:
    description:
      - Compare the models with the migration files, like C(makemigrations --check --dry-run), and
        report the changes that have no migration in RV(missing) and RV(missing_migrations).
      - Nothing is written and nothing is asked; it works when the database does not exist yet.
    type: bool
    default: true
  expand_data_steps:
    description:
      - Whether a data step (a V(RunPython) with a reverse) may run while the release that runs now serves
        writes, for RV(expand). V(false) keeps every plan with a data step out of it. It runs in its
        migration's transaction, holding what that migration locked until it ends, and rows written after it are
        not filled.
    type: bool
    default: false
  judge:
    description:
      - Applied migrations, as V(app.name), to judge with this code as if they were still to run, in
        RV(judged). That tells whether the release before them runs on the schema they made.
      - The role passes the migrations a new release does not know (its RV(unknown_applied)) to the live release,
        whose code has them, before it deploys an older release over a newer schema.
    type: list
    elements: str
    default: []
  collect_static:
    description:
      - After the plan, collect the release's static files, as M(simpledeploy.django.collect_static) does (with
        O(virtualenv), O(run_as), O(settings), O(env_file) and O(nice); the project is O(project_path)), in the
        same remote execution; the result is in RV(static). A failure to collect fails the module with
        collectstatic's own error. The deploy role collects them so, one remote execution fewer.
      - In check mode, says whether and where it would collect, and writes nothing.
    type: dict
    suboptions:
      tree:
        description: The staged release's tree (root's), as M(simpledeploy.django.collect_static)'s O(simpledeploy.django.collect_static#module:tree).
        type: path
        required: true
      previous_tree:
        description: The live release's tree, whose own static files are carried into O(collect_static.tree).
        type: path
      discard:
        description:
          - A preview directory M(simpledeploy.django.release_stage) made, read last here, removed once done
            whatever happened, as M(simpledeploy.django.collect_static)'s O(simpledeploy.django.collect_static#module:discard).
        type: path
notes:
  - The plan is the one C(manage.py migrate) (no arguments) would carry out for O(database),
    every leaf migration of every app is the target.
  - The project is loaded as its C(manage.py) loads it for any command, C(shell) included, without
    running any command of the project's - C(manage.py) runs until it hands over to Django's
    C(execute_from_command_line), then the settings are loaded and C(django.setup()) runs. What
    C(manage.py) sets (its default C(DJANGO_SETTINGS_MODULE) first of all) is set as for any
    command; a settings module given by O(settings), O(env_file) or O(environment) wins, as it does
    for C(manage.py). A C(manage.py) that never hands over needs O(settings).
  - The collection's code travels to the child on no command line - it is copied into a new
    directory of root's that the O(run_as) user can read, removed afterwards - and its parameters
    go to its standard input.
  - The verdicts look at each operation, not at the SQL; they cannot see what a V(RunPython) or
    V(RunSQL) does.
seealso:
  - name: Django migrations
    description: How Django plans and applies migrations.
    link: https://docs.djangoproject.com/en/stable/topics/migrations/
  - name: Django migration operations
    description: What each operation does, and which can be reversed.
    link: https://docs.djangoproject.com/en/stable/ref/migration-operations/
  - name: django-migration-linter, backward incompatible migrations
    description: The catalogue the backward compatibility verdicts follow.
    link: https://github.com/3YOURMIND/django-migration-linter/blob/main/docs/incompatibilities.md
"""

EXAMPLES = r"""
- name: Report pending migrations before the downtime window
  simpledeploy.django.migration_status:
    project_path: /srv/mysite/staging
    virtualenv: /srv/mysite/venv
    settings: mysite.settings
    env_file: /etc/mysite/env
    run_as: mysite
    check: true
  register: migration_report

- name: Show what migrate will do
  ansible.builtin.debug:
    msg: "{{ migration_report.total }} migration(s) pending: {{ migration_report.by_app }}"
  when: migration_report.pending

- name: Refuse a release whose models changed without a migration
  ansible.builtin.assert:
    that: not migration_report.missing
    fail_msg: "Run makemigrations first: {{ migration_report.missing_migrations }}"

- name: Say why the running release would break during migrate
  ansible.builtin.debug:
    msg: "{{ migration_report.migrations | map(attribute='reasons') | flatten }}"
  when: migration_report.backward_compatible is false

- name: Report on a second database, with the password from a vault
  simpledeploy.django.migration_status:
    project_path: /srv/mysite/current
    virtualenv: /srv/mysite/venv
    database: replica
    environment:
      DJANGO_DB_PASSWORD: "{{ vault_db_password }}"
"""

RETURN = r"""
static:
  description:
    - With O(collect_static), M(simpledeploy.django.collect_static)'s result (C(enabled), C(reason), C(static_root),
      C(collected), C(carried), C(storage), C(static_url), C(seconds)) and C(discarded).
  returned: with O(collect_static)
  type: dict
  sample: {"enabled": true, "static_root": "staticfiles", "collected": 127, "carried": 0, "discarded": false}
pending:
  description: Whether C(manage.py migrate) would apply anything.
  returned: success
  type: bool
  sample: true
total:
  description: Number of migrations C(migrate) would apply.
  returned: success
  type: int
  sample: 1
migrations:
  description: The migrations C(migrate) would apply, in the order it would apply them.
  returned: success
  type: list
  elements: dict
  sample: [{"app": "people", "name": "0002_person_weight", "reversible": true,
            "backward_compatible": false, "reasons": ["adds NOT NULL column people_person.weight ..."],
            "operations": [{"kind": "AddField", "description": "Add field weight to person",
                            "reversible": true, "backward_compatible": false,
                            "reasons": ["adds NOT NULL column people_person.weight ..."]}]}]
  contains:
    app:
      description: App label.
      type: str
      sample: people
    name:
      description: Migration name.
      type: str
      sample: 0002_person_weight
    operations:
      description: The operations of the migration, in order.
      type: list
      elements: dict
      sample: [{"kind": "RemoveField", "description": "Remove field nickname from person",
                "reversible": true, "backward_compatible": false, "reasons": ["drops column ..."]}]
      contains:
        kind:
          description: The operation's class name.
          type: str
          sample: RemoveField
        description:
          description:
            - What the operation does, as C(manage.py migrate --plan) shows it (the start of the
              docstring of a V(RunPython) function, the start of the SQL of a V(RunSQL)).
          type: str
          sample: Remove field nickname from person
        reversible:
          description:
            - Whether C(migrate) can undo it; V(false) for V(RunPython) without C(reverse_code) and
              V(RunSQL) without C(reverse_sql) (C(RunPython.noop) counts as a reverse).
          type: bool
          sample: true
        backward_compatible:
          description:
            - Whether the release that runs now keeps working once it is applied; V(null) when that
              is not known.
          type: bool
          sample: false
        reasons:
          description: Why it is not (known to be) backward compatible or not reversible; empty otherwise.
          type: list
          elements: str
          sample: ["drops column people_person.nickname: the old release still selects it
                    (migrating back re-creates it without its data)"]
        online_safe:
          description:
            - Whether it can run while the release that runs now serves writes, every statement brief whatever
              the table's size (a new table, a nullable column, an index built C(CONCURRENTLY)); V(false) when a
              statement holds the table's writes for as long as it takes (a plain C(CREATE INDEX), a type change,
              SQLite's table rebuild); V(null) when that is not known (a data step, raw SQL, another database).
          type: bool
          sample: true
        online_reasons:
          description: Why it is not (known to be) online safe; empty otherwise.
          type: list
          elements: str
          sample: ["builds index on people_person with a plain CREATE INDEX, which holds writes to it until it
                    is built: use AddIndexConcurrently (PostgreSQL, in a migration with atomic = False)"]
        data_step:
          description: Whether it is a V(RunPython) (not C(RunPython.noop)), which changes rows.
          type: bool
          sample: false
    reversible:
      description: Whether every operation of the migration is reversible.
      type: bool
      sample: true
    backward_compatible:
      description:
        - V(false) when any operation is incompatible, else V(null) when any is unknown, else V(true).
      type: bool
      sample: false
    reasons:
      description: The reasons of its operations, in order, without repeats.
      type: list
      elements: str
      sample: ["runs Python code (fill_nicknames): what it changes is not known"]
    online_safe:
      description:
        - V(false) when any operation is not online safe, else V(null) when any is unknown, else V(true).
      type: bool
      sample: true
reversible:
  description: Whether every pending migration is reversible (V(true) when nothing is pending).
  returned: success
  type: bool
  sample: true
backward_compatible:
  description:
    - Whether the release that runs now keeps working on the schema once every pending migration is
      applied (V(true) when nothing is pending); V(false) when any migration is incompatible, else
      V(null) when any is unknown.
    - Computed the same way on a fresh database, where no release runs yet (see RV(database_exists)).
  returned: success
  type: bool
  sample: false
online_safe:
  description:
    - Whether every pending migration can run while the release that runs now serves writes (V(true) when nothing
      is pending), by RV(migrations[].online_safe).
  returned: success
  type: bool
  sample: true
expand:
  description:
    - Whether the pending migrations can be applied first, while the release that runs now serves, before the new
      one goes live (the role's strategy V(expand)), and why not.
    - C(possible) needs a pending migration, and every operation backward compatible and online safe, or a data step
      with a reverse (with O(expand_data_steps)).
  returned: success
  type: dict
  sample: {"possible": false, "reasons": ["people.0002_person_weight (Add field weight to person): adds NOT NULL
           column people_person.weight without a database default: the old release leaves it out of its inserts,
           which then fail"]}
  contains:
    possible:
      description: Whether it can.
      type: bool
      sample: true
    reasons:
      description: For each operation that keeps it from it, the migration, the operation and why; empty otherwise.
      type: list
      elements: str
      sample: []
missing:
  description: Whether some model changed without a migration file (what C(makemigrations --check) fails on).
  returned: when O(detect_missing=true)
  type: bool
  sample: true
missing_migrations:
  description:
    - For each app with model changes that have no migration, the changes C(makemigrations) would
      write, as it describes them; empty when there are none.
  returned: when O(detect_missing=true)
  type: dict
  sample: {"people": ["Add field nickname to person"]}
by_app:
  description: Number of pending migrations per app label (apps with none are left out).
  returned: success
  type: dict
  sample: {"people": 1}
applied_leaves:
  description:
    - For each app, the last applied migration(s) of the database, sorted by app and name.
    - What C(manage.py migrate APP NAME) would take the schema back to; an app with
      nothing applied is not listed (its way back is C(migrate APP zero)).
  returned: success
  type: list
  elements: dict
  sample: [{"app": "auth", "name": "0012_alter_user_first_name_max_length"},
           {"app": "people", "name": "0001_initial"}]
known_leaves:
  description:
    - For each app with migrations, the last migration this code knows (the leaf of its migration graph), sorted
      by app and name (the schema this release expects once migrated). The role records it with the release, for a
      rollback to it.
  returned: success
  type: list
  elements: dict
  sample: [{"app": "auth", "name": "0012_alter_user_first_name_max_length"},
           {"app": "people", "name": "0002_person_weight"}]
unknown_applied:
  description:
    - Migrations applied to the database, of apps that have migrations in this code, that this code knows
      neither as a file nor as one a squashed migration replaces, numbered after this code's last migration of
      their app (or not numbered), sorted by app and name. When there are any, the database is ahead of this
      code, for example after a newer release migrated it.
    - Django's C(migrate) ignores them; the release may still not run on that schema.
    - Rows whose app label or name is not a Python identifier are no migration and are left out.
  returned: success
  type: list
  elements: dict
  sample: [{"app": "people", "name": "0002_person_weight"}]
leftover_applied:
  description:
    - Like RV(unknown_applied), but numbered at or below this code's last migration of their app. These are rows
      of migration files deleted since, for example squashed away. C(manage.py migrate --prune) (Django 4.1 and
      later) forgets them.
  returned: success
  type: list
  elements: dict
  sample: [{"app": "people", "name": "0002_person_weight"}]
judged:
  description:
    - The migrations of O(judge) this code knows, in the order they apply, each judged like an item of
      RV(migrations) as if it were still to run. A V(backward_compatible) of V(true) means the release before
      it runs on the schema it made.
  returned: when O(judge) is not empty
  type: list
  elements: dict
older_blockers:
  description:
    - The migrations of RV(judged) the release before them does not run with, or might not (a verdict that is
      not V(true)), each as V(app.name) and why. Empty when that release runs on the schema they made.
  returned: when O(judge) is not empty
  type: list
  elements: str
  sample: ["people.0002_person_weight: adds NOT NULL column people_person.weight without a database default"]
judged_unknown:
  description: The migrations of O(judge) this code does not know either.
  returned: when O(judge) is not empty
  type: list
  elements: str
  sample: []
database:
  description: The database alias reported on.
  returned: success
  type: str
  sample: default
database_exists:
  description:
    - V(false) when the SQLite database file does not exist (nothing was created, every
      migration is pending); V(true) otherwise.
  returned: success
  type: bool
  sample: true
vendor:
  description: Django's name for the database backend.
  returned: success
  type: str
  sample: sqlite
location:
  description:
    - Where the database is, from the project's settings, V(name), V(host) and V(port) (empty when
      not set); never the user or the password.
    - A value that comes from O(env_file) or O(environment) and is masked (see the description) is
      shown as C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER); RV(remote_database) says what the role needs
      to know of the host.
  returned: success
  type: dict
  sample: {"name": "person", "host": "db.internal", "port": "5432"}
remote_database:
  description:
    - Whether the database is a server on another machine - not SQLite, and a C(host) that is set,
      is not C(localhost), C(127.0.0.1) or C(::1) and is not a Unix socket directory - which several
      hosts may share (the role then migrates it once). Computed before any masking.
  returned: success
  type: bool
  sample: true
django_version:
  description: The Django version of the virtualenv.
  returned: success
  type: str
  sample: 5.2.8
settings:
  description:
    - What the health check needs of the project's settings, read where its Django is loaded.
  returned: success
  type: dict
  sample: {"allowed_hosts": [".example.com", "localhost"], "secure_proxy_ssl_header": ["HTTP_X_FORWARDED_PROTO", "https"],
           "debug": false, "healthcheck": {"host": "example.com", "headers": {"X-Forwarded-Proto": "https"}}}
  contains:
    allowed_hosts:
      description:
        - C(ALLOWED_HOSTS). Shown whole even when it comes from O(env_file) or O(environment) (a host name
          is sent in every request, no secret).
      type: list
      elements: str
      sample: [".example.com", "localhost"]
    secure_proxy_ssl_header:
      description: C(SECURE_PROXY_SSL_HEADER), the C(request.META) key and its value; null when not set.
      type: list
      elements: str
      sample: ["HTTP_X_FORWARDED_PROTO", "https"]
    debug:
      description: C(DEBUG).
      type: bool
      sample: false
    healthcheck:
      description:
        - What the role's health check sends by default, C(host) the first entry of C(ALLOWED_HOSTS) that
          is not a wildcard (a leading dot dropped; null when none, then the URL's own host), C(headers)
          the header C(SECURE_PROXY_SSL_HEADER) names with its value (empty when not set).
      type: dict
      sample: {"host": "example.com", "headers": {"X-Forwarded-Proto": "https"}}
checks:
  description:
    - Warnings of Django's system checks, as Django prints them (errors make the module fail
      and are returned in this key too).
  returned: when O(check=true)
  type: list
  elements: str
  sample: ["?: (urls.W005) URL namespace 'admin' isn't unique."]
stage:
  description:
    - On failure, the step that failed. Loading the project (see the notes) is V(import)
      (Django cannot be imported), V(manage) (the project's C(manage.py) failed),
      V(settings) or V(setup) (C(django.setup()), the apps); then V(checks), V(database),
      V(backend), V(connect), V(conflicts), V(history) or V(missing). Absent when the
      child process died without a report, or when it could not be started.
  returned: failure
  type: str
  sample: connect
stderr:
  description: Django's standard error (the traceback of the failure).
  returned: failure
  type: str
  sample: "django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY is not set"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.simpledeploy.django.plugins.module_utils import _secrets, _static
from ansible_collections.simpledeploy.django.plugins.module_utils._envfile import app_env
from ansible_collections.simpledeploy.django.plugins.module_utils._plan import finish_report, migration_plan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project_path=dict(type='path', required=True),
            virtualenv=dict(type='path', required=True),
            settings=dict(type='str'),
            env_file=dict(type='path'),
            environment=dict(type='dict', no_log=True),
            database=dict(type='str', default='default'),
            run_as=dict(type='str'),
            nice=dict(type='int', default=0),
            check=dict(type='bool', default=False),
            detect_missing=dict(type='bool', default=True),
            expand_data_steps=dict(type='bool', default=False),
            judge=dict(type='list', elements='str', default=[]),
            collect_static=dict(type='dict', options=dict(
                tree=dict(type='path', required=True),
                previous_tree=dict(type='path'),
                discard=dict(type='path'),
            )),
        ),
        supports_check_mode=True,
    )
    if not 0 <= module.params['nice'] <= 19:
        module.fail_json(msg='nice must be between 0 and 19, got %d' % module.params['nice'])
    params = module.params
    # no_log registered every value of environment ("1" included), the only no_log option:
    # keep those the rule masks.
    module.no_log_values.clear()
    module.no_log_values.update(_secrets.secret_strings(
        app_env(params['environment']), _secrets.public_strings(module.argument_spec, params)))
    report = migration_plan(
        module,
        params['project_path'],
        params['virtualenv'],
        settings=params['settings'],
        environment=params['environment'],
        env_file=params['env_file'],
        database=params['database'],
        run_as=params['run_as'],
        check=params['check'],
        detect_missing=params['detect_missing'],
        expand_data_steps=params['expand_data_steps'],
        judge=params['judge'],
    )
    finish_report(module, report)
    static = params['collect_static']
    if static:
        collected, failure = _static.collect_or_failure(
            module, params['project_path'], static['tree'], params['virtualenv'], params['run_as'],
            previous_tree=static['previous_tree'], settings=params['settings'], env_file=params['env_file'])
        # The preview read last (the role's check mode): removed whatever collectstatic did.
        discarded = _static.discard(module, static['discard'])
        if failure:
            module.fail_json(static=dict(discarded=discarded), **failure)
        report['static'] = dict(collected, discarded=discarded)
    # The result's invocation is built from params at exit: no value of environment goes in it,
    # whatever the rule above masks elsewhere.
    if params['environment']:
        params['environment'] = dict((key, 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER') for key in params['environment'])
    # The plan changes nothing; collected static files are a change (in check mode: would be).
    module.exit_json(changed=bool((report.get('static') or {}).get('changed')), **report)


if __name__ == '__main__':
    main()
