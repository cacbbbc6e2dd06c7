# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a path may be a deploy root, by its spelling."""

from __future__ import annotations

import pytest

from ansible_collections.simpledeploy.django.plugins.module_utils import _root_safety


@pytest.mark.parametrize('path, homes, fragment', [
    ('relative/app', (), 'absolute'),
    ('/', (), 'whole filesystem'),
    ('//', (), 'whole filesystem'),
    ('/etc', (), 'system directory /etc'),
    ('/etc/myapp', (), 'system directory /etc'),
    ('/usr/local/app', (), 'system directory /usr'),
    ('/root/app', (), 'system directory /root'),
    ('/srv', (), 'system directory'),
    ('/srv/', (), 'system directory'),
    ('/var/www', (), 'system directory'),
    ('/home', (), 'system directory'),
    ('/apps', (), 'top-level'),
    ('/home/alice', ('/home/alice',), 'home directory /home/alice'),
    ('/home/alice/../alice', ('/home/alice',), 'home directory /home/alice'),
    ('/srv/shared', ('/srv/shared/bob',), 'home directory /srv/shared/bob'),
])
def test_unsafe_roots_are_refused_with_a_reason(path, homes, fragment):
    reason = _root_safety.unsafe_root_reason(path, homes)
    assert reason is not None and fragment in reason


@pytest.mark.parametrize('path, homes', [
    ('/srv/person', ('/home/alice', '/', '/nonexistent')),
    ('/var/www/person', ('/var/www',)),
    ('/home/alice/sites/person', ('/home/alice',)),
    ('/opt/person', ()),
])
def test_ordinary_roots_are_accepted(path, homes):
    assert _root_safety.unsafe_root_reason(path, homes) is None
