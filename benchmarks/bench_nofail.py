# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count the requests a deploy fails under a client that reads and writes (issue 12, item 6).

Creates its own container host (podman, systemd inside, named
simpledeploy-nofail, from the PostgreSQL image), sets up PostgreSQL 15 there
(role and database `catalog`, password logins on 127.0.0.1), deploys release
v3 of the example catalog project (examples/catalog: Django 5.2, gunicorn,
whitenoise, settings from the environment) with playbooks/deploy.yml, and
then, for each round, measures:

  baseline   the client alone for --baseline-seconds, no deploy
  code       v3 -> code: new code, nothing to migrate
  additive   v3 -> additive: a nullable AddField, a CreateModel and an
             AddIndexConcurrently (migration atomic = False)
  notnull    v3 -> notnull: a NOT NULL AddField with a Django default only
             (no db_default): the old release's inserts fail once it exists
  remove     v3 -> remove: RemoveField of `year`, which the old release selects

Each release is v3 with the overlay benchmarks/nofail/<case>/ copied over it
(built in a temp dir); its books.RELEASE names the case, v3's is "v3".

The client is molecule/realistic/files/traffic.py, copied into the host and
run there as a transient unit (systemd-run, the app's environment file loaded
for the API token: never on a command line): an open loop of --rate requests
a second, GET /books/ and POST /books/add/ in turn, keep-alive off, 10 s
timeout, each answer tagged with its X-Release header. A case starts it, waits
1 s, runs ansible-playbook, waits 1 s and stops it. Outside the measurement
the schema is migrated back to books 0003 with the case's live code and v3 is
deployed again with the role.

For each case: failed reads and writes, the longest and p99 wait of each
against the same round's baseline, the clients' longest time without any
answer (with a held window: what they saw of it; release_switch's `window`
also counts the backlog served before its health request's turn),
release_switch's strategy (the mode), its
reason, window, steps and downtime (from the JSON callback), and answers from
the old release after the switch: to requests sent after the release_switch
task ended and, for a deploy with a window, answers that ended after the first
answer from the new release. Django's start-up on the host (best of 3 per
round: the live release's `python -m config.wsgi`, what a gunicorn worker
imports, as the app user with its environment) and, for a case with a
window, `manage.py migrate` alone (best of 2, timed after the case's deploy
with its live release, the schema migrated back after each) are the
yardsticks for the window: the simple method's own migrate and start. The
issue's criteria are printed as verdicts with their numbers.

A report, not a test: it never fails on slowness; it fails (exit 1) when a
deploy fails or the page does not show the release it should.

    .venv/bin/python benchmarks/bench_nofail.py [--rounds 2] [--cases code,notnull]
                                               [--rate 60] [--json results.json] [--keep-host]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from bench_window import BenchError, iso_seconds, log, machine, run, span, table, tool_env

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = 'simpledeploy-nofail'
IMAGE = 'localhost/simpledeploy-postgresql:bookworm'   # scripts/lib.sh: SD_PG_IMAGE
APP = 'catalog'
DEPLOY_ROOT = '/srv/catalog'
ENV_FILE = DEPLOY_ROOT + '/app.env'                    # roles/deploy/vars/main.yml: __deploy_env_file
BASE = 'http://127.0.0.1:8000'                          # the role's default deploy_gunicorn_bind
READ_URL = BASE + '/books/'
WRITE_URL = BASE + '/books/add/'
CATALOG = os.path.join(ROOT, 'examples', 'catalog')
OVERLAYS = os.path.join(HERE, 'nofail')
TRAFFIC_SOURCE = os.path.join(ROOT, 'molecule', 'realistic', 'files', 'traffic.py')
TRAFFIC = '/usr/local/lib/bench-traffic.py'  # root's, outside /tmp
OUT_DIR = '/var/tmp/bench-nofail'
TRAFFIC_UNIT = 'bench-traffic'
OLD = 'v3'
PSYCOPG = 'psycopg[binary]==3.3.9'
BUILD_IGNORE = ('__pycache__', '*.pyc', 'data', 'staticfiles', 'media')

# kind: "no window" (a graceful reload, with or without migrations first) or
# "window" (the site held while the schema changes); expect: the mode a correct
# role picks. Order inside a round: after the baseline.
CASES = {
    'code': dict(kind='no window', expect='reload', migrates=False,
                 what='code only'),
    'additive': dict(kind='no window', expect='expand', migrates=True,
                     what='nullable AddField, CreateModel, AddIndexConcurrently'),
    'notnull': dict(kind='window', expect='simple', migrates=True,
                    what='NOT NULL AddField, Django default only'),
    'remove': dict(kind='window', expect='simple', migrates=True,
                   what='RemoveField (old code selects it)'),
}
# The thresholds (seconds).
NO_WINDOW_SLACK = 0.25     # longest wait within this of the baseline's
WINDOW_WAIT_SLACK = 0.5    # longest wait <= window + this
WINDOW_SLACK = 0.3         # window <= migrate + Django start-up + this


def marker(release):
    return '<meta name="release" content="%s">' % release


# ---------------------------------------------------------------- analysis (pure)

def percentile(values, share):
    """The value below which SHARE of VALUES lie (nearest rank, as traffic.py); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(share * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def kind_stats(rows, kind, origin, first=3):
    """{requests, ok, failed, longest, p99, errors} of the KIND rows ([kind, url, sent, seconds, status, release]).

    errors: the first FIRST failures as [seconds after ORIGIN the request was sent, status]."""
    good = 200 if kind == 'read' else 201
    mine = [row for row in rows if row[0] == kind]
    waits = [row[3] for row in mine]
    bad = [row for row in mine if row[4] != good]
    return dict(requests=len(mine), ok=len(mine) - len(bad), failed=len(bad),
                longest=round(max(waits or [0.0]), 3), p99=round(percentile(waits, 0.99), 3),
                errors=[[round(row[2] - origin, 3), row[4]] for row in bad[:first]])


def quiet_gap(rows, origin):
    """The longest time in which no answer arrived (any status): (seconds, from, to), relative to ORIGIN.

    With a held window it is what the clients saw of it: from the last answer before the stop to the
    first one after the start (a request's answer comes when it ends, sent + seconds)."""
    ends = sorted(row[2] + row[3] for row in rows)
    best = (0.0, None, None)
    for before, after in zip(ends, ends[1:]):
        if after - before > best[0]:
            best = (after - before, before, after)
    if best[1] is None:
        return dict(seconds=0.0, start=None, end=None)
    return dict(seconds=round(best[0], 3), start=round(best[1] - origin, 3), end=round(best[2] - origin, 3))


def old_answers(rows, old, new, switched):
    """Answers from the OLD release that came too late.

    after_switch: to requests sent after SWITCHED (the end of the release_switch task; None: not known);
    after_new: ending after the first answer from NEW ended. Each as a count and the first request."""
    tagged_old = [row for row in rows if row[5] == old]
    new_ends = [row[2] + row[3] for row in rows if row[5] == new]
    first_new = min(new_ends) if new_ends else None
    after_switch = [row for row in tagged_old if switched is not None and row[2] > switched]
    after_new = [row for row in tagged_old if first_new is not None and row[2] + row[3] > first_new]
    return dict(after_switch=len(after_switch), after_new=len(after_new),
                first_new_end=first_new, answers_old=len(tagged_old), answers_new=len(new_ends),
                first_after_switch=after_switch[0] if after_switch else None,
                first_after_new=after_new[0] if after_new else None)


def verdicts(case, result, baseline, startup):
    """The issue's criteria for one case: [(criterion, met, the numbers)]."""
    out = []
    failed = result['read']['failed'] + result['write']['failed']
    out.append(('0 failed requests', failed == 0,
                '%d reads, %d writes failed' % (result['read']['failed'], result['write']['failed'])))
    longest = max(result['read']['longest'], result['write']['longest'])
    switch = result.get('switch') or {}
    if CASES[case]['kind'] == 'no window':
        base = max(baseline['read']['longest'], baseline['write']['longest']) if baseline else None
        if base is None:
            out.append(('longest wait within %.2f s of the baseline' % NO_WINDOW_SLACK, None, 'no baseline'))
        else:
            out.append(('longest wait within %.2f s of the baseline' % NO_WINDOW_SLACK,
                        longest - base <= NO_WINDOW_SLACK,
                        '%.3f s vs %.3f s (%+.3f)' % (longest, base, longest - base)))
    else:
        window = switch.get('window')
        # What the simple method's migrate costs: `manage.py migrate` alone on the host, Django's start-up and the
        # migration (the window's own migrate step may hide its start-up behind the backup, and may be slowed by
        # the new workers loading beside it).
        migrate = result.get('migrate_alone')
        if window is None:
            out.append(('longest wait <= window + %.1f s' % WINDOW_WAIT_SLACK, None, 'no window reported'))
        else:
            out.append(('longest wait <= window + %.1f s' % WINDOW_WAIT_SLACK, longest <= window + WINDOW_WAIT_SLACK,
                        '%.3f s vs %.3f + %.1f s' % (longest, window, WINDOW_WAIT_SLACK)))
        if window is None or migrate is None or startup is None:
            out.append(('window <= migrate + Django start-up + %.1f s' % WINDOW_SLACK, None,
                        'window %s, migrate %s, start-up %s' % (window, migrate, startup)))
        else:
            limit = migrate + startup + WINDOW_SLACK
            out.append(('window <= migrate + Django start-up + %.1f s' % WINDOW_SLACK, window <= limit,
                        '%.3f s vs %.3f + %.3f + %.1f = %.3f s (migrate alone; the step took %s; clients: no answer '
                        'for %.3f s)' % (window, migrate, startup, WINDOW_SLACK, limit,
                                         (switch.get('steps') or {}).get('migrate'), result['quiet']['seconds'])))
    old = result['old']
    late = old['after_switch'] + (old['after_new'] if CASES[case]['kind'] == 'window' else 0)
    detail = '%d sent after the switch' % old['after_switch']
    if CASES[case]['kind'] == 'window':
        detail += ', %d ended after the first new answer' % old['after_new']
    out.append(('no answer from the old release after the switch', late == 0, detail))
    return out


def parse_switch(out, host):
    """release_switch's result and its task's end (seconds since the epoch) from the JSON callback's output.

    Also every task as (name, start, end) in seconds since the epoch."""
    data = json.loads(out[out.index('{'):])
    switch, tasks = None, []
    for play in data.get('plays', []):
        for task in play.get('tasks', []):
            duration = task['task'].get('duration') or {}
            start = iso_seconds(duration['start']) if duration.get('start') else None
            end = iso_seconds(duration['end']) if duration.get('end') else None
            name = task['task']['name'].split(' : ', 1)[-1]
            tasks.append((name, start, end))
            result = task['hosts'].get(host, {})
            # The first release_switch task that ran is the go-live; later ones (after-live hooks) are skipped.
            if switch is None and result.get('action', '').endswith('release_switch') and not result.get('skipped'):
                switch = dict(task_start=start, task_end=end, changed=result.get('changed'),
                              skipped=result.get('skipped', False),
                              **{key: result.get(key) for key in ('strategy', 'strategy_reason', 'window', 'steps',
                                                                  'downtime', 'migrated', 'backup', 'workers',
                                                                  'migrate_lock')})
    return switch, tasks


def analyse(traffic, origin, switch, new):
    """One run's figures from traffic.py's JSON (TRAFFIC), seconds relative to ORIGIN."""
    rows = traffic['requests']
    result = dict(read=kind_stats(rows, 'read', origin), write=kind_stats(rows, 'write', origin),
                  quiet=quiet_gap(rows, origin), requests=len(rows), rate=round(len(rows) / max(traffic['stopped'] - traffic['started'], 1e-9), 1))
    if new is not None:
        result['old'] = old_answers(rows, OLD, new, switch['task_end'] if switch else None)
    return result


# ---------------------------------------------------------------- the host

class Host(object):
    """The container host, one `podman exec` per command."""

    def __init__(self, env):
        self.env = env

    def lib(self, script, *args):
        """A line of bash with scripts/lib.sh sourced; $2... are ARGS."""
        run(['bash', '-c', '. "$1/scripts/lib.sh" && ' + script, 'bench', ROOT] + list(args), self.env, timeout=600)

    def exec_(self, argv, stdin=None, timeout=300, check=True):
        opts = ['-i'] if stdin is not None else []
        return run(['podman', 'exec'] + opts + [HOST] + list(argv), self.env, stdin=stdin, timeout=timeout, check=check)

    def as_app(self, argv, timed=False):
        """ARGV in the live project directory, as the app user, with the app's environment loaded.

        The environment file is root's (0600): root reads it, runuser keeps it for the app user.
        TIMED: bash's `time` prints the seconds (wall clock) on the last line of standard error."""
        command = 'exec runuser -u %s -- %s' % (APP, ' '.join(_quote(a) for a in argv))
        if timed:
            command = "TIMEFORMAT=%%R; time (runuser -u %s -- %s >/dev/null)" % (APP, ' '.join(_quote(a) for a in argv))
        script = 'cd %s/code && set -a && . %s && set +a && %s' % (DEPLOY_ROOT, ENV_FILE, command)
        return ['bash', '-c', script]

    def manage(self, *args):
        return self.exec_(self.as_app([DEPLOY_ROOT + '/venv/bin/python', 'manage.py'] + list(args)))[1]

    def startup_seconds(self, tries=3):
        """Best of TRIES: `python -m config.wsgi` (django.setup() and the WSGI app, what a worker loads)."""
        times = []
        for _try in range(tries):
            err = self.exec_(self.as_app([DEPLOY_ROOT + '/venv/bin/python', '-m', 'config.wsgi'], timed=True))[2]
            times.append(float(err.strip().splitlines()[-1]))
        return round(min(times), 3)

    def migrate_seconds(self, app, back_to, tries=2):
        """Best of TRIES: `manage.py migrate --noinput` alone, as the simple method runs it (Django's start-up and
        the migrations from BACK_TO on), in the live release with its environment; APP migrated back to BACK_TO
        after each. The service is running: the timing is as quiet as the host is, no client asks."""
        times = []
        for _try in range(tries):
            err = self.exec_(self.as_app([DEPLOY_ROOT + '/venv/bin/python', 'manage.py', 'migrate', '--noinput'],
                                         timed=True))[2]
            times.append(float(err.strip().splitlines()[-1]))
            self.manage('migrate', app, back_to, '--noinput')
        return round(min(times), 3)

    def page(self):
        rc, out, _err = self.exec_(['curl', '-sS', '--max-time', '10', READ_URL], check=False)
        return out if rc == 0 else ''

    def expect_page(self, release, when):
        page = self.page()
        if marker(release) not in page:
            shown = page[:600] or '(no answer)'
            raise BenchError('%s: %s does not show %r:\n%s' % (when, READ_URL, marker(release), shown))


def _quote(arg):
    return "'%s'" % arg.replace("'", "'\"'\"'")


class Traffic(object):
    """traffic.py inside the host as the transient unit bench-traffic, for one run."""

    def __init__(self, host, name, rate):
        self.host = host
        # A directory of root's: the app user can plant nothing where root writes and the figures are read.
        self.out = '%s/traffic-%s.json' % (OUT_DIR, name)
        self.rate = rate

    def __enter__(self):
        self.host.exec_(['install', '-d', '-m', '0700', '-o', 'root', '-g', 'root', OUT_DIR])
        self.host.exec_(['rm', '-f', self.out, self.out + '.tmp'])
        self.host.exec_(['systemctl', 'reset-failed', TRAFFIC_UNIT], check=False)
        self.host.exec_(['systemd-run', '--unit=' + TRAFFIC_UNIT, '-p', 'EnvironmentFile=' + ENV_FILE,
                         '/usr/bin/python3', '-I', TRAFFIC, '--out', self.out, '--rate', str(self.rate),
                         '--timeout', '10', '--write', WRITE_URL, READ_URL])
        return self

    def stop(self):
        """SIGTERM; traffic.py waits for the requests in flight (10 s at most), then writes its file."""
        self.host.exec_(['systemctl', 'stop', TRAFFIC_UNIT], timeout=60)
        deadline = time.time() + 30
        while self.host.exec_(['test', '-f', self.out], check=False)[0] != 0:
            if time.time() > deadline:
                status = self.host.exec_(['systemctl', 'status', TRAFFIC_UNIT], check=False)[1]
                raise BenchError('traffic.py wrote no %s:\n%s' % (self.out, status))
            time.sleep(0.2)
        data = json.loads(self.host.exec_(['cat', self.out])[1])
        self.host.exec_(['rm', '-f', self.out])
        return data

    def __exit__(self, *exc):
        self.host.exec_(['systemctl', 'stop', TRAFFIC_UNIT], check=False, timeout=60)


# ---------------------------------------------------------------- the benchmark

class Bench(object):

    def __init__(self, args):
        self.args = args
        self.env = tool_env()
        self.host = Host(self.env)
        self.tmp = tempfile.mkdtemp(prefix='simpledeploy-nofail-')
        self.results = []
        self.meta = {}
        # (case, round): `manage.py migrate` alone, timed after the case's deploy (Host.migrate_seconds).
        self.migrate_alone = {}
        self.round_no = None

    def check_tools(self):
        for tool in ('podman', 'ansible-playbook', 'bash'):
            if not shutil.which(tool, path=self.env['PATH']):
                raise BenchError('%s not found; run scripts/setup first' % tool)
        if not os.path.isdir(os.path.join(self.env['ANSIBLE_COLLECTIONS_PATH'], 'ansible_collections', 'ansible', 'posix')):
            raise BenchError('collections missing under %s; run scripts/setup first' % self.env['ANSIBLE_COLLECTIONS_PATH'])
        if run(['podman', 'image', 'exists', IMAGE], self.env, check=False)[0] != 0:
            raise BenchError('no image %s; run scripts/setup first' % IMAGE)

    def build_releases(self):
        """v3 as it is, and each case: v3 with its overlay copied over it."""
        self.sources = {}
        for name in [OLD] + list(CASES):
            dest = os.path.join(self.tmp, 'releases', name)
            shutil.copytree(os.path.join(CATALOG, OLD), dest, ignore=shutil.ignore_patterns(*BUILD_IGNORE))
            if name != OLD:
                shutil.copytree(os.path.join(OVERLAYS, name), dest, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(*BUILD_IGNORE))
            self.sources[name] = dest

    def write_ansible_files(self):
        self.inventory = os.path.join(self.tmp, 'inventory')
        with open(self.inventory, 'w') as handle:
            handle.write('%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n' % HOST)
        self.ansible_cfg = os.path.join(self.tmp, 'ansible.cfg')
        with open(self.ansible_cfg, 'w') as handle:
            handle.write('[defaults]\nhost_key_checking = False\nretry_files_enabled = False\n'
                         '[connection]\npipelining = true\n')
        # Test secrets, new for each run; the file is the run's own (0600). JSON is YAML.
        self.db_password = secrets.token_hex(16)
        bench_vars = {
            'vault_catalog_secret_key': secrets.token_urlsafe(40),
            'deploy_env': {
                'DJANGO_SECRET_KEY': '{{ vault_catalog_secret_key }}',
                'DJANGO_ALLOWED_HOSTS': 'localhost,127.0.0.1',
                'DATABASE_URL': 'postgres://%s:%s@127.0.0.1:5432/%s' % (APP, self.db_password, APP),
                'CATALOG_API_TOKEN': 'bench-' + secrets.token_urlsafe(32),
            },
            'deploy_pip_packages': [PSYCOPG],
            'deploy_build_dir': os.path.join(self.tmp, 'build'),
        }
        self.vars_file = os.path.join(self.tmp, 'vars.yml')
        with open(os.open(self.vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as handle:
            json.dump(bench_vars, handle, indent=1)

    def setup_postgresql(self):
        self.host.exec_(['systemctl', 'enable', '--now', 'postgresql@15-main'])
        self.host.exec_(['runuser', '-u', 'postgres', '--', 'pg_isready', '-t', '30'], timeout=60)
        sql = "CREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n" % (APP, self.db_password, APP, APP)
        self.host.exec_(['runuser', '-u', 'postgres', '--', 'psql', '-v', 'ON_ERROR_STOP=1', '-X', '-q'],
                        stdin=sql.encode())

    def setup(self):
        self.check_tools()
        self.build_releases()
        self.write_ansible_files()
        log('creating the container host %s from %s' % (HOST, IMAGE))
        self.host.lib('sd_remove_host "$2"', HOST)
        # sd_ensure_host runs SD_HOST_IMAGE: the PostgreSQL image here.
        self.host.lib('SD_HOST_IMAGE=$SD_PG_IMAGE && sd_ensure_host "$2"', HOST)
        self.setup_postgresql()
        run(['podman', 'cp', TRAFFIC_SOURCE, '%s:%s' % (HOST, TRAFFIC)], self.env)
        log('first deploy of %s (builds the virtualenv: pip from PyPI)' % OLD)
        start = time.time()
        self.playbook(OLD, timeout=1200)
        self.setup_seconds = round(time.time() - start, 1)
        self.host.expect_page(OLD, 'after the first deploy of %s' % OLD)
        self.versions = self.host.exec_([
            DEPLOY_ROOT + '/venv/bin/python', '-m', 'pip', 'list', '--format=freeze'])[1]
        wanted = ('Django', 'gunicorn', 'whitenoise', 'psycopg', 'psycopg-binary')
        self.versions = ', '.join(line for line in self.versions.split() if line.split('==')[0] in wanted)
        self.versions += '; host ' + self.host.exec_(['python3', '--version'])[1].strip()
        self.versions += '; PostgreSQL ' + self.host.exec_(['runuser', '-u', 'postgres', '--', 'psql', '-XAtc',
                                                            'show server_version'])[1].strip()
        self.versions += '; ' + run(['ansible-playbook', '--version'], self.env)[1].splitlines()[0]

    def playbook(self, release, timeout=600):
        env = dict(self.env, ANSIBLE_CONFIG=self.ansible_cfg, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
                   ANSIBLE_NOCOLOR='1')
        argv = ['ansible-playbook', '-i', self.inventory, os.path.join(ROOT, 'playbooks', 'deploy.yml'),
                '-e', '@' + os.path.join(CATALOG, 'deploy-vars.yml'), '-e', '@' + self.vars_file,
                '-e', 'deploy_source=' + self.sources[release]]
        argv += [arg for extra in self.args.extra_vars for arg in ('-e', extra)]
        start = time.time()
        rc, out, err = run(argv, env, timeout=timeout, check=False)
        end = time.time()
        if rc != 0:
            raise BenchError('the deploy of %s failed (rc=%s):\n%s%s' % (release, rc, _failures(out), err[-2000:]))
        switch, tasks = parse_switch(out, HOST)
        if switch is None and release != OLD:
            raise BenchError('no release_switch result in the output of the deploy of %s; tasks: %s' % (
                release, ', '.join(name for name, _s, _e in tasks)))
        return start, end, switch, tasks

    def baseline(self, round_no):
        load = round(os.getloadavg()[0], 2)
        with Traffic(self.host, 'baseline-%d' % round_no, self.args.rate) as traffic:
            start = time.time()
            time.sleep(self.args.baseline_seconds)
            data = traffic.stop()
        result = dict(case='baseline', round=round_no, load=load, **analyse(data, start, None, None))
        self.keep(result, data, start)
        log('baseline  round %d: %s' % (round_no, one_line(result)))
        return result

    def measure(self, name, round_no, startup):
        self.host.expect_page(OLD, 'before %s' % name)
        load = round(os.getloadavg()[0], 2)
        with Traffic(self.host, '%s-%d' % (name, round_no), self.args.rate) as traffic:
            time.sleep(1)
            start, end, switch, tasks = self.playbook(name)
            time.sleep(1)
            data = traffic.stop()
        self.host.expect_page(name, 'after the deploy of %s' % name)
        result = dict(case=name, round=round_no, load=load, load_after=round(os.getloadavg()[0], 2),
                      wall=round(end - start, 2), startup=startup, **analyse(data, start, switch, name))
        result['switch'] = dict(switch or {}, task_from=_rel(switch, 'task_start', start),
                                task_to=_rel(switch, 'task_end', start))
        result['switch'].pop('task_start', None)
        result['switch'].pop('task_end', None)
        if self.args.json:
            result['tasks'] = [(task, _round(s - start if s else None), _round(e - start if e else None))
                               for task, s, e in tasks]
        for key in ('first_after_switch', 'first_after_new'):
            row = result['old'][key]
            if row:
                result['old'][key] = [row[0], round(row[2] - start, 3), row[3], row[4], row[5]]
        if result['old']['first_new_end'] is not None:
            result['old']['first_new_end'] = round(result['old']['first_new_end'] - start, 3)
        self.keep(result, data, start)
        log('%-9s round %d: %s; %s' % (name, round_no, one_line(result), switch_line(result)))
        self.back_to_v3(name)
        return result

    def keep(self, result, data, origin):
        if self.args.json:
            result['rows'] = [[k, u, round(s - origin, 4), sec, st, rel] for k, u, s, sec, st, rel in data['requests']]
        self.results.append(result)

    def back_to_v3(self, name):
        """Outside the measurement: books back to 0003 with the case's live code, then v3 again by the role."""
        if CASES[name]['migrates']:
            self.host.manage('migrate', 'books', '0003', '--noinput')
            if CASES[name]['kind'] == 'window':
                self.migrate_alone[(name, self.round_no)] = self.host.migrate_seconds('books', '0003')
        self.playbook(OLD)
        self.host.expect_page(OLD, 'after putting %s back' % OLD)
        plan = self.host.manage('showmigrations', 'books')
        if '[X] 0003_book_year' not in plan or '[ ]' in plan:
            raise BenchError('books is not at 0003 after putting %s back:\n%s' % (OLD, plan))

    def run(self):
        started = time.time()
        load_before = os.getloadavg()
        self.setup()
        for round_no in range(1, self.args.rounds + 1):
            startup = self.host.startup_seconds()
            log('round %d: Django start-up on the host (best of 3) %.3f s' % (round_no, startup))
            baseline = self.baseline(round_no)
            baseline['startup'] = startup
            self.round_no = round_no
            for name in self.args.cases:
                result = self.measure(name, round_no, startup)
                result['migrate_alone'] = self.migrate_alone.get((name, round_no))
                result['verdicts'] = verdicts(name, result, baseline, startup)
        self.meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(started)),
                         end=time.strftime('%H:%M:%S UTC', time.gmtime()), machine=machine(), rounds=self.args.rounds,
                         rate=self.args.rate, extra_vars=self.args.extra_vars, versions=self.versions,
                         setup_seconds=self.setup_seconds, total_seconds=round(time.time() - started, 1),
                         load_before=[round(x, 2) for x in load_before],
                         load_after=[round(x, 2) for x in os.getloadavg()])

    def cleanup(self):
        if not self.args.keep_host:
            log('removing the container host %s' % HOST)
            try:
                self.host.lib('sd_remove_host "$2"', HOST)
            except BenchError as exc:
                log('could not remove %s: %s' % (HOST, exc))
        shutil.rmtree(self.tmp, ignore_errors=True)


def _rel(switch, key, origin):
    return round(switch[key] - origin, 3) if switch and switch.get(key) else None


def _round(value):
    return round(value, 3) if value is not None else None


def _failures(out):
    """The failed tasks' messages from the JSON callback's output (or its tail)."""
    try:
        data = json.loads(out[out.index('{'):])
    except ValueError:
        return out[-3000:]
    lines = []
    for play in data.get('plays', []):
        for task in play.get('tasks', []):
            for host, result in task['hosts'].items():
                if result.get('failed'):
                    lines.append('%s on %s: %s' % (task['task']['name'], host, str(result.get('msg'))[:2000]))
    return '\n'.join(lines) + '\n' if lines else out[-3000:]


def one_line(result):
    r, w = result['read'], result['write']
    return ('%d requests (%.0f/s), failed %d reads %d writes, longest %.3f/%.3f s, p99 %.3f/%.3f s (read/write), '
            'no answer for %.3f s at most, load %s'
            % (result['requests'], result['rate'], r['failed'], w['failed'], r['longest'], w['longest'],
               r['p99'], w['p99'], result['quiet']['seconds'], result['load']))


def switch_line(result):
    switch, old = result['switch'], result['old']
    return 'mode %s, window %s, steps %s; old-release answers: %d sent after the switch, %d after the first new one' % (
        switch.get('strategy'), switch.get('window'), switch.get('steps'), old['after_switch'], old['after_new'])


# ---------------------------------------------------------------- report

def report(results, cases, meta):
    baselines = dict((r['round'], r) for r in results if r['case'] == 'baseline')
    by_case = {}
    for result in results:
        by_case.setdefault(result['case'], []).append(result)
    title = ('Failed requests through deploys, %s to %s; %d rounds; client: %s requests/s (GET /books/ and '
             'POST /books/add/ in turn), keep-alive off, 10 s timeout')
    out = [title % (meta['date'], meta['end'], meta['rounds'], meta['rate']),
           'machine: %s' % meta['machine'],
           'software: %s' % meta['versions'],
           'extra vars: %s' % (' '.join(meta['extra_vars']) or 'none'),
           'load average before %s, after %s; set-up (host + first deploy) %.0f s; total %.0f s' % (
               meta['load_before'], meta['load_after'], meta['setup_seconds'], meta['total_seconds']), '']
    rows = []
    for name in ['baseline'] + cases:
        runs = by_case.get(name, [])
        if not runs:
            continue
        diffs = []
        for r in runs:
            base = baselines.get(r['round'])
            if name != 'baseline' and base:
                diffs.append(max(r['read']['longest'], r['write']['longest'])
                             - max(base['read']['longest'], base['write']['longest']))
        modes = ', '.join(sorted(set(str((r.get('switch') or {}).get('strategy', '-')) for r in runs)))
        expected = name == 'baseline' or all((r.get('switch') or {}).get('strategy') == CASES[name]['expect']
                                             for r in runs)
        rows.append([name, span([r['load'] for r in runs]),
                     modes + ('' if expected else ' (expected %s)' % CASES[name]['expect']),
                     span([r['read']['failed'] for r in runs], '%d') + ' / ' + span([r['write']['failed'] for r in runs], '%d'),
                     span([r['requests'] for r in runs], '%d'),
                     span([r['read']['longest'] for r in runs], '%.3f') + ' / ' + span([r['write']['longest'] for r in runs], '%.3f'),
                     span([r['read']['p99'] for r in runs], '%.3f') + ' / ' + span([r['write']['p99'] for r in runs], '%.3f'),
                     span(diffs, '%.3f') if diffs else '-',
                     span([r['quiet']['seconds'] for r in runs], '%.3f'),
                     span([(r.get('switch') or {}).get('window') for r in runs], '%.3f') if name != 'baseline' else '-',
                     (span([r['old']['after_switch'] for r in runs], '%d') + ' / '
                      + span([r['old']['after_new'] for r in runs], '%d')) if name != 'baseline' else '-'])
    out.append(table(['case', 'load', 'mode', 'failed reads / writes', 'requests', 'longest read / write (s)',
                      'p99 read / write (s)', 'longest - baseline (s)', 'no answer for (s)', 'window (s)',
                      'old after switch / after first new'], rows))
    rows = []
    for name in cases:
        for r in by_case.get(name, []):
            s = r['switch']
            steps = ', '.join('%s %.3f' % kv for kv in (s.get('steps') or {}).items())
            alone = r.get('migrate_alone')
            rows.append([name, r['round'], s.get('strategy'), s.get('downtime'), '%.3f' % (s.get('window') or 0),
                         steps, '%.3f' % r['startup'], '-' if alone is None else '%.3f' % alone,
                         '%s..%s' % (r['quiet']['start'], r['quiet']['end']),
                         '%s..%s' % (s.get('task_from'), s.get('task_to')),
                         '%.2f' % r['wall'], r['load']])
    out += ['', "release_switch, per run (seconds; no answer = the clients' longest time without one, and task = the "
                "release_switch task, both from the playbook's start):",
            table(['case', 'round', 'mode', 'downtime', 'window', 'steps', 'Django start-up', 'migrate alone',
                   'no answer', 'task', 'wall', 'load'], rows)]
    reasons = {}
    for name in cases:
        for r in by_case.get(name, []):
            reasons.setdefault(name, set()).add(r['switch'].get('strategy_reason'))
    out += ['', 'Why that mode (strategy_reason):']
    out += ['  %s: %s' % (name, ' | '.join(sorted(str(x) for x in reasons[name]))) for name in cases if name in reasons]
    rows = []
    for name in cases:
        for r in by_case.get(name, []):
            for criterion, met, numbers in r['verdicts']:
                rows.append([name, r['round'], criterion, {True: 'met', False: 'NOT MET', None: 'n/a'}[met], numbers])
    out += ['', "The issue's criteria:", table(['case', 'round', 'criterion', 'verdict', 'numbers'], rows)]
    errors = ['  %s round %d: %s: %s' % (r['case'], r['round'], kind, r[kind]['errors'])
              for r in results for kind in ('read', 'write') if r[kind]['errors']]
    if errors:
        out += ['', 'First failed requests ([seconds after the deploy started, status]):'] + errors
    late = ['  %s round %d: first after the switch %s; first after the first new answer %s (first new answer ended at %s)' % (
        r['case'], r['round'], r['old']['first_after_switch'], r['old']['first_after_new'], r['old']['first_new_end'])
        for r in results if r['case'] != 'baseline' and (r['old']['after_switch'] or r['old']['after_new'])]
    if late:
        out += ['', 'Old-release answers after the new one ([kind, sent (s after the deploy started), seconds, status, release]):'] + late
    return '\n'.join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--cases', default=','.join(CASES),
                        help='comma-separated, run in this order each round after the baseline (default: %(default)s)')
    parser.add_argument('--rate', type=float, default=60.0, help='client requests a second, reads and writes')
    parser.add_argument('--baseline-seconds', type=float, default=20.0,
                        help='how long the client runs without a deploy (about as long as a deploy)')
    parser.add_argument('--json', help='write every result (with every request) to this file')
    parser.add_argument('-e', '--extra-vars', action='append', default=[],
                        help='passed to every ansible-playbook run, the first deploy included')
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
        if args.json:
            with open(args.json, 'w') as handle:
                json.dump(dict(meta=bench.meta, results=bench.results, error=str(exc)), handle, indent=1)
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
