# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_config (and _config.write_files under it) on real files under a directory of root's: what is
written and when, check mode, the directories refused before anything is written, links replaced and never
followed, and the content (a secret environment) never in the result."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _config
from ansible_collections.simpledeploy.django.plugins.modules import release_config


@pytest.fixture
def etc(root_parent):
    """A directory of root's, 0755, standing in for the deploy root and /etc/systemd/system."""
    return root_parent


def spec(etc, name, content, mode='0644', staged=False):
    return dict(dest=os.path.join(etc, name), content=content, mode=mode, staged=staged)


def module_args(files):
    """release_config's options for FILES (specs with their content)."""
    return dict(files=[dict((k, v) for k, v in entry.items() if k != 'content') for entry in files],
                contents=[entry['content'] for entry in files])


def read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_writes_what_differs_and_then_nothing(etc, run_module):
    files = [spec(etc, 'app.env.simpledeploy-next', 'SECRET_KEY=s3cr3t-value-long\n', '0600', staged=True),
             spec(etc, 'gunicorn.conf.py', 'workers = 2\n')]
    first = run_module(release_config, module_args(files))
    assert first['written'] == [f['dest'] for f in files]
    # The staged file is release_switch's to report; the one in place is this task's change.
    assert first['changed'] is True and first['changed_files'] == [files[1]['dest']]
    assert read(files[0]['dest']) == 'SECRET_KEY=s3cr3t-value-long\n' and mode_of(files[0]['dest']) == 0o600
    assert mode_of(files[1]['dest']) == 0o644
    again = run_module(release_config, module_args(files))
    assert again['changed'] is False and again['written'] == [] and again['changed_files'] == []
    # The secret is in no part of what the controller receives, the invocation included.
    assert 's3cr3t-value-long' not in first.raw and 's3cr3t-value-long' not in again.raw


def test_a_changed_mode_or_owner_is_written_again(etc):
    files = [dict(spec(etc, 'gate.py', 'print(1)\n'), mode=0o644)]
    _config.write_files(files)
    os.chmod(files[0]['dest'], 0o666)
    assert _config.write_files(files) == ([files[0]['dest']], [files[0]['dest']])
    assert mode_of(files[0]['dest']) == 0o644
    os.chown(files[0]['dest'], 65534, 65534)
    assert _config.write_files(files)[1] == [files[0]['dest']]
    assert os.lstat(files[0]['dest']).st_uid == 0
    assert _config.write_files(files) == ([], [])


def test_check_mode_writes_only_staged_files_and_says_what_would_change(etc, run_module):
    files = [spec(etc, 'unit.simpledeploy-next', '[Service]\n', staged=True), spec(etc, 'gunicorn.conf.py', 'x = 1\n'),
             spec(os.path.join(etc, 'not-yet'), 'gate.py', 'y = 2\n')]
    result = run_module(release_config, module_args(files), check_mode=True)
    assert result['changed'] is True
    assert result['written'] == [files[0]['dest']]
    # A directory a real run makes first counts as a change, not as a failure.
    assert result['changed_files'] == [files[1]['dest'], files[2]['dest']]
    assert os.path.exists(files[0]['dest'])
    assert not os.path.exists(files[1]['dest']) and not os.path.exists(os.path.join(etc, 'not-yet'))


@pytest.mark.parametrize('why', ['writable by others', 'another owner', 'a link'])
def test_a_directory_another_user_can_change_is_refused_before_anything_is_written(etc, run_module, why):
    bad = os.path.join(etc, 'bad')
    os.mkdir(bad, 0o755)
    if why == 'writable by others':
        os.chmod(bad, 0o777)
    elif why == 'another owner':
        os.chown(bad, 65534, 65534)
    else:
        real = os.path.join(etc, 'real')
        os.rename(bad, real)
        os.symlink(real, bad)
    files = [spec(etc, 'first.conf', 'a\n'), spec(bad, 'second.conf', 'b\n')]
    result = run_module(release_config, module_args(files))
    assert result['failed'] is True
    assert bad in result['msg'] and 'nothing was written' in result['msg']
    assert not os.path.exists(files[0]['dest'])
    assert not os.path.lexists(os.path.join(etc, 'real', 'second.conf'))


def test_a_link_at_the_destination_is_replaced_never_followed(etc):
    target = os.path.join(etc, 'elsewhere')
    with open(target, 'w', encoding='utf-8') as handle:
        handle.write('keep me\n')
    dest = os.path.join(etc, 'app.env.simpledeploy-next')
    os.symlink(target, dest)
    _config.write_files([dict(dest=dest, content='NEW=1\n', mode=0o600, staged=True)])
    assert not os.path.islink(dest) and read(dest) == 'NEW=1\n'
    assert read(target) == 'keep me\n'


def test_a_mode_that_is_not_octal_is_refused(etc, run_module):
    result = run_module(release_config, module_args([spec(etc, 'x.conf', 'x\n', mode='rw-r--r--')]))
    assert result['failed'] is True and 'octal' in result['msg'] and "'rw-r--r--'" in result['msg']
    assert not os.path.exists(os.path.join(etc, 'x.conf'))


@pytest.mark.parametrize('module_name', ['release_config', 'release_info'])
def test_the_content_is_not_in_what_the_module_logs_on_the_host(etc, run_module, monkeypatch, module_name):
    """AnsibleModule logs its arguments to the host's journal when it starts. A multi-line content inside a list
    of dicts was written there escaped ('\\n'), where the masking of the value missed it: a secret of the
    environment file reached the journal (seen in the realistic scenario). The contents are a no_log list of
    their own now."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.simpledeploy.django.plugins.modules import release_info
    logged = []
    monkeypatch.setattr(AnsibleModule, 'log', lambda self, msg, log_args=None: logged.append(msg))
    content = '# managed\nCATALOG_API_TOKEN=journal-leak-token-6f0a28\nDEBUG=0\n'
    entry = spec(etc, 'app.env.simpledeploy-next', content, '0600', staged=True)
    if module_name == 'release_config':
        result = run_module(release_config, module_args([entry]))
    else:
        args = module_args([entry])
        result = run_module(release_info, dict(root=os.path.join(etc, 'srv'), config=args['files'],
                                               config_contents=args['contents']))
    assert not result.get('failed'), result
    assert any('Invoked with' in msg for msg in logged), logged
    assert not [msg for msg in logged if 'journal-leak-token' in msg], logged
    assert 'journal-leak-token' not in result.raw
