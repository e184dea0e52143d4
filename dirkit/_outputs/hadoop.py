"""Hadoop core-site: auth_to_local rules and LDAP group mapping, as XML or an EMR classification.

Key names from Hadoop's core-default.xml (see shared reference facts §4). auth_to_local maps
``user@AD.REALM`` (and ``user/host@AD.REALM``) to the same short name dirkit's names policy
gives; DEFAULT only covers the cluster's default realm.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape

from .._config import AdSite, HadoopConfig
from .._directory import incremental
from .._directory.build import dn_key
from .._directory.model import NOT_DISABLED, Directory, User
from .._reserved import Reserved
from .auth_to_local import rules_for_realm

P = "hadoop.security.group.mapping"


def auth_to_local(ad: AdSite) -> list[str]:
    return rules_for_realm(ad.realm, ad.lower_case, ad.reserved.names(), ad.map_host_principals)


# AD's LDAP_MATCHING_RULE_IN_CHAIN: `member:<this>:=<user DN>` matches every group the user is
# in, through any depth of nesting, in one search (Samba implements it too).
IN_CHAIN = "1.2.840.113556.1.4.1941"


def properties(h: HadoopConfig, ad: AdSite, directory: Directory | None = None) -> dict[str, str]:
    """core-site properties, in a fixed order."""
    lower = ad.lower_case
    d = ad.directory
    props = {
        "hadoop.security.auth_to_local": "\n".join(auth_to_local(ad)),
        "hadoop.security.auth_to_local.mechanism": h.auth_to_local_mechanism,
        # RuleBased... adds ldap.conversion.rule: group names lower-cased like dirkit's.
        P: "org.apache.hadoop.security." + ("RuleBasedLdapGroupsMapping" if lower else "LdapGroupsMapping"),
        f"{P}.ldap.url": ",".join(ad.urls),  # comma-separated: failover across DCs
        f"{P}.ldap.ssl": "true",
        f"{P}.ldap.bind.user": h.bind_user,
        f"{P}.ldap.bind.password.file": h.bind_password_file,
        f"{P}.ldap.base": d.base_dn,
        f"{P}.ldap.search.filter.user": user_filter(d.user_filter, h.hide_disabled_users),
        f"{P}.ldap.search.filter.group": group_filter(d.group_filter, ad.reserved.names()),
        **_lookup(h.group_lookup),
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


def user_filter(base: str, hide_disabled: bool) -> str:
    """The user search filter: dirkit's scope, the name asked for, and (``hide_disabled``) not
    disabled in AD, so that Hadoop finds no such user, hence no groups, for a disabled account."""
    return f"(&{base}(sAMAccountName={{0}}){NOT_DISABLED if hide_disabled else ''})"


# groupType's GROUP_TYPE_BUILTIN_LOCAL_GROUP bit: the domain's Builtin groups (Administrators,
# Users...), which SSSD leaves out (and so dirkit's snapshot) and Hadoop would otherwise return.
NOT_BUILTIN = "(!(groupType:1.2.840.113556.1.4.803:=1))"


def group_filter(base: str, reserved: Iterable[str]) -> str:
    """The group search filter without the Builtin groups (Hadoop then returns the groups SSSD
    does) and without the groups named like a reserved name (AD compares sAMAccountName
    case-blind): a group ``supergroup`` or ``hadoop`` made in AD never reaches Hadoop as one.
    Only the "nested" lookup searches groups; "memberof" takes names from the user's memberOf
    values as they are (``reserved_cn_groups`` reports what it would let in)."""
    names = sorted(reserved)
    excluded = "".join(f"(sAMAccountName={escape_filter_chars(n)})" for n in names)
    return f"(&{base}{NOT_BUILTIN}(!(|{excluded})))" if names else f"(&{base}{NOT_BUILTIN})"


def escape_filter_chars(value: str) -> str:
    """An LDAP filter value (RFC 4515): \\ * ( ) and NUL as \\XX."""
    return "".join(f"\\{ord(c):02x}" if c in "\\*()\x00" else c for c in value)


def reserved_cn_groups(directory: Directory, reserved: Reserved) -> list[str]:
    """DNs of groups whose CN is a reserved name: with group_lookup = "memberof" Hadoop names
    groups by CN and filters none, so their members get that group on the cluster."""
    return sorted(g.dn for g in directory.groups.values() if reserved.reason(_cn(g.dn)) is not None)


def _lookup(kind: str) -> dict[str, str]:
    """How LdapGroupsMapping finds a user's groups (hadoop-common 3.4.2, LdapGroupsMapping.doGetGroups).

    - "nested": the user search, then ONE group search with the in-chain rule: every group through
      any nesting, named by sAMAccountName like everywhere else in dirkit. No memberOf key: its
      path would need group names from the RDN (CN) and would skip nesting.
    - "memberof": ONE search; the group names are the first RDN of each memberOf DN, which Hadoop
      accepts only when its type is search.attr.group.name, hence `cn`. memberOf lists direct
      groups only, and any hierarchy level > 0 forces the second search anyway, so it is 0:
      nested and primary-only groups are not returned (``mapping_gaps`` reports who loses what).
    """
    if kind == "memberof":
        return {
            f"{P}.ldap.search.attr.memberof": "memberOf",
            f"{P}.ldap.search.attr.group.name": "cn",
            f"{P}.ldap.search.attr.member": "member",
            f"{P}.ldap.search.group.hierarchy.levels": "0",
        }
    return {
        f"{P}.ldap.search.attr.member": f"member:{IN_CHAIN}:",
        f"{P}.ldap.search.attr.group.name": "sAMAccountName",
        f"{P}.ldap.search.group.hierarchy.levels": "0",
    }


def mapping_groups(directory: Directory, kind: str = "nested", hide_disabled: bool = True) -> dict[str, list[str]]:
    """user GUID -> the group names Hadoop's LdapGroupsMapping returns with ``group_lookup``
    = ``kind`` (lower-cased as RuleBasedLdapGroupsMapping does): no primary group (AD keeps it
    out of member/memberOf); for "memberof", direct groups only, named by their CN; none for a
    disabled user when the user search skips them (``hide_disabled``)."""
    if kind == "memberof":
        out: dict[str, list[str]] = {}
        for u in directory.users.values():
            key = u.dn.lower()
            cns = [_cn(g.dn) for g in directory.groups.values() if any(m.lower() == key for m in g.member_dns)]
            out[u.guid] = sorted(c.lower() for c in cns)
    else:
        out = memberof_groups(directory)
    if hide_disabled:
        out.update({u.guid: [] for u in directory.users.values() if not u.enabled})
    return out


def _cn(dn: str) -> str:
    first = dn.split(",", 1)[0]
    return first.split("=", 1)[1] if "=" in first else first


def mapping_gaps(directory: Directory, kind: str = "nested") -> dict[str, list[str]]:
    """user name -> dirkit's groups (what SSSD, and EMRFS, see) that LdapGroupsMapping will not
    return for the enabled user: primary-only groups, and for "memberof" nested ones and groups
    whose CN is not their name. Domain Users alone (everyone's primary group) is not reported.
    Computed once per snapshot; after a delta, for the users it touched only (when the snapshot
    it was applied to had them computed, as a long-running `dirkit watch` has)."""

    def gaps() -> dict[str, list[str]]:
        if kind == "memberof":
            visible = mapping_groups(directory, kind)
            per_user = {u.guid: _gaps_of(directory, u, visible.get(u.guid, ())) for u in directory.users.values()}
        else:
            per_user = _nested_gaps(directory)
        return {u.name or u.sam: per_user[u.guid] for u in directory.named_users() if per_user.get(u.guid)}

    return directory.derived(f"mapping_gaps:{kind}", gaps)


def _gaps_of(directory: Directory, user: User, visible: Iterable[str]) -> list[str]:
    if not user.enabled:
        return []
    return sorted(set(directory.group_names_of(user)) - set(visible) - {"domain users"})


def _nested_gaps(directory: Directory) -> dict[str, list[str]]:
    """user GUID -> their gaps under group_lookup = nested (empty lists left out). A member-based
    transitive lookup finds the groups reachable up `member` links from the groups listing the
    user: the snapshot's delta index has both (incremental.index)."""

    def compute() -> dict[str, list[str]]:
        ix = incremental.index(directory)
        base, touched = incremental.delta_base(directory)
        prior = base.cached("nested_gaps") if base is not None else None
        if isinstance(prior, dict):
            out = {g: v for g, v in prior.items() if g not in touched and g in directory.users}
            todo = [directory.users[g] for g in touched if g in directory.users]
        else:
            out, todo = {}, list(directory.users.values())
        reached: dict[tuple[str, ...], list[str]] = {}  # listing groups -> the names found up from them
        for u in todo:
            start = ix.listed_in.get(dn_key(u.dn), ())
            if start not in reached:
                reached[start] = _names_up(directory, start)
            missing = _gaps_of(directory, u, reached[start])
            if missing:
                out[u.guid] = missing
        return out

    return directory.derived("nested_gaps", compute)


def nested_groups(directory: Directory, user: User) -> list[str]:
    """The group names a member-based transitive lookup (group_lookup = "nested") returns for
    this one user, sorted: up the ``member`` links from the groups listing them."""
    return sorted(_names_up(directory, incremental.index(directory).listed_in.get(dn_key(user.dn), ())))


def _names_up(directory: Directory, start: tuple[str, ...]) -> list[str]:
    """The names of the groups ``start`` (GUIDs) and every group they are nested in."""
    parents = incremental.index(directory).parents
    seen: set[str] = set()
    stack = [g for g in start if g in directory.groups]
    while stack:
        gid = stack.pop()
        if gid not in seen:
            seen.add(gid)
            stack += parents.get(gid, ())
    return [n for n in (directory.groups[g].name for g in seen) if n]


def nested_members(directory: Directory, group_guid: str) -> set[str]:
    """GUIDs of the users a member-based transitive lookup (group_lookup = "nested") returns
    this group for: those listed in it or in a group nested under it, walking down its
    ``member`` links (the snapshot's delta index), so one group costs its own subtree."""
    ix = incremental.index(directory)
    users: set[str] = set()
    seen: set[str] = set()
    todo = [group_guid]
    while todo:
        gid = todo.pop()
        if gid in seen or gid not in directory.groups:
            continue
        seen.add(gid)
        for m in directory.groups[gid].member_dns:
            k = dn_key(m)
            if k in ix.group_by_dn:
                todo.append(ix.group_by_dn[k])
            elif k in ix.user_by_dn:
                users.add(ix.user_by_dn[k])
    return users


def memberof_groups(directory: Directory) -> dict[str, list[str]]:
    """user GUID -> the group names a member-based transitive lookup finds: the effective groups
    *without* the primary group, which AD keeps out of member and memberOf."""
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


def render_xml(h: HadoopConfig, ad: AdSite, directory: Directory | None = None) -> str:
    return xml_configuration(properties(h, ad, directory), "core-site")


def xml_configuration(props: dict[str, str], what: str) -> str:
    """Hadoop's configuration XML (core-site.xml, capacity-scheduler.xml...) of ``props``."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!-- {what} properties generated by dirkit -->",
        "<configuration>",
    ]
    for k, v in props.items():
        lines += ["  <property>", f"    <name>{escape(k)}</name>", f"    <value>{escape(v)}</value>", "  </property>"]
    lines.append("</configuration>")
    return "\n".join(lines) + "\n"


def render_classification(h: HadoopConfig, ad: AdSite, directory: Directory | None = None) -> list[dict[str, Any]]:
    return [{"Classification": "core-site", "Properties": properties(h, ad, directory)}]
