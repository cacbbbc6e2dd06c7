#!/usr/bin/env python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip.py that ansible-test downloads.

ansible-test bootstraps pip in each virtualenv it makes by running a
get-pip.py fetched from a host that is not reachable here. It looks for a
cached copy at ~/.ansible/test/cache/get_pip_<version>.py first; scripts/setup
puts this file there. It does what get-pip.py does with the same arguments:
install pip with the interpreter's own ensurepip, then let that pip install
the requested packages (e.g. ``pip==25.2``) from the package index.
"""

import subprocess
import sys

# Options only get-pip.py understands; "pip install" would reject them.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                          stdout=subprocess.DEVNULL)
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
