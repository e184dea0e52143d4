"""The environment of every program dirkit starts on the admin's behalf (the notifier, the Hive
probe): an allow-list, never the whole environment, which may hold secrets given as ``env:``
references (the bind password, the KDC admin password)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# What a program needs to run and to find Kerberos: no credentials, no proxies, no tokens.
ALLOWED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "KRB5_CONFIG", "KRB5_TRACE")


def child_env(extra: Mapping[str, str] | None = None, pass_env: Iterable[str] = ()) -> dict[str, str]:
    """The allow-listed variables that are set, the ones the admin named in ``pass_env``
    (e.g. ``notify.pass_env``), then ``extra``."""
    names = set(ALLOWED) | set(pass_env)
    return {k: v for k, v in os.environ.items() if k in names} | dict(extra or {})


def through(prefix: Sequence[str], command: Sequence[str]) -> list[str]:
    """``command`` run through an admin's argv prefix (``verify.node_command``,
    ``revocation.node_commands``). ssh joins its arguments with spaces and hands them to the
    remote user's shell, which parses them again: there the command goes as one shell-quoted
    string, so an AD name holding ``;``, ``$(...)`` or spaces stays one argument."""
    if prefix and Path(prefix[0]).name == "ssh":
        return [*prefix, shlex.join(command)]
    return [*prefix, *command]
