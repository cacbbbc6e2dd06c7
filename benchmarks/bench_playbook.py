# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wall time and remote executions of a deploy: the role against the five-task playbook people write.

Creates its own container host (the one bench_window.py uses: podman, systemd
inside, simpledeploy-bench), deploys v1 of examples/person with the role,
loads the v1 fixture, and then, for each round, runs each case from v1
deployed and migrated, over the podman connection with pipelining on:

  typical-code     benchmarks/typical/deploy.yml, v1 -> v1b (one template line)
  role-code        the role, v1 -> v1b
  typical-migrate  the typical playbook, v1 -> v2 (new field + migration)
  role-migrate     the role, v1 -> v2
  role-same        the role deploying v1 again (nothing to do)
  role-check       the role with --check, previewing v1 -> v1b (changes nothing)

The typical playbook: systemd stop, file absent, unarchive, django_manage
migrate (as the app user, with the app's environment), systemd start; its
archive is the release's tree under code/, made once on the controller. Both
read the SQLite database from shared/ through DJANGO_DB_NAME (the role's
deploy_env, extended here), so both serve the same data.

Between cases (outside the measurement) the people app is migrated back to
0001 and v1 is put back: by the role after a role case, by a saved copy of
the role's v1 tree after a typical case.

Remote executions are counted by benchmarks/plugins/callback/count_remote.py:
each command run on the host (every module run, with pipelining; making and
removing Ansible's remote temporary directory) and each file sent or fetched.

Ratios, each against a case of the same round: role-code / typical-code,
role-migrate / typical-migrate, role-same / typical-code (the issue's "same
release again"), role-check / role-code (a preview against the deploy it
previews).

A report, not a test: it never fails on slowness; it fails when a deploy does
not do its job (the page does not show the release it should; the preview
changed the host).

    .venv/bin/python benchmarks/bench_playbook.py [--rounds 3] [--cases a,b] [--json F] [--keep-host]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_window as bw  # noqa: E402 (the same host, helpers and v1b)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
V1_SAVED = '/tmp/bench-v1-code'
DB_NAME = bw.DEPLOY_ROOT + '/shared/db.sqlite3'
V1_MARKER = bw.V1_MARKER
V1B_MARKER = bw.CASES['role-v1b']['marker']
V2_MARKER = bw.CASES['role-v2']['marker']

CASES = collections.OrderedDict([
    ('typical-code', dict(kind='typical', version='v1b', marker=V1B_MARKER)),
    ('role-code', dict(kind='role', version='v1b', marker=V1B_MARKER)),
    ('typical-migrate', dict(kind='typical', version='v2', marker=V2_MARKER)),
    ('role-migrate', dict(kind='role', version='v2', marker=V2_MARKER)),
    ('role-same', dict(kind='role', version='v1', marker=V1_MARKER)),
    ('role-check', dict(kind='role', version='v1b', marker=V1_MARKER, check=True)),
])
RATIOS = (('role-code', 'typical-code'), ('role-migrate', 'typical-migrate'), ('role-same', 'typical-code'),
          ('role-check', 'role-code'))


class Bench(object):

    def __init__(self, args):
        self.args = args
        self.env = bw.tool_env()
        self.host = bw.Host(self.env)
        self.tmp = tempfile.mkdtemp(prefix='simpledeploy-bench-playbook-')
        self.sources = {'v1': os.path.join(ROOT, 'examples', 'person', 'v1'),
                        'v2': os.path.join(ROOT, 'examples', 'person', 'v2'),
                        'v1b': os.path.join(self.tmp, 'v1b')}
        self.results = []

    # ------------------------------------------------------------ set-up

    def write_files(self):
        bw.Bench.make_v1b(self)
        self.inventory = os.path.join(self.tmp, 'inventory')
        with open(self.inventory, 'w') as handle:
            handle.write('%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n'
                         % bw.HOST)
        self.ansible_cfg = os.path.join(self.tmp, 'ansible.cfg')
        with open(self.ansible_cfg, 'w') as handle:
            handle.write('[defaults]\nhost_key_checking = False\nretry_files_enabled = False\n'
                         'callback_plugins = %s\ncallbacks_enabled = count_remote\n'
                         '[connection]\npipelining = true\n' % os.path.join(HERE, 'plugins', 'callback'))
        self.build_dir = os.path.join(self.tmp, 'build')
        with open(os.path.join(ROOT, 'molecule', 'default', 'vars.yml')) as handle:
            import yaml  # ansible-core's dependency, in .venv
            self.app_env = dict(yaml.safe_load(handle)['deploy_env'], DJANGO_DB_NAME=DB_NAME)
        self.vars_file = os.path.join(self.tmp, 'vars.json')
        with open(self.vars_file, 'w') as handle:
            json.dump(dict(deploy_env=self.app_env), handle)
        self.archives = {}
        for version in ('v1b', 'v2'):
            path = os.path.join(self.tmp, 'typical-%s.tar.gz' % version)
            with tarfile.open(path, 'w:gz') as tar:
                tar.add(self.sources[version], arcname='code', filter=_typical_filter)
            self.archives[version] = path

    def setup(self):
        for tool in ('podman', 'ansible-playbook'):
            if not shutil.which(tool, path=self.env['PATH']):
                raise bw.BenchError('%s not found; run scripts/setup first' % tool)
        self.write_files()
        bw.log('creating the container host %s' % bw.HOST)
        self.host.lib('sd_remove_host', bw.HOST)
        self.host.lib('sd_ensure_host', bw.HOST)
        with open(os.path.join(self.tmp, 'poller.py'), 'w') as handle:
            handle.write(bw.POLLER_SOURCE)
        bw.run(['podman', 'cp', os.path.join(self.tmp, 'poller.py'), '%s:%s' % (bw.HOST, bw.POLLER)], self.env)
        bw.log('first deploy of v1 (builds the virtualenv: pip from PyPI)')
        start = time.time()
        self.role('v1', timeout=900)
        self.setup_seconds = round(time.time() - start, 1)
        self.host.exec_(['sh', '-c', 'set -a && . %s/app.env && set +a && cd %s/code && exec runuser -u %s -- '
                         '%s/venv/bin/python manage.py loaddata people'
                         % (bw.DEPLOY_ROOT, bw.DEPLOY_ROOT, bw.APP, bw.DEPLOY_ROOT)])
        self.host.expect_page(bw.V1_MARKER, 'after the first deploy of v1')
        if 'Grace' not in self.host.page():
            raise bw.BenchError('the v1 fixture did not load: no Grace on the page')
        self.host.exec_(['rm', '-rf', V1_SAVED])
        self.host.exec_(['cp', '-a', bw.DEPLOY_ROOT + '/code', V1_SAVED])
        self.versions = bw.run(['ansible-playbook', '--version'], self.env)[1].splitlines()[0]

    # ------------------------------------------------------------ deploys

    def playbook(self, argv, timeout=300):
        """Run ansible-playbook ARGV; returns (seconds, remote executions by kind, recap line)."""
        counts = os.path.join(self.tmp, 'counts')
        if os.path.exists(counts):
            os.unlink(counts)
        env = dict(self.env, ANSIBLE_CONFIG=self.ansible_cfg, ANSIBLE_NOCOLOR='1', SD_COUNT_FILE=counts)
        start = time.time()
        _rc, out, _err = bw.run(['ansible-playbook', '-i', self.inventory] + argv, env, timeout=timeout)
        seconds = time.time() - start
        kinds = collections.Counter()
        if os.path.exists(counts):
            with open(counts) as handle:
                kinds.update(line.split()[0] for line in handle if line.strip())
        recap = [line for line in out.splitlines() if line.startswith(bw.HOST + ' ') and 'ok=' in line]
        return seconds, kinds, (recap[-1] if recap else '')

    def role(self, version, check=False, timeout=300):
        argv = [os.path.join(ROOT, 'playbooks', 'deploy.yml'),
                '-e', '@' + os.path.join(ROOT, 'molecule', 'default', 'vars.yml'), '-e', '@' + self.vars_file,
                '-e', 'deploy_source=' + self.sources[version], '-e', 'deploy_build_dir=' + self.build_dir]
        if check:
            argv.append('--check')
        return self.playbook(argv, timeout)

    def typical(self, version):
        extra = dict(typical_archive=self.archives[version], typical_env=self.app_env, typical_root=bw.DEPLOY_ROOT,
                     typical_service=bw.APP, typical_user=bw.APP)
        return self.playbook([os.path.join(HERE, 'typical', 'deploy.yml'), '-e', json.dumps(extra)])

    def back_to_v1(self, case):
        """Outside the measurement: v1 live and migrated to people 0001 again."""
        if case['version'] == 'v2':
            self.host.manage('migrate', 'people', '0001', '--noinput')
        if case['kind'] == 'typical':
            self.host.exec_(['systemctl', 'stop', bw.APP])
            self.host.exec_(['rm', '-rf', bw.DEPLOY_ROOT + '/code'])
            self.host.exec_(['cp', '-a', V1_SAVED, bw.DEPLOY_ROOT + '/code'])
            self.host.exec_(['systemctl', 'start', bw.APP])
        elif case['version'] != 'v1' and not case.get('check'):
            self.role('v1')
        self.host.expect_page(bw.V1_MARKER, 'after putting v1 back')

    def marker(self):
        return self.host.exec_(['cat', bw.DEPLOY_ROOT + '/code/.simpledeploy-release'], check=False)[1].strip()

    def measure(self, name, round_no):
        case = CASES[name]
        self.host.expect_page(bw.V1_MARKER, 'before %s' % name)
        before = self.marker()
        load = round(os.getloadavg()[0], 2)
        if case['kind'] == 'typical':
            seconds, kinds, recap = self.typical(case['version'])
        else:
            seconds, kinds, recap = self.role(case['version'], check=case.get('check', False))
        self.host.expect_page(case['marker'], 'after %s' % name)
        if case.get('check') and self.marker() != before:
            raise bw.BenchError('role-check changed the live release: %s -> %s' % (before, self.marker()))
        result = dict(case=name, round=round_no, wall=round(seconds, 3), load=load, remote=sum(kinds.values()),
                      kinds=dict(kinds), recap=recap.split(':', 1)[-1].strip())
        bw.log('%-16s round %d: wall %.2f s, %d remote executions (%s), %s' % (
            name, round_no, seconds, result['remote'], ', '.join('%s %d' % kv for kv in sorted(kinds.items())),
            result['recap']))
        self.results.append(result)
        self.back_to_v1(case)

    def run(self):
        started = time.time()
        self.setup()
        for round_no in range(1, self.args.rounds + 1):
            for name in self.args.cases:
                self.measure(name, round_no)
        self.meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S %Z'), machine=bw.machine(), rounds=self.args.rounds,
                         versions=self.versions, setup_seconds=self.setup_seconds,
                         total_seconds=round(time.time() - started, 1),
                         load_after=[round(x, 2) for x in os.getloadavg()])

    def cleanup(self):
        if not self.args.keep_host:
            bw.log('removing the container host %s' % bw.HOST)
            try:
                self.host.lib('sd_remove_host', bw.HOST)
            except bw.BenchError as exc:
                bw.log('could not remove %s: %s' % (bw.HOST, exc))
        shutil.rmtree(self.tmp, ignore_errors=True)


def _typical_filter(info):
    base = os.path.basename(info.name)
    if base in ('__pycache__', 'db.sqlite3', 'media', '.env') or base.endswith(('.pyc', '.pyo')):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    return info


def report(results, cases, meta):
    by_case = collections.defaultdict(list)
    for result in results:
        by_case[result['case']].append(result)
    rows = []
    for name in cases:
        runs = by_case.get(name, [])
        if not runs:
            continue
        walls = [r['wall'] for r in runs]
        rows.append([name, str(len(runs)), bw.span(walls), '%.2f' % statistics.median(walls),
                     bw.span([r['remote'] for r in runs], '%d'), runs[-1]['recap']])
    lines = ['## Wall time and remote executions, %s' % meta['date'], '',
             'Machine: %s. %s. %d rounds; first deploy %.0f s; all %.0f s; load after %s.'
             % (meta['machine'], meta['versions'], meta['rounds'], meta['setup_seconds'], meta['total_seconds'],
                meta['load_after']), '',
             bw.table(['case', 'runs', 'wall time (s)', 'median (s)', 'remote executions', 'last recap'], rows), '']
    ratio_rows = []
    for case, against in RATIOS:
        values = []
        for round_no in range(1, meta['rounds'] + 1):
            mine = [r['wall'] for r in by_case.get(case, []) if r['round'] == round_no]
            theirs = [r['wall'] for r in by_case.get(against, []) if r['round'] == round_no]
            if mine and theirs:
                values.append(mine[0] / theirs[0])
        if values:
            ratio_rows.append(['%s / %s' % (case, against), bw.span(values), '%.2f' % statistics.median(values)])
    if ratio_rows:
        lines += ['Ratios in the same round:', '', bw.table(['ratio', 'per round', 'median'], ratio_rows), '']
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--cases', default=','.join(CASES), help='comma-separated, run in this order each round')
    parser.add_argument('--json', help='write every result to this file')
    parser.add_argument('--keep-host', action='store_true', help='leave the container host running')
    args = parser.parse_args()
    args.cases = [case for case in args.cases.split(',') if case]
    unknown = [case for case in args.cases if case not in CASES]
    if unknown:
        parser.error('unknown case(s) %s; known: %s' % (', '.join(unknown), ', '.join(CASES)))
    bench = Bench(args)
    try:
        bench.run()
    except bw.BenchError as exc:
        bw.log('FAILED: %s' % exc)
        return 1
    finally:
        bench.cleanup()
    print(report(bench.results, args.cases, bench.meta))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(dict(meta=bench.meta, results=bench.results), handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
