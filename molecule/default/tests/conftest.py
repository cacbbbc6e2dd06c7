# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Testinfra plumbing for this scenario: address Molecule's hosts as podman://<name>.

Molecule runs testinfra with ``--connection=ansible``. Testinfra's ansible
backend cannot map Ansible's podman connection to its own podman backend and
falls back to running an Ansible module per command (about 5 s per test).
Here the hosts of Molecule's inventory (MOLECULE_INVENTORY_FILE) that use the
podman connection are handed to testinfra as ``podman://<container>``, so
each command is a plain ``podman exec``. An explicit ``--hosts`` still wins.
"""

import os

import yaml


def podman_hosts(inventory_path):
    """Names of the hosts in an Ansible YAML inventory that use the podman connection."""
    with open(inventory_path, encoding="utf-8") as stream:
        inventory = yaml.safe_load(stream) or {}
    found = {}

    def walk(group):
        group = group or {}
        for name, hostvars in (group.get("hosts") or {}).items():
            hostvars = hostvars or {}
            found.setdefault(name, hostvars.get("ansible_connection"))
        for child in (group.get("children") or {}).values():
            walk(child)

    for group in inventory.values():
        walk(group)
    return sorted(name for name, connection in found.items() if connection == "podman")


def pytest_configure(config):
    """Point testinfra at podman://<name> for each podman host of the inventory."""
    if getattr(config.option, "hosts", None):
        return
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path or not os.path.exists(path):
        return
    hosts = podman_hosts(path)
    if hosts:
        config.option.hosts = ",".join("podman://" + name for name in hosts)
