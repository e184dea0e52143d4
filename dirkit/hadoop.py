"""Hadoop core-site: auth_to_local rules and LDAP group mapping, as XML or an EMR classification.

Key names from Hadoop's core-default.xml (see shared reference facts §4). auth_to_local maps
``user@AD.REALM`` (and ``user/host@AD.REALM``) to the same short name dirkit's names policy
gives; DEFAULT only covers the cluster's default realm.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse
from xml.sax.saxutils import escape

from .config import Config, HadoopConfig, missing_section
from .directory.model import Directory
from .errors import ConfigError

P = "hadoop.security.group.mapping"


def auth_to_local_rules(realm: str, lower: bool = True) -> list[str]:
    """Rules mapping ``user@REALM`` and ``user/host@REALM`` to ``user`` (lower-cased with /L),
    then DEFAULT for the cluster's own realm."""
    escaped = re.escape(realm).replace("\\-", "-")  # Java regex: dots escaped
    flag = "/L" if lower else ""
    return [
        f"RULE:[1:$1@$0](.*@{escaped})s/@.*//{flag}",
        f"RULE:[2:$1@$0](.*@{escaped})s/@.*//{flag}",
        "DEFAULT",
    ]


def auth_to_local(cfg: Config) -> list[str]:
    return auth_to_local_rules(cfg.directory.realm, cfg.names.case == "lower")


def _hadoop(cfg: Config) -> HadoopConfig:
    if cfg.hadoop is None:
        raise missing_section(cfg, "hadoop")
    if not cfg.hadoop.bind_user:
        raise ConfigError("hadoop.bind_user is required for LdapGroupsMapping (a DN or user@domain)")
    if not cfg.hadoop.bind_password_file:
        raise ConfigError("hadoop.bind_password_file is required: the path of the bind password on the cluster nodes")
    if any(urlparse(u).scheme != "ldaps" for u in cfg.ldap.urls):
        raise ConfigError("ldap.urls: Hadoop's LdapGroupsMapping cannot use StartTLS; list ldaps:// URLs so the "
                          "bind password never crosses the network in clear")  # fmt: skip
    return cfg.hadoop


def group_hierarchy_levels(directory: Directory | None) -> int:
    """How far up Hadoop must walk group nesting to see every group the snapshot has."""
    if directory is None:
        return 5
    return max((len(m.path) - 1 for ms in directory.effective.values() for m in ms.values()), default=0)


def properties(cfg: Config, directory: Directory | None = None) -> dict[str, str]:
    """core-site properties, in a fixed order."""
    h = _hadoop(cfg)
    lower = cfg.names.case == "lower"
    d = cfg.directory
    props = {
        "hadoop.security.auth_to_local": "\n".join(auth_to_local(cfg)),
        # RuleBased... adds ldap.conversion.rule: group names lower-cased like dirkit's.
        P: "org.apache.hadoop.security." + ("RuleBasedLdapGroupsMapping" if lower else "LdapGroupsMapping"),
        f"{P}.ldap.url": ",".join(cfg.ldap.urls),  # comma-separated: failover across DCs
        f"{P}.ldap.ssl": "true",
        f"{P}.ldap.bind.user": h.bind_user or "",
        f"{P}.ldap.bind.password.file": h.bind_password_file or "",
        f"{P}.ldap.base": d.base_dn,
        f"{P}.ldap.search.filter.user": f"(&{d.user_filter}(sAMAccountName={{0}}))",
        f"{P}.ldap.search.filter.group": d.group_filter,
        f"{P}.ldap.search.attr.memberof": "memberOf",
        f"{P}.ldap.search.attr.member": "member",
        f"{P}.ldap.search.attr.group.name": "sAMAccountName",
        f"{P}.ldap.search.group.hierarchy.levels": str(group_hierarchy_levels(directory)),
    }
    if len(d.user_bases) == 1:
        props[f"{P}.ldap.userbase"] = d.user_bases[0]
    if len(d.group_bases) == 1:
        props[f"{P}.ldap.groupbase"] = d.group_bases[0]
    if lower:
        props[f"{P}.ldap.conversion.rule"] = "to_lower"
    if h.truststore:
        props[f"{P}.ldap.ssl.truststore"] = h.truststore
    if h.truststore_password_file:
        props[f"{P}.ldap.ssl.truststore.password.file"] = h.truststore_password_file
    return props


def memberof_groups(directory: Directory) -> dict[str, list[str]]:
    """user GUID -> the group names a memberOf-based lookup finds (Hadoop's LdapGroupsMapping):
    the effective groups *without* the primary group, which AD keeps out of memberOf."""
    by_dn = {g.dn.lower(): g for g in directory.groups.values()}
    parents: dict[str, list[str]] = {}  # group GUID -> GUIDs of groups listing it
    direct: dict[str, list[str]] = {}  # user DN -> GUIDs of groups listing them
    for g in directory.groups.values():
        for m in g.member_dns:
            sub = by_dn.get(m.lower())
            if sub is not None:
                parents.setdefault(sub.guid, []).append(g.guid)
            else:
                direct.setdefault(m.lower(), []).append(g.guid)
    out: dict[str, list[str]] = {}
    for u in directory.users.values():
        seen: set[str] = set()
        todo = list(direct.get(u.dn.lower(), ()))
        while todo:
            gid = todo.pop()
            if gid not in seen:
                seen.add(gid)
                todo += parents.get(gid, ())
        out[u.guid] = sorted(n for n in (directory.groups[g].name for g in seen) if n)
    return out


DOMAIN_USERS_RID = "513"


def primary_group_gaps(directory: Directory, non_default_only: bool = False) -> dict[str, list[str]]:
    """user name -> groups dirkit (and SSSD) see but a memberOf lookup misses: they come only
    through the user's primary group. Non-empty means LdapGroupsMapping would disagree.
    ``non_default_only``: only enabled users whose primary group is not Domain Users (everyone
    is in Domain Users; a different primary group is the surprising case)."""
    visible = memberof_groups(directory)
    gaps = {}
    for u in directory.named_users():
        if non_default_only and (not u.enabled or (u.primary_group_sid or "").endswith("-" + DOMAIN_USERS_RID)):
            continue
        missing = sorted(set(directory.group_names_of(u)) - set(visible.get(u.guid, ())))
        if missing:
            gaps[u.name or u.sam] = missing
    return gaps


def render_xml(cfg: Config, directory: Directory | None = None) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<!-- core-site properties generated by dirkit -->",
             "<configuration>"]  # fmt: skip
    for k, v in properties(cfg, directory).items():
        lines += ["  <property>", f"    <name>{escape(k)}</name>", f"    <value>{escape(v)}</value>", "  </property>"]
    lines.append("</configuration>")
    return "\n".join(lines) + "\n"


def render_classification(cfg: Config, directory: Directory | None = None) -> list[dict[str, Any]]:
    return [{"Classification": "core-site", "Properties": properties(cfg, directory)}]
