#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run examples/awx/deploy.yml the way AWX runs a job template: with ansible-runner.

    .venv/bin/python tests/e2e/awx_job.py --inventory INVENTORY --extra-vars-file VARS \\
        --version v2 [--strategy auto] [--dry-run false] [--job-type run|check] \\
        [--answers JSON] [--repo URL] [--collections-path PATHS] [--limit PATTERN] \\
        [--forks N] [--secret VALUE]... [--out DIR] [--show-output]

It builds, under --out DIR, the private data directory AWX gives
ansible-runner for a job:

    DIR/job/project/        examples/awx (the project's playbook and survey)
    DIR/job/inventory/      the --inventory files or directories, copied
    DIR/job/env/extravars   the job template's extra vars (--extra-vars-file),
                            then the survey's answers as AWX sends them: strings,
                            checked against examples/awx/survey.json as AWX
                            checks them, and marked !unsafe (AWX does not
                            template launch-time answers)
    DIR/job/env/envvars     ANSIBLE_COLLECTIONS_PATH and what AWX sets for every job
    DIR/job/env/cmdline     --check for a job of type check
    DIR/job/artifacts/ID/   what ansible-runner writes: status, rc, stdout, job_events/

and, unless --repo is given (or the vars file sets app_repo), a git repository
DIR/app-repo with tags v1 and v2 made from examples/person/v1 and v2, which the
playbook checks out at the version asked for. It runs the job with
ansible_runner.run() in an environment without the caller's ANSIBLE_* and
MOLECULE_* variables, removes DIR/job/env (it holds the job template's secrets:
AWX removes a job's private data directory too), and prints one JSON object:

    status, rc         ansible-runner's (successful, failed, timeout, ...)
    hosts              per host: ok, changed, failed, unreachable, skipped, rescued, ignored
    changed_tasks      "host: task" of every task that reported a change (what to look at
                       when a job that should change nothing did)
    results            per host: the scalar values of the role's deploy_result
                       (strategy, migrated, downtime, check_mode, ...) and its
                       summary line
    app_commit         the commit the playbook checked out
    role_from          the directories the role's tasks ran from
    events             number of job events; artifacts: their directory
    secret_in_stdout   whether the stdout of any event holds a --secret value
    secret_in_artifacts  files under the artifacts holding one (must be [])

Exit status: 0 the job succeeded and no secret showed; 1 the job did not
succeed; 2 it could not start (bad arguments, an answer AWX would refuse, a tool
that failed); 3 it succeeded but a --secret value showed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  pylint: disable=wrong-import-position

AWX_EXAMPLE = os.path.join(_common.EXAMPLES, 'awx')
SURVEY = os.path.join(AWX_EXAMPLE, 'survey.json')
PLAYBOOK = 'deploy.yml'
APP_VERSIONS = (('v1', os.path.join(_common.EXAMPLES, 'person', 'v1')),
                ('v2', os.path.join(_common.EXAMPLES, 'person', 'v2')))
STATS = (('ok', 'ok'), ('changed', 'changed'), ('failed', 'failures'), ('unreachable', 'dark'),
         ('skipped', 'skipped'), ('rescued', 'rescued'), ('ignored', 'ignored'))


class Unsafe(str):
    """A string AWX writes with the !unsafe tag: Ansible never templates it."""


def _represent_unsafe(dumper, value):
    return dumper.represent_scalar('!unsafe', str(value))


class ExtraVarsDumper(yaml.SafeDumper):
    """YAML for env/extravars; Unsafe strings get the !unsafe tag."""


ExtraVarsDumper.add_representer(Unsafe, _represent_unsafe)


def load_survey(path=SURVEY):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def survey_answers(survey, given):
    """The answers AWX would pass for ``given`` (variable -> value), or a list of errors.

    As AWX does at launch: a question not answered takes its default; a
    required one must have a non-empty answer; a text answer is a string whose
    length lies within min and max; a multiple choice answer is one of the
    choices; a variable the survey does not ask for is refused (AWX drops it,
    or refuses it when the job template does not prompt for extra vars).
    Returns (answers, errors).
    """
    questions = dict((item['variable'], item) for item in survey['spec'])
    errors = ['%s is not a question of the survey (%s)' % (name, ', '.join(sorted(questions)))
              for name in sorted(set(given) - set(questions))]
    answers = {}
    for name, item in questions.items():
        value = given.get(name, item.get('default', ''))
        if item['type'] in ('text', 'textarea', 'password', 'multiplechoice') and not isinstance(value, str):
            errors.append('%s: %r must be a string' % (name, value))
            continue
        if value == '' or value is None:
            if item.get('required'):
                errors.append('%s: "%s" is required' % (name, item['question_name']))
            continue
        if item['type'] in ('text', 'textarea', 'password'):
            low, high = item.get('min'), item.get('max')
            if isinstance(low, int) and len(value) < low:
                errors.append('%s: "%s" is shorter than %d characters' % (name, value, low))
            if isinstance(high, int) and len(value) > high:
                errors.append('%s: longer than %d characters' % (name, high))
        elif item['type'] == 'multiplechoice':
            choices = item['choices'].splitlines() if isinstance(item['choices'], str) else item['choices']
            if value not in choices:
                errors.append('%s: "%s" is not one of %s' % (name, value, ', '.join(choices)))
        answers[name] = value
    return answers, errors


def extravars(job_template_vars, answers, job_id):
    """env/extravars: the job template's extra vars, then AWX's own, then the survey's answers."""
    result = dict(job_template_vars)
    result.update(awx_job_id=job_id, awx_job_template_name='Deploy the Django app',
                  awx_job_launch_type='manual', awx_user_name='e2e')
    result.update((name, Unsafe(value)) for name, value in answers.items())
    return yaml.dump(result, Dumper=ExtraVarsDumper, default_flow_style=False, sort_keys=True)


def make_app_repo(dest, versions=APP_VERSIONS):
    """A git repository at ``dest`` with one commit and tag per (tag, source tree)."""
    git = _common.tool('git')
    env = _common.job_environment(None, dict(GIT_CONFIG_NOSYSTEM='1', GIT_CONFIG_GLOBAL=os.devnull))
    config = ['-c', 'user.name=simpledeploy e2e', '-c', 'user.email=e2e@simpledeploy.invalid',
              '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false']
    os.makedirs(dest)
    _common.run_command([git, 'init', '--quiet', '--initial-branch=main', dest], cwd=dest, env=env)
    for tag, source in versions:
        for name in os.listdir(dest):
            if name != '.git':
                path = os.path.join(dest, name)
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
        shutil.copytree(source, dest, dirs_exist_ok=True, ignore=_common.COPY_IGNORE)
        # Forget the index first: a file of the same size and modification time as the one it
        # replaces (v1's and v2's views.py, copied with their times) is taken as unchanged by git's
        # stat check, and the tag would hold the old content.
        _common.run_command([git] + config + ['rm', '-r', '--cached', '--quiet', '--ignore-unmatch', '.'],
                            cwd=dest, env=env)
        _common.run_command([git] + config + ['add', '--all'], cwd=dest, env=env)
        _common.run_command([git] + config + ['commit', '--quiet', '-m', 'person ' + tag], cwd=dest, env=env)
        _common.run_command([git] + config + ['tag', tag], cwd=dest, env=env)
    return dest


def private_data_dir(out, inventories, job_template_vars, answers, collections_path, job_id, job_type,
                     timeout):
    """Lay out the private data directory of one job under ``out``; return its path."""
    project = os.path.join(out, 'project')
    shutil.copytree(AWX_EXAMPLE, project, ignore=_common.COPY_IGNORE)
    _common.copy_inventory(inventories, os.path.join(out, 'inventory'))
    env_dir = os.path.join(out, 'env')
    os.makedirs(env_dir)
    os.chmod(env_dir, 0o700)
    envvars = dict(ANSIBLE_RETRY_FILES_ENABLED='False', ANSIBLE_HOST_KEY_CHECKING='False',
                   ANSIBLE_INVENTORY_UNPARSED_FAILED='True', ANSIBLE_PARAMIKO_RECORD_HOST_KEYS='False',
                   JOB_ID=str(job_id))
    if collections_path:
        envvars['ANSIBLE_COLLECTIONS_PATH'] = collections_path
    files = {
        'extravars': extravars(job_template_vars, answers, job_id),
        'envvars': json.dumps(envvars, indent=2),
        'settings': json.dumps(dict(job_timeout=timeout), indent=2),
    }
    if job_type == 'check':
        files['cmdline'] = '--check'
    for name, content in files.items():
        path = os.path.join(env_dir, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w', encoding='utf-8') as handle:
            handle.write(content + '\n')
    return out


def scalar_results(events):
    """Per host: the scalar values of the role's deploy_result, its quiet_blockers, and its summary line."""
    results = {}
    for event in events:
        if event.get('event') != 'runner_on_ok':
            continue
        data = event.get('event_data', {})
        host, res = data.get('host'), data.get('res') or {}
        facts = res.get('ansible_facts') or {}
        if isinstance(facts.get('deploy_result'), dict):
            result = dict((key, value) for key, value in facts['deploy_result'].items()
                          if value is None or isinstance(value, (str, int, float, bool)))
            result['quiet_blockers'] = facts['deploy_result'].get('quiet_blockers')
            results.setdefault(host, {}).update(result)
        message = res.get('msg')
        app = results.get(host, {}).get('app')
        if app and isinstance(message, str) and message.startswith(app + ': '):
            results[host]['summary'] = message
    return results


def changed_tasks(events):
    """'host: task name' of each task event that reported a change, in order."""
    found = []
    for event in events:
        data = event.get('event_data') or {}
        if event.get('event') == 'runner_on_ok' and (data.get('res') or {}).get('changed'):
            found.append('%s: %s' % (data.get('host'), data.get('task')))
    return found


def role_roots(events):
    """The directories the role's tasks ran from (the copy of the collection the job used)."""
    roots = set()
    for event in events:
        data = event.get('event_data', {})
        path = data.get('task_path') or ''
        if data.get('resolved_role') == 'simpledeploy.django.deploy' and '/roles/deploy/' in path:
            roots.add(path.split('/roles/deploy/')[0])
    return sorted(roots)


def app_commit(events):
    for event in events:
        facts = (event.get('event_data', {}).get('res') or {}).get('ansible_facts') or {}
        if facts.get('app_commit'):
            return facts['app_commit']
    return None


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--inventory', action='append', required=True,
                        help='inventory file or directory, copied into the job (repeatable)')
    parser.add_argument('--extra-vars-file', action='append', default=[],
                        help="YAML or JSON file of the job template's extra vars (repeatable, later wins)")
    parser.add_argument('--version', help='survey answer app_version: the git tag, branch or commit')
    parser.add_argument('--strategy', help='survey answer deploy_strategy: auto, simple or reload')
    parser.add_argument('--dry-run', help='survey answer dry_run, a string: true or false')
    parser.add_argument('--answers', help='survey answers as a JSON object (variable: value), over the options')
    parser.add_argument('--job-type', choices=['run', 'check'], default='run',
                        help='the job template type: check runs ansible-playbook --check')
    parser.add_argument('--repo', help='git URL or path of the app (default: a repository made of '
                        'examples/person v1 and v2, unless the vars set app_repo)')
    parser.add_argument('--collections-path', default=os.environ.get('ANSIBLE_COLLECTIONS_PATH', ''),
                        help='ANSIBLE_COLLECTIONS_PATH of the job (default: the one of this environment)')
    parser.add_argument('--limit', help="the job template's limit")
    parser.add_argument('--forks', type=int, help="the job template's forks")
    parser.add_argument('--timeout', type=int, default=1800, help='job timeout, seconds (default 1800)')
    parser.add_argument('--secret', action='append', default=[],
                        help='a value that must not appear in the events or artifacts (repeatable)')
    parser.add_argument('--out', help='directory for the private data directory (created; default: a new '
                        'temporary directory, kept)')
    parser.add_argument('--show-output', action='store_true', help="echo the job's output on stderr")
    return parser.parse_args(argv)


def given_answers(args):
    given = {}
    for name, value in (('app_version', args.version), ('deploy_strategy', args.strategy),
                        ('dry_run', args.dry_run)):
        if value is not None:
            given[name] = value
    if args.answers:
        try:
            more = json.loads(args.answers)
        except ValueError as exc:
            raise _common.SetupError('--answers is not JSON: %s' % exc)
        if not isinstance(more, dict):
            raise _common.SetupError('--answers must be a JSON object (variable: value)')
        given.update(more)
    return given


def load_vars(paths):
    merged = {}
    for path in paths:
        with open(path, encoding='utf-8') as handle:
            try:
                data = yaml.safe_load(handle) or {}
            except yaml.YAMLError as exc:
                # Not str(exc): it quotes the offending line, which may hold a secret.
                mark = getattr(exc, 'problem_mark', None)
                raise _common.SetupError('%s is not valid YAML%s' % (
                    path, ' (line %d)' % (mark.line + 1) if mark else ''))
        if not isinstance(data, dict):
            raise _common.SetupError('%s does not hold a mapping of variables' % path)
        merged.update(data)
    return merged


def run_job(args):
    try:
        import ansible_runner  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise _common.SetupError('ansible_runner is not importable by %s: run this with .venv/bin/python '
                                 '(scripts/setup installs ansible-runner there)' % sys.executable)
    started = time.time()
    answers, errors = survey_answers(load_survey(), given_answers(args))
    if errors:
        raise _common.SetupError('AWX would refuse these survey answers: ' + '; '.join(errors))
    job_vars = load_vars(args.extra_vars_file)
    out = os.path.abspath(args.out) if args.out else tempfile.mkdtemp(prefix='awx-job-')
    if os.path.exists(out) and os.listdir(out):
        raise _common.SetupError('--out %s is not empty: give a new directory for each job' % out)
    os.makedirs(out, exist_ok=True)
    if args.repo:
        job_vars['app_repo'] = args.repo
    elif not job_vars.get('app_repo'):
        job_vars['app_repo'] = make_app_repo(os.path.join(out, 'app-repo'))
    job_id = int(started) % 100000
    ident = 'job-%d' % job_id
    pdd = private_data_dir(os.path.join(out, 'job'), args.inventory, job_vars, answers,
                           args.collections_path, job_id, args.job_type, args.timeout)

    def echo(event):
        if event.get('stdout'):
            _common.say(event['stdout'])
        return True

    # ansible-runner hands its own process's environment to the job: give it
    # the job's, as a fresh execution environment would have.
    saved, job_env = dict(os.environ), _common.job_environment(args.collections_path)
    try:
        os.environ.clear()
        os.environ.update(job_env)
        runner = ansible_runner.run(private_data_dir=pdd, playbook=PLAYBOOK, ident=ident, quiet=True,
                                    limit=args.limit, forks=args.forks,
                                    event_handler=echo if args.show_output else None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(os.path.join(pdd, 'env'), ignore_errors=True)

    events = list(runner.events)
    stats = runner.stats or {}
    hosts = {}
    for key, runner_key in STATS:
        for host, count in (stats.get(runner_key) or {}).items():
            hosts.setdefault(host, dict((name, 0) for name, _runner_name in STATS))[key] = count
    artifacts = runner.config.artifact_dir
    leaked_files = _common.files_containing(artifacts, args.secret)
    summary = dict(
        status=runner.status, rc=runner.rc, job_type=args.job_type, answers=answers,
        hosts=hosts, changed_tasks=changed_tasks(events), results=scalar_results(events), app_commit=app_commit(events), role_from=role_roots(events),
        events=len(events), artifacts=artifacts, private_data_dir=pdd,
        secrets_checked=len([s for s in args.secret if s]),
        secret_in_stdout=any(_common.contains_secret(event.get('stdout', ''), args.secret) for event in events)
        if args.secret else None,
        secret_in_artifacts=leaked_files if args.secret else None,
        seconds=round(time.time() - started, 1))
    return summary


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = run_job(args)
    except (_common.SetupError, OSError) as exc:
        _common.say('awx_job: %s' % exc)
        _common.emit(dict(status='error', rc=None, error=str(exc)))
        return _common.EXIT_SETUP
    _common.emit(summary)
    leaked = bool(summary['secret_in_stdout'] or summary['secret_in_artifacts'])
    if summary['status'] != 'successful':
        if leaked:
            _common.say('awx_job: the job output is not shown: it holds a --secret value')
        else:
            with open(os.path.join(summary['artifacts'], 'stdout'), encoding='utf-8', errors='replace') as handle:
                _common.say('awx_job: the job %s; the end of its output:\n%s'
                            % (summary['status'], _common.tail(handle.read(), 60)))
        return _common.EXIT_FAILED
    if leaked:
        _common.say('awx_job: a --secret value shows in the job output or artifacts')
        return _common.EXIT_SECRET
    return _common.EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
