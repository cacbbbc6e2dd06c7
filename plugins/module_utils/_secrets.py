# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which values of an application's environment are masked, and how URLs are shown.

Private to the collection: the interface may change without notice.

Ansible masks a module's result by value: every string registered in
``module.no_log_values`` is replaced wherever it occurs in the result (``msg``,
``stdout``, ``stderr``, nested data, the ``invocation`` shown with ``-v``),
and a number whose text contains one is replaced whole. So the rule below
decides which strings to register; see :func:`secret_strings`.

Pure functions, standard library only (they run on the managed host).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import ipaddress
import re
from urllib.parse import unquote

# Values at least this long are masked whatever their key is called.
MIN_LENGTH = 6

# Values of keys named like this are masked from this length on, numbers included
# (the rule of earlier releases, kept: a 4-digit PIN in DB_PASSWORD stays masked).
SECRET_KEY_PATTERN = re.compile(
    r'SECRET|PASSWORD|PASSWD|PASS$|PASS_|_PASS|TOKEN|KEY|CREDENTIAL|DATABASE_URL|DSN', re.IGNORECASE)
MIN_NAMED_LENGTH = 4

BOOLEANS = frozenset(['true', 'false', 'yes', 'no', 'on', 'off'])

# Values that are never secrets and that the modules report on purpose (the
# database vendor, a local host): masking them would only blank the reports.
PUBLIC_VALUE = re.compile(
    r'(django\.db\.backends\.)?(postgresql|postgres|postgis|sqlite3?|mysql|mariadb|oracle)|localhost',
    re.IGNORECASE)

# What an error message could show of a password: the pieces a URL parser
# cuts it into when it holds one of these unencoded.
URL_DELIMITERS = re.compile(r'[/:@?#]')

# The start of a URL: scheme "://". A URL runs to the next whitespace, quote
# or angle bracket, or to the start of the next URL (a comma-separated list).
_URL_START = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://')
_URL_END = re.compile(r'''[\s'"<>]''')

# For messages: scheme://USERINFO@ -> scheme://***@ (to the last "@" of the URL,
# so that a password holding an unencoded "/" or "@" is hidden whole).
_SHOWN_USERINFO = re.compile(r'''([A-Za-z][A-Za-z0-9+.-]*://)[^\s'"<>]*@''')

MASK = '********'


def is_number_or_boolean(value):
    """Whether ``value`` reads as a number (``12``, ``-3.5``, ``1e3``) or a boolean word.

    The boolean words are ``true``, ``false``, ``yes``, ``no``, ``on``, ``off``, in any case.
    """
    text = value.strip()
    if text.lower() in BOOLEANS:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_public(value):
    """Whether ``value`` is an IP address, ``localhost`` or the name of a Django database backend."""
    text = value.strip()
    if PUBLIC_VALUE.fullmatch(text):
        return True
    try:
        ipaddress.ip_address(text.strip('[]'))
    except ValueError:
        return False
    return True


def maskable(value):
    """Whether a value of the app environment is masked by value: see :func:`secret_strings`."""
    return len(value) >= MIN_LENGTH and not is_number_or_boolean(value) and not is_public(value)


def _urls(value):
    """The URLs in ``value``, each as the text after ``scheme://``."""
    starts = list(_URL_START.finditer(value))
    found = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(value)
        rest = value[match.end():end]
        stop = _URL_END.search(rest)
        if stop:
            rest = rest[:stop.start()]
        found.append(rest.rstrip(','))
    return found


def url_secret_parts(value):
    """Every string of the userinfos of the URLs in ``value`` that an output could show.

    For each URL (``scheme://...``) with a userinfo: the userinfo
    (``user:password``), the password alone (the whole userinfo when it has no
    ``:``, a token used as user name), the pieces of the password cut at the URL
    delimiters ``/ : @ ? #`` (what a URL parser shows of a password that holds
    them unencoded: ``postgres://u:abc/defgh@host`` is read as host ``u``, port
    ``abc``...), and the percent-decoded form of each. The userinfo is read both
    as a URL parser reads it (up to the first ``/ ? #``) and, when that finds
    none, up to the last ``@`` of the URL. Strings shorter than MIN_LENGTH are
    left out (see :func:`secret_strings`).
    """
    parts = set()
    for rest in _urls(value):
        netloc = re.split(r'[/?#]', rest, maxsplit=1)[0]
        if '@' in netloc:
            userinfos = [netloc.rpartition('@')[0]]
        elif '@' in rest:
            userinfos = [rest.rpartition('@')[0]]
        else:
            continue
        for userinfo in userinfos:
            password = userinfo.partition(':')[2] if ':' in userinfo else userinfo
            parts.update((userinfo, unquote(userinfo)))
            for form in (password, unquote(password)):
                parts.add(form)
                parts.update(URL_DELIMITERS.split(form))
    return set(part for part in parts if len(part) >= MIN_LENGTH)


def strings_of(data):
    """Every string in ``data`` (nested dicts and lists walked, dict keys included)."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from strings_of(key)
            yield from strings_of(value)
    elif isinstance(data, (list, tuple, set, frozenset)):
        for item in data:
            yield from strings_of(item)


def public_strings(argument_spec, params):
    """The strings of a module's arguments whose options are not ``no_log``.

    Ansible logs those arguments in clear (the host's journal, ``-v``): a value
    of the app environment found in one of them (the app's name in its deploy
    root, say) is no secret, and masking it would only blank the paths the
    module reports.
    """
    found = []
    for name, value in (params or {}).items():
        if not (argument_spec.get(name) or {}).get('no_log'):
            found.extend(strings_of(value))
    return found


def secret_strings(env, public=()):
    """The strings of an application environment to register in ``module.no_log_values``.

    ``env`` maps names to string values (deploy_env, env_file, environment).
    The rule, by value whatever the key is called:

    - every value of MIN_LENGTH (6) characters or more that is not a number,
      a boolean word (true/false/yes/no/on/off, any case), an IP address,
      ``localhost`` or the name of a Django database backend (``postgresql``,
      ``django.db.backends.sqlite3``...);
    - every value of 4 characters or more, numbers included, of a key whose
      name looks secret (SECRET_KEY_PATTERN: ..._SECRET_KEY, ..._PASSWORD,
      ..._PASS, ..._TOKEN, ..._KEY, DATABASE_URL, ..._DSN, ...);
    - for every value that is or holds a URL, its userinfo, password and the
      pieces of it an error message could show (:func:`url_secret_parts`).

    A whole value found in one of the ``public`` strings (the arguments the
    module was given in clear, see :func:`public_strings`) is no secret and is
    left out; the parts of URLs never are.

    Shorter values, numbers and booleans are not registered: Ansible masks
    every occurrence of a registered string in the whole result, so ``1``
    would turn every count and ``0001_initial`` into asterisks. So a secret
    shorter than 6 characters (or a number, unless its key is named like a
    secret) is not masked; a non-secret value of 6 characters or more
    (a host name, a path) is masked wherever it occurs in a result.
    """
    public = list(public)
    found = set()
    for key, value in env.items():
        value = str(value)
        if maskable(value) or (SECRET_KEY_PATTERN.search(str(key)) and len(value) >= MIN_NAMED_LENGTH):
            if not any(value in text for text in public):
                found.add(value)
        if '://' in value:
            found.update(url_secret_parts(value))
    return found


def mask(text, secrets):
    """``text`` with every string of ``secrets`` replaced by ``********``, the longest first.

    The longest first: a password is hidden whole before its pieces are, so
    no short leftover of it stays visible (Ansible's own masking goes in no
    particular order).
    """
    if not text:
        return text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def redact_urls(text):
    """``text`` with the userinfo of every URL in it shown as ``***``.

    ``https://user:token@host/simple`` -> ``https://***@host/simple``; to the
    last ``@`` of the URL, so an unencoded ``/`` or ``@`` in a password does not
    leave a piece of it shown.
    """
    if not text:
        return text
    return _SHOWN_USERINFO.sub(r'\1***@', text)


def protect(text, secrets):
    """``text`` masked (:func:`mask`) and with the userinfos of its URLs redacted."""
    return redact_urls(mask(text, secrets))
