"""Old helpers that exist only in release v1.

Nothing imports this module. Release v2 drops the file, so a deployment that
leaves it (or its bytecode) behind in the live tree can be detected.
"""

LEGACY_MARKER = "people.legacy from release v1"


def describe():
    return LEGACY_MARKER
