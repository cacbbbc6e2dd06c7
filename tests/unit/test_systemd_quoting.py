# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Environment values and gunicorn's arguments reach the app exactly.

The role's templates (app.env.j2, gunicorn.service.j2) are rendered by Ansible's own
templating, as the template module does, and read back by read_env_file (every
manage.py run) and by real systemd: a container from the project's host image
(Debian 12, systemd 252) starts the rendered unit, whose "gunicorn" prints the argv
and environment it got. That part skips when podman or the image is missing (run
scripts/setup to build it) and takes a few seconds.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import uuid

import jinja2
import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.filter.core import FilterModule as CoreFilters
from ansible.plugins.test.core import TestModule as CoreTests
from ansible.template import Templar, trust_as_template

from ansible_collections.simpledeploy.django.tests.unit.conftest import trusted

from ansible_collections.simpledeploy.django.plugins.filter.systemd_exec_quote import systemd_exec_quote
from ansible_collections.simpledeploy.django.plugins.module_utils._envfile import read_env_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'deploy')

# Values that an environment file, a shell or a unit file could get wrong.
TRICKY_ENV = {
    'PLAIN': 'mysite.settings',
    'MULTI_LINE': '-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n',
    'NEWLINE_ONLY': '\n',
    'DOUBLE_QUOTES': 'say "hi"',
    'SINGLE_QUOTES': "it's 'quoted'",
    'BACKSLASHES': 'C:\\new\\table \\\\ \\" end\\',
    'DOLLARS': '$HOME ${HOME} $$ $(id)',
    'BACKTICKS': '`id` \\`',
    'HASH': '#not a comment',
    'SEMICOLON': ';not a comment either',
    'BLANKS': '  leading and trailing  ',
    'ONLY_BLANKS': ' \t ',
    'EQUALS': '=a=b==',
    'UNICODE': 'ünïcödé € 🚀',
    'LINE_SEPARATORS': 'a\x85b\u2028c',
    'EMPTY': '',
    'CARRIAGE_RETURNS': 'a\r\nb\rc\r',
    'CONTROL': '\x1b[0m\x01\x7f\t',
    'EVERYTHING': 'p@ss"w\'o$r`d\\#;%\n  x = y  ',
    'URL': 'postgres://user:p%40ss@db:5432/app',
    'JINJA_LOOKING': '{{ not templated }} {% raw %}',
}

# gunicorn arguments that unquoted would split, vanish or inject a directive.
TRICKY_ARGS = [
    '--name', 'x\nExecStartPre=/bin/sh -c evil', 'with space', '"dq"', "'sq'", 'back\\slash', 'end\\',
    '$HOME', '${HOME}', '$$', '%n %%', '%', ';', '\\;', '#hash', '', 'tab\there', 'ünï €', '-x', '--opt=a b',
    '@at', '\x1b[0m', 'cr\r', 'a;b', ' lead', 'trail ', 'x\\"y', '\\n', "it's",
]

# Hand-written environment files: systemd 252 and read_env_file read the same.
ENV_FILE_CASES = [
    ("A='two\nlines'\nB=\"x\ny\"\n", {'A': 'two\nlines', 'B': 'x\ny'}),
    ("A='it'\"'\"'s'\n", {'A': "it's"}),
    ('A="x" \'y\'z  \n', {'A': 'xyz'}),
    ('A=a"b" \'c\'\n', {'A': 'a"b" \'c\''}),
    ('  A = spaced value  \n', {'A': 'spaced value'}),
    ('A=  a\\ b\\\\  \n', {'A': 'a b\\'}),
    ('A=a\\ \n', {'A': 'a '}),
    ('A=one\\\n  two\nB=\\#x\n', {'A': 'one  two', 'B': '#x'}),
    ('A="x\\\ny \\q \\$ \\` \\" \\\\ \\n"\n', {'A': 'xy \\q $ ` " \\ \\n'}),
    ('A="  pad  "\n', {'A': '  pad  '}),
    ("A='\\ $X `c` \"'\n", {'A': '\\ $X `c` "'}),
    ('A="cr\r"\r\nB=2\rC=3\n', {'A': 'cr\r', 'B': '2', 'C': '3'}),
    ('A="\t\x1b\x7f ü €"\n', {'A': '\t\x1b\x7f ü €'}),
    ('A=a\x85b\u2028c\n', {'A': 'a\x85b\u2028c'}),
    ('# a \\\\\nA=1\n; other\n', {'A': '1'}),
    ('A=\nB=""\nC=x=y\nA=last\n', {'A': 'last', 'B': '', 'C': 'x=y'}),
    ('DJANGO_SECRET_KEY=p@ss#word;x', {'DJANGO_SECRET_KEY': 'p@ss#word;x'}),
    ('A=1\\', {'A': '1'}),
]
ENV_FILE_IDS = ['multi-line', 'concatenated', 'parts-and-blanks', 'quotes-inside-unquoted', 'spaced',
                'unquoted-escapes', 'escaped-trailing-blank', 'continued-line', 'double-quote-escapes',
                'blanks-kept-in-quotes', 'single-literal', 'carriage-returns', 'control-and-unicode',
                'unicode-line-separators', 'comments', 'empty-and-last-wins', 'no-final-newline',
                'trailing-backslash']


def _source(template):
    with open(os.path.join(ROLE, 'templates', template), encoding='utf-8') as handle:
        return handle.read()


def render(template, **variables):
    """The role's template rendered by Ansible's templating, as ansible.builtin.template does."""
    variables.setdefault('ansible_managed', 'Ansible managed')
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template(_source(template)), escape_backslashes=False,
                            overrides=dict(trim_blocks=True, lstrip_blocks=False, newline_sequence='\n'))


def render_jinja2(template, **variables):
    """The same with plain Jinja2 and the filters the template uses: for the unit, whose filter of this
    collection Ansible's templating finds only when ansible-test installed the collection loader."""
    environment = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    core = CoreFilters().filters()
    environment.filters.update({'ansible.builtin.path_join': core['path_join'], 'regex_replace': core['regex_replace'],
                                'bool': core['bool'], 'simpledeploy.django.systemd_exec_quote': systemd_exec_quote})
    environment.tests.update(CoreTests().tests())
    variables.setdefault('ansible_managed', 'Ansible managed')
    return environment.from_string(_source(template)).render(**variables)


def render_env(env, settings='mysite.settings'):
    return render('app.env.j2', deploy_app_name='person', deploy_settings_module=settings, deploy_env=env)


def unit_vars(root, extra_args, **other):
    variables = dict(
        deploy_app_name='person', deploy_user='person', deploy_group='person', deploy_project_subdir='',
        __deploy_code_dir=root + '/code', __deploy_env_file=root + '/app.env', __deploy_venv_link=root + '/venv',
        __deploy_shared_dir=root + '/shared', deploy_wsgi_app='mysite.wsgi:application',
        deploy_gunicorn_bind='127.0.0.1:8000', deploy_gunicorn_workers=2, deploy_gunicorn_timeout=30,
        deploy_gunicorn_preload=False, deploy_gunicorn_extra_args=extra_args, deploy_stop_timeout=30,
        __deploy_runtime_subdir='simpledeploy-person', __deploy_gunicorn_conf=root + '/gunicorn.conf.py',
        __deploy_gunicorn_own_conf=False, deploy_service_name='person', deploy_hold_timeout=900,
        __deploy_gate_script=root + '/simpledeploy_gate.py', __deploy_gate_file=root + '/.simpledeploy-gate',
        __deploy_serve_gate_file=root + '/.simpledeploy-serve-gate',
        __deploy_listen_stream='127.0.0.1:8000')
    variables.update(other)
    return variables


def expected_env(env, settings='mysite.settings'):
    expected = {'DJANGO_SETTINGS_MODULE': settings} if settings else {}
    expected.update((key, str(value)) for key, value in env.items())
    return expected


def read_back(tmp_path, text):
    path = tmp_path / 'app.env'
    path.write_bytes(text.encode('utf-8'))
    return read_env_file(str(path))


# ------------------------------------------------ app.env through read_env_file

@pytest.mark.parametrize('key', sorted(TRICKY_ENV))
def test_each_value_comes_back_from_the_rendered_file(tmp_path, key):
    env = {key: TRICKY_ENV[key]}
    assert read_back(tmp_path, render_env(env)) == expected_env(env)


def test_all_values_together_and_other_types(tmp_path):
    env = dict(TRICKY_ENV, NUMBER=8, RATIO=0.5)
    assert read_back(tmp_path, render_env(env)) == expected_env(env)
    assert read_back(tmp_path, render_env(env, settings='')) == expected_env(env, settings='')


def test_plain_and_blank_values_render_as_before():
    # what earlier versions wrote for these values, byte for byte: no restart on upgrade
    lines = render_env({'A': 'x:y@z/1,+=%-', 'B': '', 'C': 'has space', 'D': "it's #1"}).splitlines()[3:]
    assert lines == ['DJANGO_SETTINGS_MODULE=mysite.settings', 'A=x:y@z/1,+=%-', 'B=', 'C="has space"',
                     'D="it\'s #1"']


def test_plain_jinja2_renders_as_ansible_does():
    variables = dict(deploy_app_name='person', deploy_settings_module='mysite.settings', deploy_env=TRICKY_ENV)
    assert render_jinja2('app.env.j2', **variables) == render('app.env.j2', **variables)


@pytest.mark.parametrize('text, expected', ENV_FILE_CASES, ids=ENV_FILE_IDS)
def test_read_env_file_reads_systemds_grammar(tmp_path, text, expected):
    assert read_back(tmp_path, text) == expected


# ------------------------------------------------ gunicorn.service ExecStart

def systemd_words(line):
    """Split the quoting systemd_exec_quote writes (bare words, "..." with its escapes) back into argv."""
    words = []
    for bare, quoted in re.findall(r'([^\s"]+)|"((?:[^"\\]|\\.)*)"', line):
        if bare:
            words.append(bare)
            continue
        text = re.sub(r'\\(x[0-9a-f]{2}|.)', lambda m: {'t': '\t', 'n': '\n', 'r': '\r'}.get(
            m.group(1), chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == 'x' else m.group(1)), quoted)
        words.append(text.replace('$$', '$').replace('%%', '%'))
    return words


def exec_start(unit):
    lines = [line for line in unit.splitlines() if line.startswith('ExecStart=')]
    assert len(lines) == 1
    return lines[0][len('ExecStart='):]


def test_typical_arguments_render_as_before():
    unit = render_jinja2('gunicorn.service.j2', **unit_vars('/srv/person', ['--log-level', 'debug'], deploy_gunicorn_preload=True))
    assert exec_start(unit) == ('/srv/person/venv/bin/gunicorn mysite.wsgi:application --chdir /srv/person/code/ '
                                '--bind 127.0.0.1:8000 --workers 2 --timeout 30 --preload '
                                '--config /srv/person/gunicorn.conf.py --log-level debug')
    # systemd holds the socket; a start waits at the gate while a deploy's window is open.
    lines = unit.splitlines()
    assert 'Requires=person.socket' in lines and 'After=person.socket' in lines
    assert ('ExecStartPre=/srv/person/venv/bin/python /srv/person/simpledeploy_gate.py '
            '/srv/person/.simpledeploy-gate') in lines
    assert 'TimeoutStartSec=900' in lines
    socket_unit = render_jinja2('gunicorn.socket.j2', **unit_vars('/srv/person', []))
    assert 'ListenStream=127.0.0.1:8000' in socket_unit.splitlines()
    # The workers of the graceful reload say, in the runtime directory, which release they loaded.
    assert 'RuntimeDirectory=simpledeploy-person' in unit.splitlines()
    assert 'Environment=SIMPLEDEPLOY_RELEASE_FILE=/srv/person/code/.simpledeploy-release' in unit.splitlines()
    # Its workers wait at the serve gate while a window starts the new release beside migrate.
    assert 'Environment=SIMPLEDEPLOY_SERVE_GATE=/srv/person/.simpledeploy-serve-gate' in unit.splitlines()


def test_a_configuration_file_of_the_users_replaces_the_roles():
    """gunicorn reads one --config: with the user's, the role passes none (its reload is then SIGHUP)."""
    with open(os.path.join(ROLE, 'vars', 'main.yml'), encoding='utf-8') as handle:
        expression = yaml.safe_load(handle)['__deploy_gunicorn_own_conf']
    for args, own in ((['--log-level', 'debug'], False), (['-c', 'conf.py'], True), (['--config=conf.py'], True),
                      (['-cconf.py'], True), (['--chdir', 'x'], False)):
        found = Templar(loader=DataLoader(), variables=dict(deploy_gunicorn_extra_args=args)).template(
            trusted(expression))
        assert found is own, args
    own = unit_vars('/srv/person', ['-c', 'conf.py'], __deploy_gunicorn_own_conf=True)
    unit = render_jinja2('gunicorn.service.j2', **own)
    assert exec_start(unit).endswith('--timeout 30 -c conf.py')


def test_each_extra_argument_is_one_word_and_injects_no_directive():
    unit = render_jinja2('gunicorn.service.j2', **unit_vars('/srv/my app', TRICKY_ARGS))
    plain = render_jinja2('gunicorn.service.j2', **unit_vars('/srv/my app', []))
    # the same lines as without extra arguments: nothing injected
    assert [line for line in unit.splitlines() if not line.startswith('ExecStart=')] == \
        [line for line in plain.splitlines() if not line.startswith('ExecStart=')]
    assert systemd_words(exec_start(unit)) == [
        '/srv/my app/venv/bin/gunicorn', 'mysite.wsgi:application', '--chdir', '/srv/my app/code/', '--bind',
        '127.0.0.1:8000', '--workers', '2', '--timeout', '30', '--config', '/srv/my app/gunicorn.conf.py'] + TRICKY_ARGS


# ------------------------------------------------ validate.yml refuses what cannot be written

def first_assert():
    """validate.yml's first assert: the assert, and its vars (the checks, each beside its message)."""
    with open(os.path.join(ROLE, 'tasks', 'validate.yml'), encoding='utf-8') as handle:
        task = next(task for task in yaml.safe_load(handle) if 'ansible.builtin.assert' in task)
    return task['ansible.builtin.assert'], task.get('vars', {})


def validate(tmp_path, **overrides):
    """(whether the first assert of validate.yml passes, its message)."""
    variables = dict(
        deploy_app_name='person', deploy_root='/srv/person', deploy_source=str(tmp_path), deploy_manage_service=True,
        deploy_wsgi_app='mysite.wsgi:application', __deploy_shared_paths=[], __deploy_requirements_src='',
        deploy_pip_extra_args='', deploy_env={}, deploy_gunicorn_bind='127.0.0.1:8000',
        deploy_gunicorn_extra_args=[], deploy_keep_releases=5, deploy_prepare_nice=10)
    variables.update(overrides)
    check, task_vars = first_assert()
    variables.update(trusted(task_vars))
    templar = Templar(loader=DataLoader(), variables=variables)
    that = check['that'] if isinstance(check['that'], list) else [check['that']]
    passed = all(templar.evaluate_conditional(trust_as_template(condition)) for condition in that)
    return passed, None if passed else templar.template(trust_as_template(check['fail_msg']))


def test_validate_accepts_every_tricky_value_and_argument(tmp_path):
    args = [arg for arg in TRICKY_ARGS if '\n' not in arg and '\r' not in arg]
    assert validate(tmp_path, deploy_env=TRICKY_ENV, deploy_gunicorn_extra_args=args) == (True, None)


@pytest.mark.parametrize('key', ['1ST', 'MY-VAR', 'A B', 'A\n', 'É'])
def test_validate_refuses_a_key_that_is_no_variable_name(tmp_path, key):
    passed, message = validate(tmp_path, deploy_env={'GOOD': 'x', key: 'top-secret-value'})
    assert not passed
    assert message.startswith('deploy_env keys must be environment variable names') and message.endswith(key)
    assert 'top-secret-value' not in message


def test_validate_refuses_a_nul_byte_naming_the_key_not_the_value(tmp_path):
    passed, message = validate(tmp_path, deploy_env={'GOOD': 'x', 'DB_PASSWORD': 'top-secret\0value'})
    assert not passed
    assert message.startswith('the value of deploy_env DB_PASSWORD holds a NUL byte')
    assert 'secret' not in message


@pytest.mark.parametrize('overrides', [
    dict(deploy_gunicorn_extra_args=['--name', 'x\nExecStartPre=/bin/sh -c evil']),
    dict(deploy_gunicorn_extra_args=['cr\r']),
    dict(deploy_gunicorn_extra_args=['nul\0']),
    dict(deploy_wsgi_app='mysite.wsgi:application\nExecStartPre=/bin/true'),
    dict(deploy_gunicorn_bind='127.0.0.1:8000\n'),
], ids=['newline-in-extra-args', 'carriage-return', 'nul', 'wsgi-app', 'bind'])
def test_validate_refuses_a_line_break_in_an_argument(tmp_path, overrides):
    passed, message = validate(tmp_path, **overrides)
    assert not passed and "cannot hold a line break or a NUL byte" in message


# ------------------------------------------------ real systemd in a container host

def _host_image():
    with open(os.path.join(ROOT, 'scripts', 'lib.sh'), encoding='utf-8') as handle:
        found = re.search(r'^SD_HOST_IMAGE=(\S+)', handle.read(), re.MULTILINE)
    return found.group(1) if found else 'localhost/simpledeploy-host:bookworm'


def _podman_env():
    env = dict(os.environ)
    conf = os.path.join(ROOT, 'molecule', 'images', 'containers.conf')
    if 'CONTAINERS_CONF' not in env and os.path.isfile(conf):
        env['CONTAINERS_CONF'] = conf
    return env


@pytest.fixture(scope='module')
def systemd_host():
    """A throwaway container host with systemd as PID 1: exec(argv, input=None) -> stdout."""
    podman = shutil.which('podman')
    if podman is None or os.geteuid() != 0:
        pytest.skip('needs root and podman')
    env = _podman_env()
    image = _host_image()
    if subprocess.run([podman, 'image', 'exists', image], env=env, check=False).returncode != 0:
        pytest.skip('no image %s: run scripts/setup' % image)
    name = 'sd-unit-quoting-%s' % uuid.uuid4().hex[:10]
    # --timeout and --rm: under ansible-test (tests in forked children) this fixture's teardown may
    # never run; the container then ends, and goes, by itself after 5 minutes.
    subprocess.run([podman, 'run', '-d', '--rm', '--timeout', '300', '--name', name, '--hostname', name,
                    '--systemd=always', '--label',
                    'owner=simpledeploy', image, '/sbin/init'], env=env, check=True, stdout=subprocess.DEVNULL)

    def run(*argv, **kwargs):
        done = subprocess.run([podman, 'exec', '-i', name] + list(argv), env=env, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        return done.stdout

    try:
        # "running" or "degraded": PID 1 is up and takes units
        subprocess.run([podman, 'exec', name, 'timeout', '30', 'systemctl', 'is-system-running', '--wait'],
                       env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield run
    finally:
        subprocess.run([podman, 'rm', '-f', '-t', '0', name], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dump_script():
    """tests/unit/files/env_dump.py, as an executable for the host's python3."""
    with open(os.path.join(os.path.dirname(__file__), 'files', 'env_dump.py'), encoding='utf-8') as handle:
        return '#!/usr/bin/python3\n' + handle.read()


def put(host, files):
    """Write {path: (text, mode)} into the host in one go."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode='w') as archive:
        for path, (text, mode) in files.items():
            data = text.encode('utf-8')
            info = tarfile.TarInfo(path.lstrip('/'))
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    host('tar', '-x', '-C', '/', '--no-same-owner', input=stream.getvalue())


def get(host, directory):
    """{name: text} of the files of a directory of the host."""
    with tarfile.open(fileobj=io.BytesIO(host('tar', '-c', '-C', directory, '.')), mode='r') as archive:
        return {os.path.basename(member.name): archive.extractfile(member).read().decode('utf-8')
                for member in archive.getmembers() if member.isfile()}


def test_systemd_starts_the_rendered_unit_with_the_exact_arguments_and_environment(systemd_host):
    """Also the socket and the gate: a connection to the socket starts the service, which waits at the gate while
    it is closed, then gets the socket (LISTEN_FDS)."""
    # (a blank in the root would split ReadWritePaths=, which the role does not quote)
    root = '/srv/quoting-test'
    env = dict(TRICKY_ENV, DUMP=root + '/shared/dump.json')
    variables = unit_vars(root, TRICKY_ARGS, deploy_user='root', deploy_group='root', deploy_service_name='quoting',
                          __deploy_listen_stream='127.0.0.1:8099')
    unit = render_jinja2('gunicorn.service.j2', **variables)
    with open(os.path.join(ROLE, 'files', 'simpledeploy_gate.py'), encoding='utf-8') as handle:
        gate_script = handle.read()
    put(systemd_host, {root + '/app.env': (render_env(env), 0o600), root + '/venv/bin/gunicorn': (dump_script(), 0o755),
                       root + '/code/.keep': ('', 0o644), root + '/shared/.keep': ('', 0o644),
                       root + '/simpledeploy_gate.py': (gate_script, 0o644),
                       root + '/.simpledeploy-gate': ('a window is open\n', 0o644),
                       '/etc/systemd/system/quoting.socket': (render_jinja2('gunicorn.socket.j2', **variables), 0o644),
                       '/etc/systemd/system/quoting.service': (unit, 0o644)})
    systemd_host('ln', '-sf', '/usr/bin/python3', root + '/venv/bin/python')
    systemd_host('sh', '-ec', 'systemctl daemon-reload; systemctl start quoting.socket')
    # A connection: systemd starts the service, whose start waits at the closed gate.
    systemd_host('python3', '-c', 'import socket; socket.create_connection(("127.0.0.1", 8099), timeout=5)')
    systemd_host('sh', '-ec', 'sleep 1; test "$(systemctl is-active quoting.service)" = activating; '
                 'test ! -e %s/shared/dump.json' % root)
    # The gate opens: the held start goes on (the dump script writes, says READY=1 and exits).
    systemd_host('sh', '-ec', 'rm {0}/.simpledeploy-gate; for i in $(seq 100); do '
                 'test -s {0}/shared/dump.json && exit 0; sleep 0.1; done; exit 1'.format(root))
    got = json.loads(get(systemd_host, root + '/shared')['dump.json'])
    assert got['env'].get('LISTEN_FDS') == '1'
    assert got['argv'] == ['mysite.wsgi:application', '--chdir', root + '/code/', '--bind', '127.0.0.1:8000',
                           '--workers', '2', '--timeout', '30', '--config', root + '/gunicorn.conf.py'] + TRICKY_ARGS
    # systemd made the runtime directory and named it in the environment
    assert got['env'].get('RUNTIME_DIRECTORY') == '/run/simpledeploy-person'
    assert got['env'].get('SIMPLEDEPLOY_RELEASE_FILE') == root + '/code/.simpledeploy-release'
    assert got['env'].get('SIMPLEDEPLOY_SERVE_GATE') == root + '/.simpledeploy-serve-gate'
    assert {key: got['env'].get(key) for key in expected_env(env)} == expected_env(env)


def test_systemd_reads_hand_written_files_as_read_env_file_does(systemd_host, tmp_path):
    files = {'/root/cases/dump': (dump_script(), 0o755)}
    script = []
    for number, (text, dummy) in enumerate(ENV_FILE_CASES):
        files['/root/cases/%d.env' % number] = (text, 0o600)
        # one transient service per file
        script.append('systemd-run --quiet --unit=envcase-{0} -p Type=oneshot -p EnvironmentFile=/root/cases/{0}.env '
                      '-p Environment=DUMP=/root/cases/{0}.json /root/cases/dump'.format(number))
    put(systemd_host, files)
    systemd_host('sh', '-ec', '\n'.join(script))
    dumps = get(systemd_host, '/root/cases')
    for number, (text, expected) in enumerate(ENV_FILE_CASES):
        got = json.loads(dumps['%d.json' % number])['env']
        assert {key: got.get(key) for key in expected} == expected, ENV_FILE_IDS[number]
        assert read_back(tmp_path, text) == expected, ENV_FILE_IDS[number]


@pytest.mark.parametrize('root', ['/srv/my app', '/srv/%n', '/srv/a\nb', 'srv/person'])
def test_validate_refuses_a_deploy_root_the_unit_could_not_carry(tmp_path, root):
    passed, message = validate(tmp_path, deploy_root=root)
    assert not passed and 'deploy_root must be an absolute path of letters, digits and _ . / -' in message


@pytest.mark.parametrize('bind, ok', [
    ('127.0.0.1:8000', True), ('0.0.0.0:80', True), ('[::1]:8000', True), ('unix:/run/person.sock', True),
    ('localhost:8000', False), ('8000', False), ('unix:person.sock', False), ('fd://3', False),
    ('unix:/run/%n.sock', False), ('unix:/run/a\\', False)])
def test_validate_takes_a_bind_systemd_can_listen_on(tmp_path, bind, ok):
    passed, message = validate(tmp_path, deploy_gunicorn_bind=bind)
    assert passed is ok, message
    if not ok:
        assert 'deploy_gunicorn_bind must be an IP address and port' in message and bind in message
