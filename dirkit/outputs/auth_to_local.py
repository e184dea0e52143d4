"""Hadoop's auth_to_local rules, evaluated the way KerberosName does (mechanism "hadoop").

Grammar: `RULE:[n:format](regex)s/pattern/replacement/[g][/L]` and `DEFAULT`. A RULE applies
to principals with n components; `format` builds a string from $0 (realm), $1, $2; the whole
string must match `regex`; the sed substitution (first match, or all with g) gives the short
name, lower-cased with /L. DEFAULT maps principals of the default realm to their first
component. A result containing '@' or '/' is an error. The first rule that applies wins.
Checked against Hadoop's own HadoopKerberosName in the integration tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import AuthToLocalError, NoMatchingRule

_RULE = re.compile(r"\s*((DEFAULT)|(RULE:\[(\d*):([^\]]*)](\(([^)]*)\))?(s/([^/]*)/([^/]*)/(g)?)?))/?(L)?")


def rules_for_realm(realm: str, lower: bool = True) -> list[str]:
    """Rules mapping ``user@REALM`` and ``user/host@REALM`` to ``user`` (lower-cased with /L),
    then DEFAULT for the cluster's own realm."""
    escaped = re.escape(realm).replace("\\-", "-")  # Java regex: dots escaped
    flag = "/L" if lower else ""
    return [
        f"RULE:[1:$1@$0](.*@{escaped})s/@.*//{flag}",
        f"RULE:[2:$1@$0](.*@{escaped})s/@.*//{flag}",
        "DEFAULT",
    ]


def _java_replacement(rep: str) -> str:
    # Java's $1 group references -> Python's \g<1>.
    return re.sub(r"\$(\d)", r"\\g<\1>", rep.replace("\\", "\\\\"))


def short_name(rules: Sequence[str], principal: str, default_realm: str) -> str:
    """The short name for ``principal``; raises NoMatchingRule like Hadoop does."""
    name, _, realm = principal.partition("@")
    components = name.split("/")
    params = [realm, *components]
    for text in rules:
        m = _RULE.fullmatch(text)
        if m is None:
            raise AuthToLocalError(f"not an auth_to_local rule: {text!r}")
        lower = m.group(12) == "L"
        if m.group(2):  # DEFAULT
            if realm == default_realm and len(components) <= 2:
                return components[0].lower() if lower else components[0]
            continue
        n = int(m.group(4))
        if n != len(components):
            continue
        base = re.sub(r"\$(\d)", lambda g: params[int(g.group(1))] if int(g.group(1)) < len(params) else "", m.group(5))
        if m.group(7) is not None and not re.fullmatch(m.group(7), base):
            continue
        result = base
        if m.group(8):
            result = re.sub(m.group(9), _java_replacement(m.group(10)), base, count=0 if m.group(11) else 1)
        if "@" in result or "/" in result:
            raise NoMatchingRule(f"{principal}: rule {text!r} gives {result!r}, which contains '@' or '/'")
        return result.lower() if lower else result
    raise NoMatchingRule(f"No rules applied to {principal}")
