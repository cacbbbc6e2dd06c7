# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Testinfra plumbing for the fleet scenarios: the hosts of each inventory group.

The tests here look at several hosts together (a migration seen from the
database and from every web host), so they take the hosts as fixtures, by
Molecule's inventory groups, instead of being run once per host.
"""

import os

import pytest
import testinfra
import yaml


def groups():
    """{group: [host names]} from Molecule's YAML inventory."""
    with open(os.environ["MOLECULE_INVENTORY_FILE"], encoding="utf-8") as stream:
        inventory = yaml.safe_load(stream) or {}
    found = {}

    def walk(name, group):
        group = group or {}
        found.setdefault(name, [])
        for host in group.get("hosts") or {}:
            found[name].append(host)
        for child, sub in (group.get("children") or {}).items():
            walk(child, sub)

    for name, group in inventory.items():
        walk(name, group)
    return found


@pytest.fixture(scope="session")
def web():
    names = sorted(groups()["web"])
    assert len(names) == 2, names
    return [testinfra.get_host("podman://" + name) for name in names]


@pytest.fixture(scope="session")
def db():
    names = groups()["database"]
    assert len(names) == 1, names
    return testinfra.get_host("podman://" + names[0])


@pytest.fixture(scope="session")
def records():
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "records")
