"""The cluster's view: what a node's SSSD (AD provider, ID mapping) will say of each user.

Seen on the lab against a real SSSD (lab-notes.md, "SSSD (EMR's group source)"): a user's
groups are AD's effective groups, nesting and primary group included (SSSD reads tokenGroups);
names are sAMAccountNames (lower case unless ``case_sensitive``, ``name@domain`` with
``use_fully_qualified_names``); ids come from the ID mapping (idmap.py). One difference: a group
with a member SSSD cannot read as a user or a group (a contact, a foreign security principal)
does not resolve unless ``ldap_ignore_unreadable_references`` is set. Its members get it under
its SID as a name, and `getent group` does not find it, so nothing that names it (an EMRFS role
mapping, an HDFS or Hive permission) matches on the nodes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .._config import SssdConfig
from .._directory.build import dn_key
from .._directory.model import Directory
from .._reserved import Reserved
from .idmap import IdRange, collisions, unix_id

FIX = "set ldap_ignore_unreadable_references = true on the nodes (`dirkit sssd config`), or remove"


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """A group as a node shows it in `id USER`: the name (the SID when it does not resolve, the
    gid when filter_groups hides it) and gid."""

    guid: str
    name: str
    gid: int
    resolved: bool


@dataclass(frozen=True, slots=True)
class NodeUser:
    """A user as a node sees them: name, uid, primary gid and groups, in `id`'s terms."""

    guid: str
    name: str
    uid: int
    gid: int | None  # the primary group's (None: no primaryGroupID)
    groups: tuple[NodeGroup, ...]  # every effective group in the snapshot, primary included

    @property
    def unresolved(self) -> tuple[NodeGroup, ...]:
        """The groups the node shows under their SID, not their name."""
        return tuple(g for g in self.groups if not g.resolved)

    def to_json(self) -> dict[str, object]:
        """This user's cluster view as docs/json.md documents it (``snapshot --user --json``'s ``cluster``)."""
        return {
            "name": self.name,
            "uid": self.uid,
            "gid": self.gid,
            "groups": [{"name": g.name, "gid": g.gid, "resolved": g.resolved} for g in self.groups],
        }


@dataclass(frozen=True)
class ClusterView:
    """Every user and group as the nodes will see them, and why any group differs from AD."""

    users: Mapping[str, NodeUser]  # by GUID
    unreadable: Mapping[str, tuple[str, ...]]  # group GUID -> the member DNs SSSD cannot read
    case_sensitive: bool = False  # the nodes' setting: names (and SIDs as names) keep their case
    id_notes: tuple[str, ...] = ()  # ID mapping: domains on one slice, RIDs beyond the range size
    # AD objects with a reserved name that the nodes' filter_users/filter_groups let through:
    # (DN, the name a node gives it).
    unfiltered: tuple[tuple[str, str], ...] = ()

    def warnings(self, d: Directory) -> list[str]:
        """Where the nodes' view differs from AD's: each group that will not resolve (with the
        fix), what the ID mapping cannot keep apart or stable, and each AD object a node would
        take for one of the cluster's reserved identities."""
        taken = [
            f"{dn}: the nodes' SSSD (filter_users/filter_groups in [sssd]) fetches it as {name!r}, a reserved "
            "name of the cluster: set the filters `dirkit sssd config` renders"
            for dn, name in self.unfiltered
        ]
        return [*self.group_warnings(d), *self.id_notes, *taken]

    def group_warnings(self, d: Directory) -> list[str]:
        """One line per group that will not resolve on the nodes, with the fix."""
        out = []
        for guid, members in sorted(self.unreadable.items(), key=lambda kv: d.groups[kv[0]].sam):
            g = d.groups[guid]
            who = sum(1 for u in self.users.values() if any(n.guid == guid and not n.resolved for n in u.groups))
            out.append(
                f"group {g.sam} will not resolve on the cluster nodes with their SSSD settings ([sssd]): "
                f"{len(members)} member(s) are neither users nor groups ({', '.join(members[:3])}); its {who} "
                f"member(s) get it as {sid_name(g.sid, self.case_sensitive)}, and a role mapping or permission naming it "
                f"never matches. Fix: {FIX} the contact/foreign member from {g.sam}"
            )
        return out


_ID = re.compile(r"uid=(\d+)\((.*?)\) gid=(\d+)\((.*?)\)(?: groups=(.*))?")


def parse_id(text: str) -> tuple[int, int, dict[int, str]] | None:
    """``id USER``'s answer as (uid, gid, {gid: group name}); None if it is not one."""
    m = _ID.fullmatch(text.strip())
    if m is None:
        return None
    # A group with no name (filtered by filter_groups) is shown as its bare gid.
    found = re.findall(r"(\d+)(?:\(([^)]*)\))?", m.group(5) or "")
    groups = {int(g): n or g for g, n in found}
    return int(m.group(1)), int(m.group(3)), groups


def differences(nu: NodeUser, answer: tuple[int, int, dict[int, str]]) -> list[str]:
    """How a node's ``id`` answer differs from the prediction (empty: it is the prediction)."""
    uid, gid, groups = answer
    out = [f"uid {uid}, predicted {nu.uid}"] if uid != nu.uid else []
    out += [f"gid {gid}, predicted {nu.gid}"] if gid != nu.gid else []
    want = {g.gid: g.name for g in nu.groups}
    out += [f"group {n} ({g}) not predicted" for g, n in sorted(groups.items()) if want.get(g) != n]
    out += [f"predicted group {n} ({g}) missing" for g, n in sorted(want.items()) if groups.get(g) != n]
    return out


def node_name(sam: str, s: SssdConfig, domain: str) -> str:
    """The name SSSD gives an object of this sAMAccountName."""
    name = sam if s.case_sensitive else sam.lower()
    return f"{name}@{domain}" if s.use_fully_qualified_names else name


def sid_name(sid: str, case_sensitive: bool) -> str:
    """What a node shows for a group it cannot resolve: its SID (lower case unless case-sensitive)."""
    return sid if case_sensitive else sid.lower()


def unreadable_members(d: Directory) -> dict[str, tuple[str, ...]]:
    """Groups with a member that is neither a user nor a group: a foreign security principal
    (by its DN) or an object in the user scope that is not a user (a contact). A member outside
    the search bases may be a user SSSD reads (its search base is the whole domain): not counted."""
    known = {dn_key(u.dn) for u in d.users.values()} | {dn_key(g.dn) for g in d.groups.values()}
    not_readable = {
        dn_key(i.dn) for i in d.issues if i.kind in ("foreign_member", "non_user_member")
    }  # build.py's verdicts on unresolved members
    out = {}
    for g in d.groups.values():
        bad = tuple(m for m in g.member_dns if dn_key(m) not in known and dn_key(m) in not_readable)
        if bad:
            out[g.guid] = bad
    return out


def predict(
    d: Directory,
    settings: SssdConfig | None,
    realm: str,
    only: Collection[str] | None = None,
    reserved: Reserved | None = None,
) -> ClusterView:
    """What the nodes' SSSD will say of every user in the snapshot, or of the users whose GUIDs
    are in ``only`` (``settings`` None: SSSD's own, as EMR leaves them). A user or group the
    settings' filter_users/filter_groups name is not fetched, nor a disabled user when they hide
    them: absent from the view; one with a
    ``reserved`` name that they do not filter is in ``unfiltered``."""
    s = settings or SssdConfig()
    domain = s.domain or realm.lower()
    r = IdRange(s.idmap_range_min, s.idmap_range_max, s.idmap_range_size)
    unreadable = {} if s.ignore_unreadable_references else unreadable_members(d)
    users_out = {_filter_key(n, s) for n in s.filter_users}
    groups_out = {_filter_key(n, s) for n in s.filter_groups}
    users = {}
    for u in d.users.values() if only is None else (d.users[g] for g in only if g in d.users):
        if _filter_key(u.sam, s) in users_out or (s.hide_disabled_users and not u.enabled):
            continue
        groups = []
        for gid in sorted(d.effective.get(u.guid, {}), key=lambda g: d.groups[g].sam.lower()):
            g = d.groups[gid]
            if _filter_key(g.sam, s) in groups_out:
                # Seen on the lab: a filtered group keeps its gid in `id USER`, with no name
                # (`id -Gn` fails on it; Hadoop's shell group mapping then names it by number).
                groups.append(NodeGroup(gid, str(unix_id(g.sid, r)), unix_id(g.sid, r), False))
                continue
            ok = gid not in unreadable
            groups.append(
                NodeGroup(
                    gid, node_name(g.sam, s, domain) if ok else sid_name(g.sid, s.case_sensitive), unix_id(g.sid, r), ok
                )
            )
        primary = unix_id(u.primary_group_sid, r) if u.primary_group_sid else None
        users[u.guid] = NodeUser(u.guid, node_name(u.sam, s, domain), unix_id(u.sid, r), primary, tuple(groups))
    unfiltered: list[tuple[str, str]] = []
    if reserved is not None:
        for objs, out in ((d.users.values(), users_out), (d.groups.values(), groups_out)):
            unfiltered += [
                (o.dn, node_name(o.sam, s, domain))
                for o in objs
                if reserved.reason(o.sam) is not None and _filter_key(o.sam, s) not in out
            ]
    return ClusterView(users, unreadable, s.case_sensitive, tuple(_id_notes(d, r)), tuple(sorted(unfiltered)))


def _filter_key(name: str, s: SssdConfig) -> str:
    """How SSSD compares a name with filter_users/filter_groups: case-blind unless case_sensitive."""
    return name if s.case_sensitive else name.lower()


def _id_notes(d: Directory, r: IdRange) -> list[str]:
    sids = [u.sid for u in d.users.values()] + [g.sid for g in d.groups.values()]
    ours = sorted({sid.rpartition("-")[0] for sid in sids})
    # Members from trusted domains (foreign security principals are named by their SID).
    foreign = sorted(
        {
            m.split(",", 1)[0].removeprefix("CN=").rpartition("-")[0]
            for g in d.groups.values()
            for m in g.member_dns
            if ",cn=foreignsecurityprincipals," in dn_key(m)
        }
        - set(ours)
    )
    out = [
        f"SSSD ID mapping: domains {a} and {b} hash to the same slice of [{r.min}, {r.max}): "
        "the one a node learns second moves to the next free slice, so its ids differ between nodes "
        "that learn them in another order; set ldap_idmap_range_* (or ldap_idmap_default_domain_sid) to keep them apart"
        for a, b in collisions([*ours, *foreign], r)
    ]
    beyond = sum(1 for sid in sids if int(sid.rpartition("-")[2]) >= r.size)
    if beyond:
        out.append(
            f"SSSD ID mapping: {beyond} object(s) have a RID at or beyond ldap_idmap_range_size ({r.size}): "
            "their ids come from secondary slices (stable, but outside the domain's first range)"
        )
    return out
