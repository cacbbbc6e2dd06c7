"""Print one line per filesystem entry under the given roots, to compare a host before and after.

    fingerprint.py ROOT... > LIST

Each line: path, type, mode, owner, group, size and the sha256 of a file's
bytes or a link's target. Left out, each for its reason in EXCLUDED: what the
system and Ansible itself write whatever a play does. Python 3 stdlib only.
"""

import hashlib
import os
import stat
import sys

EXCLUDED = (
    '/proc', '/sys', '/dev', '/run',
    '/var/log', '/var/cache',           # journald and apt write there on their own
    '/var/lib/systemd',                 # systemd's own state (timers, random seed)
    '/root/.ansible',                   # Ansible's remote working directory
    '/var/tmp/sd-test',                 # where this scenario keeps its records
)
# Ansible unpacks each running module (this script's own shell task included)
# into /tmp/ansible_<module>_payload_<random>.
EXCLUDED_PREFIXES = ('/tmp/ansible_',)


def excluded(path):
    return path in EXCLUDED or path.startswith(EXCLUDED_PREFIXES)


def describe(path, st):
    kind = stat.S_IFMT(st.st_mode)
    if stat.S_ISREG(kind):
        digest = hashlib.sha256()
        with open(path, 'rb') as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b''):
                digest.update(chunk)
        what = 'file %d %s' % (st.st_size, digest.hexdigest())
    elif stat.S_ISLNK(kind):
        what = 'link %s' % os.readlink(path)
    elif stat.S_ISDIR(kind):
        what = 'dir'
    else:
        what = 'other %o' % kind
    return '%s %04o %d:%d %s' % (path, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what)


def walk(root):
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not excluded(os.path.join(top, d)))
        # os.walk lists links to directories with the directories, and does not enter them.
        names = [os.path.join(top, name) for name in sorted(files)]
        names += [os.path.join(top, name) for name in dirs if os.path.islink(os.path.join(top, name))]
        for path in [top] + [name for name in names if not excluded(name)]:
            try:
                yield describe(path, os.lstat(path))
            except FileNotFoundError:
                continue


def main():
    for root in sys.argv[1:]:
        for line in walk(root):
            print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
