# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rollback.yml's decisions, evaluated by Ansible's templating with the results release_info and migration_status
return: which release, which migrations to undo and where each app goes back to, a window or none, and the
refusal of a migration that cannot be undone, naming the backup taken before it ran.

The whole flow runs on real hosts in the default scenario (molecule/default/tests/test_default.py) and on real
Django in tests/unit/plugins/modules/test_release_switch_rollback.py."""

from __future__ import annotations

import os

import yaml

from ansible.errors import AnsibleValueOmittedError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.simpledeploy.django.tests.unit.test_role_downgrade import task

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLLBACK = os.path.join(ROOT, 'roles', 'deploy', 'tasks', 'rollback.yml')
CHOOSE = 'Rollback | Choose the release to go back to'
NOTHING = 'Rollback | Stop before any change when there is nothing to go back to'
IRREVERSIBLE = 'Rollback | Stop before any change when a migration to undo cannot be undone'
OMITTED = object()
SWITCH = 'Rollback | Go back, with a window only when the older code cannot run on the schema to undo'

RELEASES = [
    {'release': 'r3', 'live': True, 'went_live': '2026-12-01T10:00:00Z', 'order': 3, 'venv': 'k3', 'tree': 'code',
     'rollback': False, 'why_not': 'it is the live release', 'migrations': {'people': '0003_c'}},
    {'release': 'r2', 'live': False, 'went_live': '2026-11-30T10:00:00Z', 'order': 2, 'venv': 'k2',
     'tree': 'code.previous', 'rollback': True, 'why_not': None, 'migrations': {'people': '0002_b'}},
    {'release': 'r1', 'live': False, 'went_live': '2026-11-29T10:00:00Z', 'order': 1, 'venv': 'k1',
     'tree': 'releases/r1', 'rollback': False, 'why_not': 'its virtualenv (venvs/k1) is no longer on the host',
     'migrations': {}},
]
INFO = {'safe': True, 'ours': True, 'reason': None, 'releases': RELEASES, 'rollback_to': 'r2', 'check_mode': False,
        'switching': None}
# migration_status in r2's tree: people.0003_c and shop.0001_initial (an app r2 has no migration in... yet knows)
# are applied and unknown to it.
PLAN = {'pending': False, 'migrations': [], 'vendor': 'sqlite', 'location': {'name': '/srv/person/shared/db.sqlite3'},
        'unknown_applied': [{'app': 'people', 'name': '0003_c'}, {'app': 'shop', 'name': '0001_initial'}],
        'known_leaves': [{'app': 'auth', 'name': '0012_x'}, {'app': 'people', 'name': '0002_b'}],
        'applied_leaves': [{'app': 'people', 'name': '0003_c'}]}
COMPATIBLE = {'changed': False, 'older_blockers': [], 'judged_unknown': [],
              'judged': [{'app': 'people', 'name': '0003_c', 'reversible': True},
                         {'app': 'shop', 'name': '0001_initial', 'reversible': True}]}


def tasks():
    with open(ROLLBACK, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def engine(**variables):
    """A templar with the role's variables of the rollback block, VARIABLES winning."""
    block = tasks()[0]
    base = dict(deploy_app_name='person', deploy_root='/srv/person', deploy_rollback_to='',
                deploy_rollback_schema=True, deploy_service_name='person', deploy_project_subdir='', deploy_backup=True,
                deploy_user='person', __deploy_rb_info=INFO, __deploy_plan=PLAN, __deploy_rb_judge=COMPATIBLE)
    base.update(variables)
    templar = Templar(loader=DataLoader(), variables=base)
    for name, value in block['vars'].items():
        if name not in variables:
            templar.available_variables = dict(templar.available_variables,
                                               **{name: templar.template(trust_as_template(value))})
    return templar


def choose(templar):
    for name, value in task(CHOOSE, tasks())['ansible.builtin.set_fact'].items():
        templar.available_variables = dict(templar.available_variables,
                                           **{name: templar.template(trust_as_template(value))})
    return templar


def refused(name, templar):
    """The assert task NAME's message when it fails, else None."""
    item = task(name, tasks())
    if any(not templar.evaluate_conditional(trust_as_template(when))
           for when in ([item['when']] if isinstance(item.get('when'), str) else item.get('when') or [])):
        return None
    for var, value in (item.get('vars') or {}).items():
        templar.available_variables = dict(templar.available_variables,
                                           **{var: templar.template(trust_as_template(value))})
    check = item['ansible.builtin.assert']
    that = check['that'] if isinstance(check['that'], list) else [check['that']]
    if all(templar.evaluate_conditional(trust_as_template(condition)) for condition in that):
        return None
    return templar.template(trust_as_template(check['fail_msg']))


def switch_args(templar):
    """release_switch's arguments as the task gives them; OMITTED for one left out."""
    args = task(SWITCH, tasks())['simpledeploy.django.release_switch']
    found = {}
    for key in ('release', 'venv_key', 'migrate', 'migrate_back', 'backup', 'stage_kept'):
        try:
            found[key] = templar.template(trust_as_template(args[key])) if isinstance(args[key], str) else args[key]
        except AnsibleValueOmittedError:
            found[key] = OMITTED
    return found


def test_the_release_before_the_live_one_comes_back_and_each_app_goes_back_to_what_it_knows():
    templar = choose(engine())
    assert refused(NOTHING, templar) is None
    assert templar.template(trust_as_template('{{ __deploy_rb_undo }}')) == ['people.0003_c', 'shop.0001_initial']
    args = switch_args(templar)
    # Compatible: no migrate in the window, the schema back after the switch with the live release's virtualenv.
    assert args['release'] == 'r2' and args['venv_key'] == 'k2' and args['migrate'] is False
    assert args['migrate_back'] == {'targets': [{'app': 'people', 'name': '0002_b'}, {'app': 'shop', 'name': 'zero'}],
                                    'venv_key': 'k3', 'after': True}
    assert args['backup'] is True and args['stage_kept'] is True


def test_migrations_the_older_code_cannot_run_with_go_back_inside_the_window():
    for judge in (dict(COMPATIBLE, older_blockers=['people.0003_c: adds NOT NULL column']),
                  dict(COMPATIBLE, judged_unknown=['shop.0001_initial'])):
        args = switch_args(choose(engine(__deploy_rb_judge=judge)))
        assert args['migrate'] is True and args['migrate_back']['after'] is False


def test_nothing_to_undo_or_the_schema_left_as_it_is_is_a_code_only_switch():
    for variables in (dict(__deploy_plan=dict(PLAN, unknown_applied=[]), __deploy_rb_judge={'skipped': True}),
                      dict(deploy_rollback_schema=False, __deploy_rb_judge={'skipped': True})):
        args = switch_args(choose(engine(**variables)))
        assert args['migrate'] is False and args['backup'] is False
        assert args['migrate_back'] is OMITTED


def test_a_release_that_cannot_come_back_is_refused_saying_why():
    message = refused(NOTHING, choose(engine(deploy_rollback_to='r1')))
    assert message == ('cannot go back to r1: its virtualenv (venvs/k1) is no longer on the host. Nothing was '
                       'changed.')
    message = refused(NOTHING, choose(engine(__deploy_rb_info=dict(INFO, rollback_to=None))))
    assert message == ('no release before the live one is kept on this host. Kept: r3, r2, r1 (the playbook '
                       'simpledeploy.django.releases says which can come back, and why not). Nothing was changed.')
    assert refused(NOTHING, choose(engine(deploy_rollback_to='nope'))).startswith(
        'no release nope is kept on this host. Kept: ')


def test_an_irreversible_migration_is_refused_naming_the_backup_taken_before_it_ran():
    judge = dict(COMPATIBLE, judged=[{'app': 'people', 'name': '0003_c', 'reversible': False},
                                     {'app': 'shop', 'name': '0001_initial', 'reversible': True}])
    backups = {'files': [{'path': '/srv/person/backups/r3-20261201T100000Z.sqlite3'},
                         {'path': '/srv/person/backups/r2-20261130T100000Z.sqlite3'},
                         {'path': '/srv/person/backups/r1-20261129T095900Z.sqlite3'}]}
    message = refused(IRREVERSIBLE, choose(engine(__deploy_rb_judge=judge, __deploy_rb_backups=backups)))
    # Not r2's own backup (taken as r2 went live, before its own migrations), nor r1's (before r2 went live).
    assert message.startswith('Cannot take the schema back to release r2: Django cannot undo people.0003_c '
                              '(irreversible). The backup taken before they ran is '
                              '/srv/person/backups/r3-20261201T100000Z.sqlite3; restoring it loses every write made '
                              'since 2026-11-30T10:00:00Z. To restore it: systemctl stop person && runuser -u person -- '
                              'python3 -c \'import shutil, sqlite3, sys, tempfile; t = tempfile.NamedTemporaryFile(); '
                              'shutil.copyfileobj(sys.stdin.buffer, t); t.flush(); sqlite3.connect(t.name).backup('
                              'sqlite3.connect(sys.argv[1]))\' /srv/person/shared/db.sqlite3 < '
                              '/srv/person/backups/r3-20261201T100000Z.sqlite3 && systemctl start person. Then run the '
                              'rollback again'), message
    assert message.endswith('Nothing was changed.') and '\n' not in message
    assert refused(IRREVERSIBLE, choose(engine())) is None


def test_a_settings_value_in_the_restore_command_is_quoted():
    judge = dict(COMPATIBLE, judged=[{'app': 'people', 'name': '0003_c', 'reversible': False}])
    plan = dict(PLAN, location={'name': '/srv/person/shared/db.sqlite3; rm -rf /'})
    backups = {'files': [{'path': '/srv/person/backups/r3-20261201T100000Z.sqlite3'}]}
    message = refused(IRREVERSIBLE, choose(engine(__deploy_rb_judge=judge, __deploy_rb_backups=backups,
                                                  __deploy_plan=plan)))
    assert "'/srv/person/shared/db.sqlite3; rm -rf /' < /srv/person/backups/" in message, message


def test_without_a_backup_a_failed_window_migrates_forward_again_with_the_live_releases_leaves():
    judge = dict(COMPATIBLE, older_blockers=['x'], applied_leaves=[{'app': 'people', 'name': '0003_c'}])
    args = task(SWITCH, tasks())['simpledeploy.django.release_switch']
    for backup, reversible in ((True, False), (False, True)):
        templar = choose(engine(__deploy_rb_judge=judge, deploy_backup=backup))
        assert templar.template(trust_as_template(args['reversible'])) is reversible
        assert templar.template(trust_as_template(args['applied_leaves'])) == [{'app': 'people', 'name': '0003_c'}]


def test_the_summary_is_one_line():
    item = task('Rollback | Say what was done', tasks())
    templar = choose(engine(__deploy_rb_switch={'strategy': 'reload', 'downtime': False, 'window': 0}))
    for name, value in item['vars'].items():
        templar.available_variables = dict(templar.available_variables,
                                           **{name: templar.template(trust_as_template(value))})
    said = templar.template(trust_as_template(item['ansible.builtin.debug']['msg']))
    assert said == ('person: rolled back to release r2 (was r3), strategy reload; schema: migrations undone: '
                    'people.0003_c, shop.0001_initial after the switch, the older release serving; no downtime')


def test_a_window_a_killed_run_left_open_is_refused_saying_how_to_finish_it():
    killed = {'release': 'r2', 'started': '2026-12-01T10:00:00Z', 'strategy': 'simple'}
    message = refused(NOTHING, choose(engine(__deploy_rb_info=dict(INFO, switching=dict(killed, rollback_from='r3')))))
    assert message == ('the rollback to r2 (started 2026-12-01T10:00:00Z) was killed inside its window: deploy r3 '
                       'again with the deploy playbook (its archive), which finishes that window and migrates forward '
                       'what was undone; then go back again. Nothing was changed.')
    message = refused(NOTHING, choose(engine(__deploy_rb_info=dict(INFO, switching=killed))))
    assert message == ('the deploy of r2 (started 2026-12-01T10:00:00Z) was killed inside its window: deploy it '
                       'again, which finishes that window, then go back. Nothing was changed.')
