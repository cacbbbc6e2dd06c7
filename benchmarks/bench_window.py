# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure the downtime window of a deploy: the role against the seed's hand-typed steps.

Creates its own container host (podman, systemd inside, named
simpledeploy-bench), deploys v1 of the example project (examples/person)
with the role, loads the v1 fixture, and then, for each round, runs each case
from v1 deployed and migrated:

  baseline-v2   the seed's steps typed as shell, one `podman exec` each, on the
                role's layout: systemctl stop; rm -rf code/; cp -a a v2 tree
                unpacked beforehand under /tmp (shared links made like the role
                does); manage.py migrate as the app user with app.env loaded;
                systemctl start                       (new field + migration)
  role-v2       the role, v1 -> v2                    (new field + migration)
  baseline-v1b  the seed's steps, v1 -> v1b           (one template line changed)
  role-v1b      the role, v1 -> v1b                   (nothing to migrate)
  role-same     the role deploying v1 again           (expect no window at all)

Between cases (outside the measurement) the people app is migrated back to
0001 and v1 is put back: by the role after a role case, by the same hand steps
from a saved copy of the role's v1 tree after a baseline case.

A poller runs INSIDE the host during each measured deploy: a python3 script
requesting http://127.0.0.1:8000/ every 20 ms (urllib, bounded in count and
time), writing start, end and status of every request to a file. From it:
the longest window without a 200 (time between two consecutive 200 answers)
and the number of failed requests. Wall time is the deploy command's (the
whole ansible-playbook run; the five podman execs for the baseline).
release_switch's own `window` and `steps` are read from the playbook's JSON
output (ANSIBLE_STDOUT_CALLBACK=ansible.posix.json).

A report, not a test: it never fails on slowness; it fails when a deploy does
not do its job (the page does not show the release it should).

    . scripts/lib.sh && sd_env      # or let this script find .venv itself
    python benchmarks/bench_window.py [--rounds 3] [--cases role-v2,baseline-v2]
                                      [--json results.json] [--keep-host]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = 'simpledeploy-bench'
APP = 'person'
DEPLOY_ROOT = '/srv/person'
URL = 'http://127.0.0.1:8000/'
# The role's defaults: deploy_shared_dirs + deploy_shared_files.
SHARED_PATHS = ('media', 'db.sqlite3', '.env')
POLLER = '/tmp/bench-poller.py'
TREES = '/tmp/bench-trees'          # on the host: trees for the baseline
V1_SAVED = TREES + '/v1-live'       # the role's v1 code tree, to restore after a baseline
EXCLUDES = ('__pycache__', '*.pyc', '*.pyo', 'db.sqlite3', 'media', '.env', '.git', '.venv')

# The poller, copied into the host. Python 3.9+ stdlib only.
POLLER_SOURCE = r'''
import os, sys, time, urllib.error, urllib.request

def fetch(opener, url, timeout):
    try:
        with opener.open(url, timeout=timeout) as answer:
            body = answer.read()
            return answer.status, body, ''
    except urllib.error.HTTPError as exc:
        return exc.code, b'', 'http'
    except Exception as exc:  # refused, reset, timeout: all count as failed
        return 0, b'', type(exc).__name__

def main():
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    if sys.argv[1] == 'fetch':
        status, body, err = fetch(opener, sys.argv[2], 5)
        sys.stdout.write(body.decode('utf-8', 'replace') if status == 200 else 'STATUS %s %s\n' % (status, err))
        return 0 if status == 200 else 1
    url, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    interval, max_seconds, max_count = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    if os.path.exists(stop):
        os.unlink(stop)
    began = time.time()
    ready = False
    count = 0
    with open(out, 'w', buffering=1) as handle:
        tick = time.monotonic()
        status = 0
        # Asked to stop, it still polls until the site answers: a window is never cut short.
        while count < max_count and time.time() - began < max_seconds and not (status == 200 and os.path.exists(stop)):
            start = time.time()
            status, _body, err = fetch(opener, url, 2)
            handle.write('%.6f %.6f %d %s\n' % (start, time.time(), status, err or '-'))
            count += 1
            if status == 200 and not ready:
                ready = True
                sys.stdout.write('ready\n')
                sys.stdout.flush()
            elif not ready and time.time() - began > 15:
                sys.stdout.write('no-200\n')
                return 3
            tick += interval
            delay = tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                tick = time.monotonic()
    return 0

sys.exit(main())
'''

# Order inside a round: each role case right after the baseline it is compared with.
CASES = {
    'baseline-v2': dict(kind='baseline', version='v2', marker='<meta name="release" content="v2">',
                        what="seed's steps, v1 -> v2 (new field + migration)"),
    'role-v2': dict(kind='role', version='v2', marker='<meta name="release" content="v2">', compare='baseline-v2',
                    what='role, v1 -> v2 (new field + migration)'),
    'baseline-v1b': dict(kind='baseline', version='v1b', marker='<title>People (v1b)</title>',
                         what="seed's steps, v1 -> v1b (template only)"),
    'role-v1b': dict(kind='role', version='v1b', marker='<title>People (v1b)</title>', compare='baseline-v1b',
                     what='role, v1 -> v1b (template only)'),
    'role-same': dict(kind='role', version='v1', marker='<meta name="release" content="v1">', compare='baseline-v1b',
                      what='role, v1 -> v1 (same release again)'),
}
V1_MARKER = '<meta name="release" content="v1">'


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write('>>> %s\n' % msg)
    sys.stderr.flush()


def tool_env():
    """The environment scripts/lib.sh's sd_env exports, built here."""
    env = dict(os.environ)
    venv_bin = os.path.join(ROOT, '.venv', 'bin')
    if venv_bin not in env.get('PATH', '').split(os.pathsep):
        env['PATH'] = venv_bin + os.pathsep + env.get('PATH', '')
    env['VIRTUAL_ENV'] = os.path.join(ROOT, '.venv')
    env['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(ROOT, '.cache', 'collections')
    env['CONTAINERS_CONF'] = os.path.join(ROOT, 'molecule', 'images', 'containers.conf')
    env['LANG'] = env['LC_ALL'] = 'C.UTF-8'
    return env


def run(argv, env, stdin=None, timeout=300, check=True):
    """Run ARGV; return (rc, stdout, stderr) as text."""
    proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, cwd=ROOT, timeout=timeout, check=False)
    out = proc.stdout.decode('utf-8', 'replace')
    err = proc.stderr.decode('utf-8', 'replace')
    if check and proc.returncode != 0:
        raise BenchError('%s failed (rc=%s):\n%s%s' % (' '.join(shlex.quote(a) for a in argv), proc.returncode,
                                                       out[-3000:], err[-3000:]))
    return proc.returncode, out, err


class Host(object):
    """The container host, driven with one `podman exec` per command."""

    def __init__(self, env):
        self.env = env

    def lib(self, function, *args):
        script = '. "$1/scripts/lib.sh" && %s "$2"' % function
        run(['bash', '-c', script, 'bench', ROOT] + list(args), self.env, timeout=600)

    def exec_(self, argv, stdin=None, timeout=300, check=True):
        opts = ['-i'] if stdin is not None else []
        return run(['podman', 'exec'] + opts + [HOST] + list(argv), self.env, stdin=stdin, timeout=timeout, check=check)

    def timed(self, argv):
        start = time.time()
        self.exec_(argv)
        return time.time() - start

    def manage_argv(self, args):
        """manage.py ARGS in the live tree, as the app user, with app.env loaded (as the seed types it).

        The environment file is root's (0600: it may hold secrets): root reads it, runuser keeps the
        environment for the app user's manage.py."""
        script = 'cd %s/code && set -a && . %s/app.env && set +a && exec runuser -u %s -- %s/venv/bin/python ' \
                 'manage.py %s' % (DEPLOY_ROOT, DEPLOY_ROOT, APP, DEPLOY_ROOT, ' '.join(shlex.quote(a) for a in args))
        return ['sh', '-c', script]

    def manage(self, *args):
        return self.exec_(self.manage_argv(list(args)))[1]

    def page(self):
        rc, out, _err = self.exec_(['python3', POLLER, 'fetch', URL], check=False)
        return out if rc == 0 else ''

    def expect_page(self, marker, when):
        page = self.page()
        if marker not in page:
            raise BenchError('%s: the page does not show %r:\n%s' % (when, marker, page[:600] or '(no answer)'))

    def upload_tree(self, src, dest):
        """SRC (controller) -> DEST (host), as the role's archive would hold it, plus the shared links."""
        tar = ['tar', '-C', src, '-czf', '-', '--owner=0', '--group=0']
        tar += ['--exclude=%s' % pattern for pattern in EXCLUDES] + ['.']
        data = subprocess.run(tar, stdout=subprocess.PIPE, check=True).stdout
        self.exec_(['rm', '-rf', dest])
        self.exec_(['mkdir', '-p', dest])
        self.exec_(['tar', '-xzf', '-', '-C', dest], stdin=data)
        for path in SHARED_PATHS:
            self.exec_(['ln', '-sfn', '%s/shared/%s' % (DEPLOY_ROOT, path), '%s/%s' % (dest, path)])


class Poller(object):
    """The poller inside the host, for one measured deploy."""

    def __init__(self, host, name, interval, max_seconds):
        self.host = host
        self.out = '/tmp/bench-poll-%s.txt' % name
        self.stop_file = '/tmp/bench-poll.stop'
        self.interval = interval
        self.max_seconds = max_seconds
        self.proc = None

    def __enter__(self):
        max_count = int(self.max_seconds / self.interval) + 1
        argv = ['podman', 'exec', HOST, 'python3', POLLER, URL, self.out, self.stop_file,
                str(self.interval), str(self.max_seconds), str(max_count)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.host.env)
        ready, _w, _x = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode().strip() if ready else ''
        if line != 'ready':
            self.proc.kill()
            raise BenchError('the poller did not see the site up before the deploy (%r)' % line)
        return self

    def stop(self):
        self.host.exec_(['touch', self.stop_file])
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise BenchError('the poller did not stop')
        rows = []
        for line in self.host.exec_(['cat', self.out])[1].splitlines():
            start, end, status, err = line.split()
            rows.append((float(start), float(end), int(status), err))
        self.host.exec_(['rm', '-f', self.out, self.stop_file])
        return rows

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()


def analyse(rows, deploy_start, deploy_end):
    """Longest time between two consecutive 200 answers, failed requests, and where the gap lies."""
    ok_ends = [end for _start, end, status, _err in rows if status == 200]
    failed = [row for row in rows if row[2] != 200]
    longest, gap = 0.0, None
    for before, after in zip(ok_ends, ok_ends[1:]):
        if after - before > longest:
            longest, gap = after - before, (before, after)
    open_ended = bool(rows) and rows[-1][2] != 200
    if open_ended:
        longest, gap = rows[-1][1] - ok_ends[-1], (ok_ends[-1], rows[-1][1])
    errors = {}
    for row in failed:
        errors[row[3]] = errors.get(row[3], 0) + 1
    # The window in two parts: requests failing (nothing listens), then the
    # request that ends it, which may wait in the listen backlog for a worker.
    inside = [row for row in rows if gap and gap[0] < row[1] <= gap[1]]
    refused = [row for row in inside if row[2] != 200]
    last = inside[-1] if inside and inside[-1][2] == 200 else None
    return dict(window=round(longest, 3), failed=len(failed), requests=len(rows), open_ended=open_ended,
                refused=round(refused[-1][1] - refused[0][0], 3) if refused else 0.0,
                first_200_wait=round(last[1] - last[0], 3) if last else None,
                gap_from=round(gap[0] - deploy_start, 3) if gap else None,
                gap_to=round(gap[1] - deploy_start, 3) if gap else None,
                slowest_200=round(max([e - s for s, e, st, _x in rows if st == 200] or [0]), 3),
                errors=errors, deploy_seconds=round(deploy_end - deploy_start, 3))


class Bench(object):

    def __init__(self, args):
        self.args = args
        self.env = tool_env()
        self.host = Host(self.env)
        self.tmp = tempfile.mkdtemp(prefix='simpledeploy-bench-')
        self.sources = {'v1': os.path.join(ROOT, 'examples', 'person', 'v1'),
                        'v2': os.path.join(ROOT, 'examples', 'person', 'v2'),
                        'v1b': os.path.join(self.tmp, 'v1b')}
        self.results = []

    # ------------------------------------------------------------ set-up

    def check_tools(self):
        for tool in ('podman', 'ansible-playbook', 'bash', 'tar'):
            if not shutil.which(tool, path=self.env['PATH']):
                raise BenchError('%s not found; run scripts/setup first' % tool)
        if not os.path.isdir(os.path.join(self.env['ANSIBLE_COLLECTIONS_PATH'], 'ansible_collections', 'ansible', 'posix')):
            raise BenchError('collections missing under %s; run scripts/setup first' % self.env['ANSIBLE_COLLECTIONS_PATH'])

    def make_v1b(self):
        """v1 with one template line changed: a new release with nothing to migrate."""
        shutil.copytree(self.sources['v1'], self.sources['v1b'],
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc', 'db.sqlite3'))
        template = os.path.join(self.sources['v1b'], 'people', 'templates', 'people', 'index.html')
        with open(template) as handle:
            text = handle.read()
        if '<title>People</title>' not in text:
            raise BenchError('%s has no <title>People</title> line to change' % template)
        with open(template, 'w') as handle:
            handle.write(text.replace('<title>People</title>', '<title>People (v1b)</title>', 1))

    def write_ansible_files(self):
        self.inventory = os.path.join(self.tmp, 'inventory')
        with open(self.inventory, 'w') as handle:
            handle.write('%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n' % HOST)
        self.ansible_cfg = os.path.join(self.tmp, 'ansible.cfg')
        with open(self.ansible_cfg, 'w') as handle:
            handle.write('[defaults]\nhost_key_checking = False\nretry_files_enabled = False\n'
                         '[connection]\npipelining = true\n')
        self.build_dir = os.path.join(self.tmp, 'build')

    def setup(self):
        self.check_tools()
        self.make_v1b()
        self.write_ansible_files()
        log('creating the container host %s' % HOST)
        self.host.lib('sd_remove_host', HOST)
        self.host.lib('sd_ensure_host', HOST)
        with open(os.path.join(self.tmp, 'poller.py'), 'w') as handle:
            handle.write(POLLER_SOURCE)
        run(['podman', 'cp', os.path.join(self.tmp, 'poller.py'), '%s:%s' % (HOST, POLLER)], self.env)
        log('first deploy of v1 (builds the virtualenv: pip from PyPI)')
        start = time.time()
        self.playbook('v1', timeout=900)
        self.setup_seconds = round(time.time() - start, 1)
        self.host.manage('loaddata', 'people')
        self.versions = self.host.exec_([DEPLOY_ROOT + '/venv/bin/python', '-c',
                                         'import django, gunicorn, sys; print("Django %s, gunicorn %s, host Python %s" % '
                                         '(django.get_version(), gunicorn.__version__, sys.version.split()[0]))'])[1].strip()
        self.versions += '; ' + run(['ansible-playbook', '--version'], self.env)[1].splitlines()[0]
        self.host.expect_page(V1_MARKER, 'after the first deploy of v1')
        if 'Grace' not in self.host.page():
            raise BenchError('the v1 fixture did not load: no Grace on the page')
        log('trees for the baseline under %s on the host' % TREES)
        self.host.exec_(['mkdir', '-p', TREES])
        self.host.exec_(['cp', '-a', DEPLOY_ROOT + '/code', V1_SAVED])
        for version in ('v2', 'v1b'):
            self.host.upload_tree(self.sources[version], '%s/%s' % (TREES, version))

    # ------------------------------------------------------------ deploys

    def playbook(self, version, timeout=300):
        env = dict(self.env, ANSIBLE_CONFIG=self.ansible_cfg, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
                   ANSIBLE_NOCOLOR='1')
        argv = ['ansible-playbook', '-i', self.inventory, os.path.join(ROOT, 'playbooks', 'deploy.yml'),
                '-e', '@' + os.path.join(ROOT, 'molecule', 'default', 'vars.yml'),
                '-e', 'deploy_source=' + self.sources[version], '-e', 'deploy_build_dir=' + self.build_dir]
        argv += [arg for extra in self.args.extra_vars for arg in ('-e', extra)]
        start = time.time()
        _rc, out, _err = run(argv, env, timeout=timeout)
        end = time.time()
        return start, end, parse_playbook(out, start)

    def baseline(self, version):
        """The seed's steps, one podman exec each. Returns start, end, seconds per step."""
        steps = [
            ('stop', ['systemctl', 'stop', APP]),
            ('delete', ['rm', '-rf', DEPLOY_ROOT + '/code']),
            ('copy', ['cp', '-a', '%s/%s' % (TREES, version), DEPLOY_ROOT + '/code']),
            ('migrate', self.host.manage_argv(['migrate', '--noinput'])),
            ('start', ['systemctl', 'start', APP]),
        ]
        times = {}
        start = time.time()
        for name, argv in steps:
            times[name] = round(self.host.timed(argv), 3)
        return start, time.time(), times

    def back_to_v1(self, case):
        """Outside the measurement: v1 live and migrated to people 0001 again."""
        if case['version'] == 'v2':
            self.host.manage('migrate', 'people', '0001', '--noinput')
        if case['version'] != 'v1':
            if case['kind'] == 'role':
                self.playbook('v1')
            else:
                self.host.exec_(['systemctl', 'stop', APP])
                self.host.exec_(['rm', '-rf', DEPLOY_ROOT + '/code'])
                self.host.exec_(['cp', '-a', V1_SAVED, DEPLOY_ROOT + '/code'])
                self.host.exec_(['systemctl', 'start', APP])
        self.host.expect_page(V1_MARKER, 'after putting v1 back')
        plan = self.host.manage('showmigrations', 'people')
        if '[X] 0002' in plan or '[X] 0001' not in plan:
            raise BenchError('people is not at 0001 after putting v1 back:\n%s' % plan)

    def measure(self, name, round_no):
        case = CASES[name]
        self.host.expect_page(V1_MARKER, 'before %s' % name)
        load = round(os.getloadavg()[0], 2)
        with Poller(self.host, '%s-%d' % (name, round_no), self.args.interval, 120) as poller:
            time.sleep(self.args.pre)
            if case['kind'] == 'role':
                start, end, play = self.playbook(case['version'])
                extra = dict(switch=play['switch'], phases=play['phases'], tasks=play['tasks'])
            else:
                start, end, times = self.baseline(case['version'])
                extra = dict(steps=times)
            time.sleep(self.args.post)
            rows = poller.stop()
        self.host.expect_page(case['marker'], 'after %s' % name)
        result = dict(case=name, round=round_no, wall=round(end - start, 3), load=load, **analyse(rows, start, end))
        result.update(extra)
        if self.args.json:
            result['poll'] = [[round(s - start, 4), round(e - start, 4), st] for s, e, st, _x in rows]
        log('%-12s round %d: wall %.2f s, window %.3f s, %d failed of %d requests' % (
            name, round_no, result['wall'], result['window'], result['failed'], result['requests']))
        self.results.append(result)
        self.back_to_v1(case)

    def run(self):
        started = time.time()
        load_before = os.getloadavg()
        self.setup()
        for round_no in range(1, self.args.rounds + 1):
            for name in self.args.cases:
                self.measure(name, round_no)
        self.meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S %Z'), machine=machine(), rounds=self.args.rounds,
                         extra_vars=self.args.extra_vars, versions=self.versions,
                         interval=self.args.interval, setup_seconds=self.setup_seconds,
                         total_seconds=round(time.time() - started, 1),
                         load_before=[round(x, 2) for x in load_before],
                         load_after=[round(x, 2) for x in os.getloadavg()])

    def cleanup(self):
        if not self.args.keep_host:
            log('removing the container host %s' % HOST)
            try:
                self.host.lib('sd_remove_host', HOST)
            except BenchError as exc:
                log('could not remove %s: %s' % (HOST, exc))
        shutil.rmtree(self.tmp, ignore_errors=True)


def parse_playbook(out, began):
    """release_switch's result, seconds per phase (task name prefix) and per task, from the JSON callback.

    Tasks are (name, start in seconds after BEGAN, seconds).
    """
    data = json.loads(out[out.index('{'):])
    switch, phases, tasks = None, {}, []
    for play in data.get('plays', []):
        for task in play.get('tasks', []):
            name = task['task']['name']
            duration = task['task'].get('duration') or {}
            task_start = iso_seconds(duration['start']) if duration.get('start') else began
            seconds = iso_seconds(duration['end']) - task_start if duration.get('end') else 0.0
            short = name.split(' : ', 1)[-1]   # "simpledeploy.django.deploy : Preflight | ..."
            phase = short.split(' | ')[0] if ' | ' in short else 'other'
            phases[phase] = round(phases.get(phase, 0.0) + seconds, 3)
            tasks.append((short, round(task_start - began, 3), round(seconds, 3)))
            result = task['hosts'].get(HOST, {})
            if result.get('action', '').endswith('release_switch') or ('steps' in result and 'window' in result):
                switch = dict(changed=result.get('changed'), skipped=result.get('skipped', False),
                              task_from=round(task_start - began, 3), task_to=round(task_start + seconds - began, 3),
                              window=result.get('window'), steps=result.get('steps'), migrated=result.get('migrated'))
    return dict(switch=switch, phases=phases, tasks=tasks)


def iso_seconds(text):
    """'2026-11-24T10:49:11.427746Z' (the JSON callback's UTC times) -> seconds since the epoch."""
    stamp = datetime.strptime(text[:26].rstrip('Z'), '%Y-%m-%dT%H:%M:%S.%f')
    return stamp.replace(tzinfo=timezone.utc).timestamp()


def machine():
    cpu = ''
    try:
        with open('/proc/cpuinfo') as handle:
            cpu = next(line.split(':', 1)[1].strip() for line in handle if line.startswith('model name'))
    except (IOError, OSError, StopIteration):
        pass
    try:
        podman = subprocess.run(['podman', '--version'], stdout=subprocess.PIPE, check=False).stdout.decode().strip()
    except OSError:
        podman = ''
    return '%s, %d cores, %s; %s; controller Python %s' % (
        platform.platform(), os.cpu_count() or 0, cpu, podman, platform.python_version())


# ---------------------------------------------------------------- report

def span(values, fmt='%.2f'):
    values = [v for v in values if v is not None]
    if not values:
        return 'n/a'
    low, high = min(values), max(values)
    if fmt % low == fmt % high:
        return fmt % low
    return (fmt + (' to ' if low < 0 else '-') + fmt) % (low, high)


def table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ['| ' + ' | '.join(str(h).ljust(w) for h, w in zip(headers, widths)) + ' |',
             '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    lines += ['| ' + ' | '.join(str(c).ljust(w) for c, w in zip(row, widths)) + ' |' for row in rows]
    return '\n'.join(lines)


def report(results, cases, meta):
    by_case = {}
    for result in results:
        by_case.setdefault(result['case'], []).append(result)
    window = dict(((r['case'], r['round']), r['window']) for r in results)
    out = ['Downtime window, %s; %d rounds; poller every %d ms inside the host' % (
        meta['date'], meta['rounds'], int(meta['interval'] * 1000)),
        'machine: %s' % meta['machine'],
        'software: %s' % meta['versions'],
        'extra vars: %s' % (' '.join(meta['extra_vars']) or 'none'),
        'load average before %s, after %s; set-up (host + first deploy) %.0f s; total %.0f s' % (
            meta['load_before'], meta['load_after'], meta['setup_seconds'], meta['total_seconds']), '']
    rows = []
    for name in cases:
        runs = by_case.get(name, [])
        compare = CASES[name].get('compare')
        ratios = [window[(r['case'], r['round'])] / window[(compare, r['round'])]
                  for r in runs if compare and window.get((compare, r['round']))]
        rows.append([name, CASES[name]['what'], span([r['wall'] for r in runs]) + ' s',
                     span([r['window'] for r in runs], '%.3f') + ' s' + (' (open)' if any(r['open_ended'] for r in runs) else ''),
                     span([r['failed'] for r in runs], '%d'),
                     ('%s vs %s' % (span(ratios), compare)) if ratios else '-'])
    out.append(table(['case', 'what', 'wall time', 'longest window without a 200', 'failed requests',
                      'window / baseline window (same round)'], rows))
    rows = []
    for name in cases:
        runs = [r for r in by_case.get(name, []) if 'steps' in r]
        if runs:
            rows.append([name] + [span([r['steps'][s] for r in runs], '%.3f')
                                  for s in ('stop', 'delete', 'copy', 'migrate', 'start')])
    if rows:
        out += ['', "Baseline, seconds per step (each one `podman exec`, its overhead included):",
                table(['case', 'stop', 'rm -rf', 'cp -a', 'migrate', 'start'], rows)]
    rows = []
    for name in cases:
        runs = [r for r in by_case.get(name, []) if 'switch' in r]
        if not runs:
            continue
        switches = [r['switch'] for r in runs if r['switch'] and not r['switch']['skipped']]
        if not switches:
            rows.append([name, 'skipped (nothing to switch)', '', '', '', '', '', ''])
            continue
        steps = ('stop', 'swap', 'venv', 'migrate', 'start')
        rows.append([name, 'ran %d/%d' % (len(switches), len(runs)), span([s['window'] for s in switches], '%.3f')]
                    + [span([(s['steps'] or {}).get(step) for s in switches], '%.3f') for step in steps])
    if rows:
        out += ['', "release_switch's own figures (seconds, from the playbook's JSON output):",
                table(['case', 'release_switch', 'window', 'stop', 'swap', 'venv', 'migrate', 'start'], rows)]
    rows = []
    for name in cases:
        runs = [r for r in by_case.get(name, []) if r['failed']]
        if not runs:
            continue
        switched = [r for r in runs if (r.get('switch') or {}).get('task_to') is not None and r['gap_to'] is not None]
        rows.append([name, span([r['window'] for r in runs], '%.3f'), span([r['refused'] for r in runs], '%.3f'),
                     span([r['first_200_wait'] for r in runs], '%.3f'),
                     span([r['gap_to'] - r['switch']['task_to'] for r in switched], '%.3f') if switched else '-'])
    if rows:
        out += ['', 'Inside the poller\'s window (seconds): requests refused, then the first 200 waiting in the listen backlog '
                'until a worker has loaded Django; for the role, how long after the switch task returned the first 200 came:',
                table(['case', 'window', 'refused part', 'first 200 waited', 'first 200 after the switch task'], rows)]
    role_cases = [name for name in cases if any('tasks' in r for r in by_case.get(name, []))]
    if role_cases:
        means = {}
        for name in role_cases:
            runs = [r for r in by_case[name] if 'tasks' in r]
            for task, _at, seconds in (t for r in runs for t in r['tasks']):
                means.setdefault(task, {}).setdefault(name, []).append(seconds)
        slowest = sorted(means, key=lambda task: -max(sum(v) / len(v) for v in means[task].values()))[:8]
        rows = [[task] + [('%.2f' % (sum(means[task][n]) / len(means[task][n]))) if n in means[task] else '-'
                          for n in role_cases] for task in slowest]
        out += ['', 'The role\'s slowest tasks (mean seconds per run):', table(['task'] + role_cases, rows)]
    rows = []
    for name in cases:
        runs = [r for r in by_case.get(name, []) if 'phases' in r]
        if runs:
            phases = ('Validate', 'Preflight', 'Switch', 'Verify')
            rows.append([name] + [span([r['phases'].get(p, 0.0) for r in runs]) for p in phases]
                        + [span([r['wall'] - sum(r['phases'].values()) for r in runs])])
    if rows:
        out += ['', 'Role wall time by phase (sum of task durations, seconds; rest = ansible-playbook start-up and between tasks):',
                table(['case', 'validate', 'preflight', 'switch', 'verify', 'rest'], rows)]
    rows = []
    for name in cases:
        for r in by_case.get(name, []):
            rows.append([name, r['round'], '%.2f' % r['wall'], '%.3f' % r['window'],
                         '%s..%s' % (r['gap_from'], r['gap_to']), r['failed'], r['requests'],
                         ', '.join('%s %d' % kv for kv in sorted(r['errors'].items())) or '-', '%.3f' % r['slowest_200'],
                         r['load']])
    out += ['', 'Every run (gap = the longest window, seconds from the deploy start; load = 1-min load average at its start):',
            table(['case', 'round', 'wall', 'window', 'gap', 'failed', 'requests', 'errors', 'slowest 200', 'load'], rows)]
    return '\n'.join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--cases', default=','.join(CASES),
                        help='comma-separated, run in this order each round (default: %(default)s)')
    parser.add_argument('--interval', type=float, default=0.02, help='seconds between poller requests')
    parser.add_argument('--pre', type=float, default=0.3, help='seconds polled before the deploy starts')
    parser.add_argument('--post', type=float, default=0.5,
                        help='seconds polled after the deploy returns (then on until the site answers)')
    parser.add_argument('--json', help='write every result (with the poller rows) to this file')
    parser.add_argument('-e', '--extra-vars', action='append', default=[],
                        help='passed to every ansible-playbook run, the first deploy included '
                             '(e.g. \'{"deploy_gunicorn_extra_args": ["--preload"]}\')')
    parser.add_argument('--keep-host', action='store_true', help='leave the container host running')
    args = parser.parse_args()
    args.cases = [c for c in args.cases.split(',') if c]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error('unknown case(s) %s; known: %s' % (', '.join(unknown), ', '.join(CASES)))
    bench = Bench(args)
    try:
        bench.run()
    except (BenchError, subprocess.SubprocessError) as exc:
        sys.stderr.write('\nERROR: %s\n' % exc)
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
