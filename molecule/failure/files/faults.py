"""Inject each fault of the failure scenario with a real deploy run; report the host before and after.

    faults.py --inventory INV --host NAME --vars VARS.yml --report OUT.json [--only a,b]

Runs on the controller (Python 3 stdlib), from Molecule's converge. Every
case is one `ansible-playbook playbooks/deploy.yml` run against the host, as a
user would type it; the releases it deploys are made from examples/person/v2
in a temporary directory. For each case the report holds the exit status,
the end of the output, and the host's state before and after: the release
the page names, the rows, the columns of people_person, the applied people
migrations, the lock, the staging tree, the service, and for bad input a
fingerprint of every file under /srv /etc /var/lib /home /opt /usr/local
(fingerprint.py, hashed). host_state.py reads all of it on the host in one
`podman exec`.

The secrets of vars.yml must not appear in any run's output (some run -vvv):
the report says where they did.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
V2 = os.path.join(REPO, 'examples', 'person', 'v2')
ROOT = '/srv/person'
LOCK = '/run/simpledeploy/person.lock'
# The barrier of the runs killed inside their window (files/hold_window.py).
FLAGS = '/var/tmp/sd-faults'
# As the app user, who owns shared/: media swapped for a link to /etc (and put back after).
PLANT = ('runuser -u person -- sh -c "mv %s/shared/media %s/shared/media.away && ln -s /etc %s/shared/media"'
         % (ROOT, ROOT, ROOT))
UNPLANT = 'runuser -u person -- sh -c "rm %s/shared/media && mv %s/shared/media.away %s/shared/media"' % (
    ROOT, ROOT, ROOT)
# Everything Ansible runs on the host: each `podman exec` is a session of
# its own whose leader has parent 0 (the module, and its children such as
# manage.py migrate). This shell is one too, and is spared.
KILL_MODULE = ('for p in $(ps -eo pid=,ppid= | awk \'$2 == 0 && $1 != 1 {print $1}\'); do '
               '[ "$p" -eq $$ ] || pkill -9 -s "$p"; done')
SECRETS = ('molecule-secret-key-5f0c9e27d1', 'molecule-db-password-8a41c3')
# The faults after the stop also change the environment and the unit: both must come back
# with the old release.
NEW_CONFIG = {'deploy_env': {'DJANGO_SECRET_KEY': SECRETS[0], 'DJANGO_ALLOWED_HOSTS': 'localhost,127.0.0.1',
                             'DJANGO_DB_PASSWORD': SECRETS[1], 'SD_FAULT_RELEASE': 'changed-with-the-release'},
              'deploy_gunicorn_workers': 3}
CONFIG_FILES = ('%s/app.env' % ROOT, '/etc/systemd/system/person.service')
# What must not change on bad input (files/host_state.py --fingerprint).
FINGERPRINTED = ('/srv', '/etc', '/var/lib', '/home', '/opt', '/usr/local')

MIGRATION = '''from django.db import migrations, models
%(imports)s

class Migration(migrations.Migration):
    dependencies = [("people", "%(after)s")]
    operations = [%(operations)s]
'''
ADD_NICKNAME = 'migrations.AddField("person", "nickname", models.CharField(max_length=64, null=True))'
ADD_ALIAS = 'migrations.AddField("person", "alias", models.CharField(max_length=64, null=True))'
EXPLODE = '''
def explode(apps, schema_editor):
    raise RuntimeError("data migration exploded on purpose")
'''
FORWARD_ONLY = '''
def forward(apps, schema_editor):
    apps.get_model("people", "Person").objects.update(nickname="n")
'''


def release(base, name, edits):
    """A copy of v2 under BASE/NAME with EDITS {relative path: text or None (delete)}."""
    dest = os.path.join(base, name)
    shutil.copytree(V2, dest, ignore=shutil.ignore_patterns('__pycache__', '*.pyc', 'db.sqlite3'))
    for rel, text in edits.items():
        path = os.path.join(dest, rel)
        if text is None:
            os.unlink(path)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)
    with open(os.path.join(dest, 'people', 'views.py')) as handle:
        views = handle.read()
    with open(os.path.join(dest, 'people', 'views.py'), 'w') as handle:
        handle.write(views.replace('RELEASE = "v2"', 'RELEASE = "%s"' % name))
    return dest


def migration(after, operations, imports=''):
    return MIGRATION % dict(after=after, operations=', '.join(operations), imports=imports)


def make_releases(base):
    with open(os.path.join(V2, 'people', 'models.py')) as handle:
        nickname_model = handle.read().replace(
            '    weight = models.FloatField()\n',
            '    weight = models.FloatField()\n    nickname = models.CharField(max_length=64, null=True)\n')
    m3 = {'people/models.py': nickname_model,
          'people/migrations/0003_person_nickname.py': migration('0002_person_weight', [ADD_NICKNAME])}
    with open(os.path.join(V2, 'mysite', 'wsgi.py')) as handle:
        wsgi = handle.read()
    with open(os.path.join(V2, 'people', 'views.py')) as handle:
        views = handle.read()
    with open(os.path.join(V2, 'requirements.txt')) as handle:
        requirements = handle.read()
    # The barrier inside the window of the runs killed there (files/hold_window.py).
    with open(os.path.join(HERE, 'hold_window.py')) as handle:
        hold = {'people/management/__init__.py': '', 'people/management/commands/__init__.py': '',
                'people/management/commands/hold_window.py': handle.read()}
    return {
        # 0003 applies, 0004 fails: 0003 must be migrated back
        'badmigrate': release(base, 'badmigrate', dict(m3, **{
            'people/migrations/0004_explode.py': migration(
                '0003_person_nickname', ['migrations.RunPython(explode, migrations.RunPython.noop)'], EXPLODE)})),
        # 0004 has no reverse: the schema comes back from the backup
        'irreversible': release(base, 'irreversible', dict(m3, **{
            'people/migrations/0004_forward_only.py': migration(
                '0003_person_nickname', ['migrations.RunPython(forward)'], FORWARD_ONLY),
            'people/migrations/0005_explode.py': migration(
                '0004_forward_only', ['migrations.RunPython(explode)'], EXPLODE)})),
        # migrates, then cannot start: the WSGI module raises on import
        'crash': release(base, 'crash', dict(m3, **{
            'mysite/wsgi.py': wsgi + '\nraise RuntimeError("crash on start, on purpose")\n'})),
        # nothing to migrate, starts, but every page is a 500
        'unhealthy': release(base, 'unhealthy', {
            'people/views.py': views.replace('    people = Person.objects.order_by("id")',
                                             '    raise RuntimeError("unhealthy on purpose")')}),
        'nomanage': release(base, 'nomanage', {'manage.py': None}),
        'badreq': release(base, 'badreq', {
            'requirements.txt': requirements + 'simpledeploy-no-such-package==0.0.1\n'}),
        'postgres': release(base, 'postgres', {
            'requirements.txt': requirements + 'psycopg[binary]>=3.1,<4\n'}),
        'v3': release(base, 'v3', {}),
        'v4': release(base, 'v4', dict(m3, **hold)),
        'v5': release(base, 'v5', dict(m3, **{'requirements.txt': requirements + 'six==1.16.0\n'})),
        'v6': release(base, 'v6', dict(m3, **hold, **{
            'people/models.py': nickname_model.replace(
                '    nickname = models.CharField(max_length=64, null=True)\n',
                '    nickname = models.CharField(max_length=64, null=True)\n'
                '    alias = models.CharField(max_length=64, null=True)\n'),
            'people/migrations/0004_person_alias.py': migration('0003_person_nickname', [ADD_ALIAS])})),
    }


class Runner(object):

    def __init__(self, args, releases, outdir):
        self.args = args
        self.releases = releases
        self.outdir = outdir
        self.runs = 0

    def host(self, script, check=False, timeout=120, stdin=None, argv=None):
        argv = argv or ['sh', '-c', script]
        proc = subprocess.run(['podman', 'exec', '-i', self.args.host] + argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout,
                              input=stdin or '', check=False)
        if check and proc.returncode != 0:
            raise RuntimeError('%s: rc=%d %s' % (script, proc.returncode, proc.stdout))
        return proc.returncode, proc.stdout.strip()

    def state(self, fingerprint=False):
        """The host's state (files/host_state.py, one podman exec)."""
        argv = ['python3', '/usr/local/lib/sd-host-state.py', '--root', ROOT, '--url', 'http://127.0.0.1:8000/',
                '--service', 'person', '--lock', LOCK]
        for path in CONFIG_FILES:
            argv += ['--config', path]
        if fingerprint:  # every file's bytes: about half a second, so only where nothing may change
            for path in FINGERPRINTED:
                argv += ['--fingerprint', path]
        rc, out = self.host(None, argv=argv, timeout=180)
        if rc != 0:
            raise RuntimeError('reading the host state failed: rc=%d %s' % (rc, out))
        return json.loads(out)

    def deploy(self, source=None, extra=None, verbose=False, kill_when=None, kill_on_host=None):
        """One ansible-playbook run; with KILL_WHEN (a host shell test), SIGKILL it when that holds
        (and run KILL_ON_HOST there at the same moment)."""
        self.runs += 1
        log = os.path.join(self.outdir, 'run-%02d.log' % self.runs)
        extra = dict(extra or {})
        if source:
            extra.setdefault('deploy_source', self.releases[source])
        argv = ['ansible-playbook', '-i', self.args.inventory, '--limit', self.args.host,
                os.path.join(REPO, 'playbooks', 'deploy.yml'), '-e', '@' + self.args.vars,
                '-e', json.dumps(extra)] + (['-vvv'] if verbose else [])
        began = time.time()
        with open(log, 'w') as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            killed = False
            while proc.poll() is None:
                if kill_when and self.host(kill_when)[0] == 0:
                    if kill_on_host:
                        self.host(kill_on_host)
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                    break
                time.sleep(0.05 if kill_when else 0.5)
            rc = proc.wait()
        with open(log) as handle:
            output = handle.read()
        return dict(rc=rc, killed=killed, seconds=round(time.time() - began, 1), log=log, verbose=verbose,
                    vvv_traces=output.count('PODMAN EXEC') + output.count('ESTABLISH'),
                    tail=output[-3000:], secrets_seen=[s for s in SECRETS if s in output],
                    failed_lines=[line for line in output.splitlines() if line.startswith(('fatal:', 'failed:'))
                                  or 'the deploy failed at' in line][-6:])


def lock_json(since_epoch, host='another-controller', pid=4242):
    iso = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(since_epoch))
    return json.dumps(dict(owner='bob@%s' % host, run_id='%s-%d-%d' % (host, pid, since_epoch),
                           controller_host=host, controller_pid=pid, since=iso, since_epoch=since_epoch))


def run_cases(runner, only):
    pg_env = {'DJANGO_SECRET_KEY': SECRETS[0], 'DJANGO_ALLOWED_HOSTS': 'localhost,127.0.0.1',
              'DJANGO_DB_PASSWORD': SECRETS[1], 'DJANGO_DB_ENGINE': 'postgresql',
              'DJANGO_DB_HOST': '127.0.0.1', 'DJANGO_DB_PORT': '9', 'DJANGO_DB_CONNECT_TIMEOUT': '3'}
    cases = [
        # faults after the stop: the old release must come back
        ('fault', 'failing-migration', dict(source='badmigrate', verbose=True, extra=NEW_CONFIG)),
        ('fault', 'irreversible-migration', dict(source='irreversible', verbose=True, extra=NEW_CONFIG)),
        ('fault', 'crash-on-start', dict(source='crash', verbose=True, extra=NEW_CONFIG)),
        ('fault', 'health-check-fails', dict(source='unhealthy', verbose=True, extra=NEW_CONFIG)),
        # bad input: nothing on the host may change
        ('input', 'source-missing', dict(extra={'deploy_source': '/nonexistent/person'})),
        ('input', 'source-without-manage-py', dict(source='nomanage')),
        ('input', 'root-is-slash', dict(source='v3', extra={'deploy_root': '/'})),
        ('input', 'root-is-a-system-directory', dict(source='v3', extra={'deploy_root': '/usr/lib/person'})),
        ('input', 'root-is-a-home-directory', dict(source='v3', extra={'deploy_root': '/home/alice'})),
        ('input', 'service-does-not-exist', dict(
            source='v3', extra=dict(deploy_manage_service=False, deploy_service_name='nosuch'))),
        ('input', 'broken-settings-module', dict(source='v3', extra={'deploy_settings_module': 'mysite.nosuch'})),
        ('input', 'database-unreachable', dict(source='postgres', extra={'deploy_env': pg_env}, verbose=True)),
        ('input', 'requirements-fail-to-install', dict(source='badreq')),
        ('input', 'health-url-never-answers', dict(source='v3', extra={
            'deploy_healthcheck_url': 'http://127.0.0.1:9/'})),
        # the app user (it owns shared/) swaps its media directory for a link to /etc: the
        # deploy must stop naming it, and /etc (in the fingerprint) must stay root's
        ('input', 'app-user-planted-a-link-in-shared', dict(source='v3', setup=PLANT, teardown=UNPLANT)),
    ]
    report = []
    for kind, name, opts in cases:
        if only and name not in only:
            continue
        opts = dict(opts)
        setup, teardown = opts.pop('setup', None), opts.pop('teardown', None)
        if setup:
            runner.host(setup, check=True)
        before = runner.state(fingerprint=kind == 'input')
        run = runner.deploy(**opts)
        report.append(dict(kind=kind, name=name, run=run, before=before,
                           after=runner.state(fingerprint=kind == 'input')))
        if teardown:
            runner.host(teardown, check=True)
        sys.stderr.write('%s: rc=%s %.0f s\n' % (name, run['rc'], run['seconds']))

    # the lock: held by a live run elsewhere (refused at once), left by a dead one long ago (taken over)
    for name, age, extra in (('lock-held-by-another-run', 60, {}),
                             ('lock-left-by-a-dead-run', 7200, {'deploy_lock_timeout': 600})):
        if only and name not in only:
            continue
        runner.host("printf '%%s\\n' '%s' > %s" % (lock_json(int(time.time()) - age), LOCK), check=True)
        before = runner.state()
        run = runner.deploy(extra=dict(extra, deploy_source=V2))
        after = runner.state()
        report.append(dict(kind='lock', name=name, run=run, before=before, after=after))
        runner.host('rm -f %s' % LOCK)
        sys.stderr.write('%s: rc=%s\n' % (name, run['rc']))

    # the controller dies (SIGKILL to ansible-playbook and its workers) at several points; the next run
    # of the same deploy must end on the new release, serving, with every row
    # Inside the window the kill is not a race: the release's hold_window command (deploy_hooks_window, after
    # migrate, the service stopped) says it is there and waits until the kill is done.
    in_window = 'test -f %s/out/in-window' % FLAGS
    window = {'deploy_hooks_window': ['hold_window']}
    kills = [
        ('killed-while-staging', 'v3', 'test -f %s/staging/manage.py' % ROOT, None, {}),
        # ([p]: the pattern must not match the shell that runs pgrep)
        ('killed-while-building-the-virtualenv', 'v5', 'pgrep -f "[p]ip install" >/dev/null',
         '! pgrep -f "[p]ip install" >/dev/null', {}),
        ('killed-in-the-downtime-window', 'v4', in_window, None, window),
        # the module on the host dies too, in the middle of its window (service stopped)
        ('killed-on-both-sides-in-the-window', 'v6', in_window, None, window),
    ]
    for name, source, when, settle, extra in kills:
        if only and name not in only:
            continue
        before = runner.state()
        on_host = KILL_MODULE if name == 'killed-on-both-sides-in-the-window' else None
        if extra:
            # root's directory holds root's "hold" (the app user can neither plant nor remove it); the app user
            # writes "in-window" in out/, its own.
            runner.host('rm -rf {0} && mkdir -m 0755 {0} {0}/out && chown person {0}/out && touch {0}/hold'.format(
                FLAGS), check=True)
        killed = runner.deploy(source=source, extra=extra, kill_when=when, kill_on_host=on_host)
        # The window goes on (a module that outlived its controller finishes it) or is left to the rerun.
        runner.host('rm -f %s/hold' % FLAGS)
        deadline = time.time() + 180
        while settle and time.time() < deadline and runner.host(settle)[0] != 0:
            time.sleep(1)
        time.sleep(2)  # what the dead run left running on the host ends
        middle = runner.state()
        rerun = runner.deploy(source=source, extra=extra)
        report.append(dict(kind='kill', name=name, release=source, run=rerun, killed_run=killed, before=before,
                           middle=middle, after=runner.state()))
        sys.stderr.write('%s: killed=%s, rerun rc=%s\n' % (name, killed['killed'], rerun['rc']))
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--inventory', required=True)
    parser.add_argument('--host', required=True)
    parser.add_argument('--vars', required=True)
    parser.add_argument('--report', required=True)
    parser.add_argument('--only', default='')
    args = parser.parse_args()
    outdir = os.path.join(os.path.dirname(os.path.abspath(args.report)), 'fault-runs')
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    base = tempfile.mkdtemp(prefix='simpledeploy-faults-')
    try:
        runner = Runner(args, make_releases(base), outdir)
        report = run_cases(runner, set(filter(None, args.only.split(','))))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    with open(args.report, 'w') as handle:
        json.dump(report, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
