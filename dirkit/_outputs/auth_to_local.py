"""Hadoop's auth_to_local rules: the ones dirkit renders, and an evaluator that behaves like
Hadoop's ``KerberosName`` (hadoop-auth 3.4.2), case for case.

Grammar: ``RULE:[n:format](regex)s/pattern/replacement/[g][/L]`` and ``DEFAULT``, one after the
other (whitespace between them optional, as Hadoop accepts). A principal ``service[/host][@realm]``
with neither host nor realm is returned unchanged before any rule. A RULE applies to principals
with n components; ``format`` builds a string from $0 (realm), $1, $2; the whole string must
match ``regex``; the sed substitution (first match, or all with g) gives the short name,
lower-cased with /L. DEFAULT maps principals of the default realm to their first component and
ignores /L. The first rule that gives a result wins. Under mechanism ``hadoop`` a result with
'@' or '/' is an error, and so is no rule applying; under ``mit`` both are allowed and an
unmatched principal comes back whole.

Rules hold Java regular expressions. What has an exact Python equivalent is translated
(``\\Q…\\E``, ``(?<name>``, ``\\z``, Java replacements ``$1``, ``${name}``, ``\\$``); anything
else Java-only is refused with an error naming the rule, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .. import _reserved
from ..errors import AuthToLocalError, MalformedPrincipal, NoMatchingRule

MECHANISMS = ("hadoop", "mit")

# The same three patterns as KerberosName (nameParser, parameterPattern, ruleParser).
_NAME = re.compile(r"([^/@]+)(/([^/@]+))?(@([^/@]+))?")
_PARAM = re.compile(r"([^$]*)(\$(\d*))?")
_RULE = re.compile(r"\s*((DEFAULT)|(RULE:\[(\d*):([^\]]*)](\(([^)]*)\))?(s/([^/]*)/([^/]*)/(g)?)?))/?(L)?")


def rules_for_realm(
    realm: str, lower: bool = True, reserved: Iterable[str] | None = None, host_principals: bool = False
) -> list[str]:
    """Rules mapping ``user@REALM`` to ``user`` (lower-cased with /L), then DEFAULT for the
    cluster's own realm; ``user/host@REALM`` too only with ``host_principals``.

    A reserved name (``reserved``: compare keys, default EMR's, see _reserved.py) is never
    mapped: a rule before the catch-all matches those principals in any letter case and
    leaves them whole. Under the ``hadoop`` mechanism a result that is not a simple name is
    an error, so Hadoop refuses the principal; under ``mit`` it stays ``hdfs@REALM``, a name
    that owns nothing. (No lookahead can exclude names from the catch-all: KerberosName's
    rule grammar allows no ')' inside a match pattern, so the deny rule uses only character
    classes and a top-level '|'.)"""
    escaped = re.escape(realm).replace("\\-", "-")  # Java regex: dots escaped
    flag = "/L" if lower else ""
    names = sorted(_reserved.defaults().names() if reserved is None else reserved)
    components = (1, 2) if host_principals else (1,)
    rules = [
        f"RULE:[{n}:$1@$0](" + "|".join(f"{_reserved.java_pattern(k)}@{escaped}" for k in names[i : i + 8]) + ")"
        for n in components
        for i in range(0, len(names), 8)
    ]
    rules += [f"RULE:[{n}:$1@$0](.*@{escaped})s/@.*//{flag}" for n in components]
    return [*rules, "DEFAULT"]


@dataclass(frozen=True)
class Principal:
    service: str
    host: str | None = None
    realm: str | None = None

    @classmethod
    def parse(cls, name: str) -> Principal:
        """As KerberosName's constructor: ``service[/host][@realm]``; a name that does not
        have that shape is malformed if it holds an '@', else taken whole as the service."""
        m = _NAME.fullmatch(name)
        if m is None:
            if "@" in name:
                raise MalformedPrincipal(f"Malformed Kerberos name: {name}")
            return cls(name)
        return cls(m.group(1), m.group(3), m.group(5))

    def __str__(self) -> str:
        return (
            self.service
            + (f"/{self.host}" if self.host is not None else "")
            + (f"@{self.realm}" if self.realm is not None else "")
        )


# Backslash escapes: Java's meaning written the Python way, or refused (no exact equivalent).
_ESCAPES = {"z": "\\Z", "e": "\\x1b"}
_REFUSED_ESCAPES = set("pPhHvVRXGZck0")  # \p{..} classes, \h, \R, \G, \Z, \cX, \k<..>, octal...


def _refuse(rule: str, what: str) -> AuthToLocalError:
    return AuthToLocalError(
        f"auth_to_local rule {rule}: the Java regex construct {what!r} has no exact Python equivalent; "
        "write the rule without it"
    )


def java_regex(pattern: str, rule: str) -> re.Pattern[str]:
    """A Java regex as the same Python one: \\Q…\\E quoted, (?<name>…) named, \\z end of input."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("\\Q", i):
            end = pattern.find("\\E", i + 2)
            end = len(pattern) if end < 0 else end
            out.append(re.escape(pattern[i + 2 : end]))
            i = end + 2
        elif c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            if e in _REFUSED_ESCAPES or (e == "x" and pattern.startswith("{", i + 2)):
                raise _refuse(rule, pattern[i : i + 3])
            out.append(_ESCAPES.get(e, pattern[i : i + 2]))
            i += 2
        elif pattern.startswith("&&", i):
            raise _refuse(rule, "&&")  # character-class intersection
        elif pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            out.append("(?P<")  # a named group; (?<= and (?<! are the same in both
            i += 3
        else:
            out.append(c)
            i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise AuthToLocalError(f"auth_to_local rule {rule}: bad regular expression {pattern!r}: {exc}") from None


def java_replacement(rep: str, rule: str) -> str:
    """Java's Matcher replacement ($1, ${name}, \\$ and \\\\ literal) in Python's syntax."""
    out: list[str] = []
    i = 0
    while i < len(rep):
        c = rep[i]
        if c == "\\":
            if i + 1 == len(rep):
                raise AuthToLocalError(f"auth_to_local rule {rule}: a '\\' ends the replacement")
            out.append(re.escape(rep[i + 1]) if rep[i + 1] == "\\" else rep[i + 1])
            i += 2
        elif c == "$":
            m = re.compile(r"\$(?:(\d)|\{([A-Za-z][A-Za-z0-9]*)\})").match(rep, i)
            if m is None:
                raise AuthToLocalError(f"auth_to_local rule {rule}: illegal group reference in {rep!r}")
            out.append(f"\\g<{m.group(1) or m.group(2)}>")
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class Rule:
    text: str
    default: bool = False
    components: int = 0
    fmt: str = ""
    match: re.Pattern[str] | None = None
    sub_from: re.Pattern[str] | None = None
    sub_to: str = ""
    repeat: bool = False
    lower: bool = False

    def apply(self, params: list[str | None], default_realm: str, mechanism: str) -> str | None:
        result: str | None = None
        if self.default:
            if params[0] == default_realm:
                result = params[1]
        elif len(params) - 1 == self.components:
            base = _replace_parameters(self.fmt, params, self.text)
            if self.match is None or self.match.fullmatch(base):
                if self.sub_from is None:
                    result = base
                else:
                    result = self.sub_from.sub(self.sub_to, base, count=0 if self.repeat else 1)
        if result is not None and mechanism == "hadoop" and ("/" in result or "@" in result):
            raise NoMatchingRule(f"Non-simple name {result} after auth_to_local rule {self.text}")
        return result.lower() if result is not None and self.lower else result


def _replace_parameters(fmt: str, params: list[str | None], rule: str) -> str:
    out: list[str] = []
    start = 0
    while start < len(fmt):
        m = _PARAM.match(fmt, start)
        if m is None or m.end() == start:
            break
        out.append(m.group(1))
        if m.group(2) is not None:
            if not m.group(3):
                raise AuthToLocalError(
                    f"auth_to_local rule {rule}: bad format in username mapping: '$' without a number"
                )
            n = int(m.group(3))
            if n >= len(params):
                raise AuthToLocalError(
                    f"auth_to_local rule {rule}: index {n} from {fmt} is outside of the valid range 0 to {len(params) - 1}"
                )
            out.append("null" if params[n] is None else str(params[n]))  # Java appends a null String as "null"
        start = m.end()
    return "".join(out)


def parse_rules(rules: str | Sequence[str]) -> list[Rule]:
    """Rules as Hadoop parses hadoop.security.auth_to_local: one after the other."""
    remaining = (rules if isinstance(rules, str) else "\n".join(rules)).strip()
    out: list[Rule] = []
    while remaining:
        m = _RULE.match(remaining)
        if m is None or m.end() == 0:
            raise AuthToLocalError(f"Invalid auth_to_local rule: {remaining}")
        text = m.group(0).strip()
        if m.group(2):
            out.append(Rule(text, default=True))  # DEFAULT/L: Hadoop ignores the /L
        else:
            out.append(
                Rule(
                    text,
                    components=int(m.group(4)),
                    fmt=m.group(5),
                    match=java_regex(m.group(7), text) if m.group(7) is not None else None,
                    sub_from=java_regex(m.group(9), text) if m.group(9) is not None else None,
                    sub_to=java_replacement(m.group(10) or "", text),
                    repeat=m.group(11) == "g",
                    lower=m.group(12) == "L",
                )
            )
        remaining = remaining[m.end() :]
    return out


def short_name(rules: str | Sequence[str], principal: str, default_realm: str, mechanism: str = "hadoop") -> str:
    """The short name Hadoop gives ``principal``. Raises MalformedPrincipal, NoMatchingRule
    (mechanism hadoop), or AuthToLocalError for a rule Hadoop would reject."""
    if mechanism.lower() not in MECHANISMS:  # Hadoop compares with equalsIgnoreCase
        raise AuthToLocalError(f"Invalid rule mechanism: {mechanism}")
    mechanism = mechanism.lower()
    if not principal:
        raise MalformedPrincipal("Null user: an empty principal")  # UGI refuses it before KerberosName
    p = Principal.parse(principal)
    if p.host is None and p.realm is None:
        return p.service  # already simple: no rule is consulted
    params: list[str | None] = [p.realm, p.service] + ([p.host] if p.host is not None else [])
    for rule in parse_rules(rules):
        result = rule.apply(params, default_realm, mechanism)
        if result is not None:
            return result
    if mechanism == "hadoop":
        raise NoMatchingRule(f"No rules applied to {p}")
    return str(p)
