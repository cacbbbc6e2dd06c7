# -*- coding: utf-8 -*-
# Copyright (c) simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quote command-line arguments for a systemd unit's Exec*= lines (documented in systemd_exec_quote.yml)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# Words of these characters mean the same to systemd bare: no blank, quote,
# backslash, $ (variable), % (specifier), ; (command separator) or #. (The
# prefixes of an executable, @ - : + !, count in the first word quoted or not.)
_BARE = re.compile(r'[A-Za-z0-9_/.,=:+@-]+\Z')
# Inside double quotes: what systemd would otherwise unescape, expand or take
# as the end of the word, and the control characters (C escapes).
_ESCAPES = {'\\': '\\\\', '"': '\\"', '$': '$$', '%': '%%', '\t': '\\t', '\n': '\\n', '\r': '\\r'}


def _escape(char):
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char < ' ' or char == '\x7f':
        return '\\x%02x' % ord(char)
    return char


def quote_word(word):
    """One argument as systemd's Exec*= reads back as exactly that argument."""
    if isinstance(word, (list, tuple, dict)) or word is None:
        raise AnsibleFilterError('systemd_exec_quote expects strings or a list of strings, got %r' % (word,))
    text = to_text(word, errors='surrogate_or_strict')
    if '\0' in text:
        raise AnsibleFilterError('systemd_exec_quote: an argument holds a NUL byte, which no command line can carry')
    if _BARE.match(text):
        return text
    return '"%s"' % ''.join(_escape(char) for char in text)


def systemd_exec_quote(value):
    """A word, or a list of words joined by blanks, quoted for systemd's Exec*= lines."""
    if isinstance(value, (list, tuple)):
        return ' '.join(quote_word(word) for word in value)
    return quote_word(value)


class FilterModule(object):
    """Quoting for systemd unit files."""

    def filters(self):
        return {'systemd_exec_quote': systemd_exec_quote}
