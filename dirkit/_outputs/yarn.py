"""YARN queue placement: the CapacityScheduler settings for `[yarn]`, where each user lands and
why, and what to warn about.

CapacityScheduler places an application by ``yarn.scheduler.capacity.queue-mappings``: rules
``u:USER:QUEUE`` and ``g:GROUP:QUEUE`` tried in order, the first that matches decides (with
``queue-mappings-override.enable``, even over the queue the application asked for). A ``g:``
rule matches when the group is among the user's groups as the ResourceManager's group mapping
returns them: core-site's (``hadoop.security.group.mapping``), i.e. dirkit's LdapGroupsMapping
when `[hadoop]` is rendered, else EMR's default (the shell, so the node's SSSD). The legacy
rule format is read by every Hadoop 3 release (3.3+ converts it to its mapping-rule engine);
dirkit renders full queue paths and ends with ``u:%user:DEFAULT``, so that every user is placed
by a rule dirkit wrote. Checked with Hadoop's own placement code on the lab
(tests/integration/test_yarn_lab.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._config import Config, QueueMappingConfig, YarnConfig, reserved_names
from .._directory.model import Directory, User
from .._directory.names import NamePolicy
from .._reserved import Reserved
from .._sssd import view as sssd_view
from . import hadoop

P = "yarn.scheduler.capacity"


def rules(y: YarnConfig) -> list[str]:
    """The queue-mappings rules, in evaluation order, the default last."""
    return [*(_rule(m, name) for m in y.mappings for name in m.names), _default_rule(y)]


def _rule(m: QueueMappingConfig, name: str) -> str:
    return f"{m.kind[0]}:{name}:{m.queue}"  # u:NAME:QUEUE, g:NAME:QUEUE


def _default_rule(y: YarnConfig) -> str:
    return f"u:%user:{y.default_queue}"


def properties(y: YarnConfig) -> dict[str, str]:
    """capacity-scheduler properties: the hierarchy (each parent's queues, each queue's
    capacity) and the placement rules."""
    props: dict[str, str] = {}
    for parent in ["root", *y.queues]:
        children = [q.rsplit(".", 1)[1] for q in y.queues if q.rsplit(".", 1)[0] == parent]
        if children:
            props[f"{P}.{parent}.queues"] = ",".join(children)
    for q, capacity in y.queues.items():
        props[f"{P}.{q}.capacity"] = f"{capacity:g}"
    props[f"{P}.queue-mappings"] = ",".join(rules(y))
    props[f"{P}.queue-mappings-override.enable"] = "true" if y.override else "false"
    return props


def render_xml(y: YarnConfig) -> str:
    return hadoop.xml_configuration(properties(y), "capacity-scheduler")


def render_classification(y: YarnConfig) -> list[dict[str, Any]]:
    return [{"Classification": "capacity-scheduler", "Properties": properties(y)}]


@dataclass(frozen=True)
class Placement:
    """The queue YARN puts a user's applications in, the rule that decides, and why."""

    user: str
    queue: str
    rule: str  # the queue-mappings rule that matched
    mapping_index: int | None  # None: no mapping matched, the default rule
    reason: str
    groups: tuple[str, ...]  # the user's groups as the ResourceManager's group mapping returns them

    def to_json(self) -> dict[str, Any]:
        """This placement as docs/json.md documents it (`emr explain --json`'s ``queue``)."""
        return {
            "queue": self.queue,
            "rule": self.rule,
            "mapping_index": self.mapping_index,
            "reason": self.reason,
            "groups": list(self.groups),
        }


def resourcemanager_groups(cfg: Config, d: Directory) -> tuple[dict[str, list[str]], str]:
    """user GUID -> the groups the ResourceManager's group mapping returns, and what that
    mapping is: core-site's LdapGroupsMapping when dirkit renders it ([hadoop]), else EMR's
    default, the shell on the node (`id`), so SSSD's view under the [sssd] settings."""
    if cfg.hadoop is not None:
        h = cfg.hadoop
        groups = hadoop.mapping_groups(d, h.group_lookup, h.hide_disabled_users)
        return groups, f"core-site's LdapGroupsMapping, group_lookup = {h.group_lookup}"
    view = sssd_view.predict(d, cfg.sssd, cfg.directory.realm, reserved=reserved_names(cfg))
    nodes = {guid: [g.name for g in nu.groups if g.resolved] for guid, nu in view.users.items()}
    return nodes, "the nodes' SSSD through EMR's shell group mapping ([sssd] settings; no [hadoop])"


def resourcemanager_groups_of(cfg: Config, d: Directory, user: User) -> list[str]:
    """One user's groups as resourcemanager_groups has them, without computing everyone's
    under the default nested lookup (`emr explain` asks for one user)."""
    h = cfg.hadoop
    if h is not None and h.group_lookup == "nested":
        return [] if h.hide_disabled_users and not user.enabled else hadoop.nested_groups(d, user)
    return resourcemanager_groups(cfg, d)[0].get(user.guid, [])


def resourcemanager_members(cfg: Config, d: Directory, groups: Iterable[str]) -> tuple[dict[str, set[str]], str]:
    """group name -> the names of the users the ResourceManager's group mapping puts in it
    (see resourcemanager_groups), for these groups only. Under the default nested lookup each
    group's own subtree is walked; otherwise every user's groups are computed and inverted."""
    wanted = set(groups)
    h = cfg.hadoop
    if h is not None and h.group_lookup == "nested":
        out: dict[str, set[str]] = {}
        for name in wanted:
            g = d.group_by_name(name)
            found = hadoop.nested_members(d, g.guid) if g is not None else set()
            users = (d.users[guid] for guid in found)
            out[name] = {u.name for u in users if u.name and (u.enabled or not h.hide_disabled_users)}
        return out, f"core-site's LdapGroupsMapping, group_lookup = {h.group_lookup}"
    per_user, source = resourcemanager_groups(cfg, d)
    out = {name: set() for name in wanted}
    for u in d.named_users():
        for group in per_user.get(u.guid, ()):
            if group in wanted:
                out[group].add(u.name or "")
    return out, source


def place(y: YarnConfig, user: str, groups: Sequence[str]) -> Placement:
    """Where CapacityScheduler puts ``user`` (a short name) with these ResourceManager groups."""
    have = set(groups)
    for i, m in enumerate(y.mappings):
        for name in m.names:
            if (m.kind == "user" and name == user) or (m.kind == "group" and name in have):
                why = f"user {user!r} is listed" if m.kind == "user" else f"user is in group {name!r}"
                return Placement(user, m.queue, _rule(m, name), i, f"yarn.mappings[{i}]: {why}", tuple(groups))
    reason = "no mapping matched: yarn.default_queue"
    return Placement(user, y.default_queue, _default_rule(y), None, reason, tuple(groups))


def warnings(
    y: YarnConfig,
    d: Directory,
    policy: NamePolicy,
    reserved: Reserved,
    sees: Mapping[str, set[str]],
    source: str,
) -> list[str]:
    """Mappings that never match, match for fewer users than AD's view says, or never decide.
    ``sees``: each mapped group's users as the ResourceManager's group mapping has them
    (resourcemanager_members; ``source`` names that mapping, for the messages)."""
    out: list[str] = []
    in_ad = _enabled_members(d, {n for m in y.mappings if m.kind == "group" for n in m.names})
    decided: set[str] = set()  # users an earlier rule places
    for i, m in enumerate(y.mappings):
        where = f"yarn.mappings[{i}]"
        matched: set[str] = set()
        for name in m.names:
            out += _name_warnings(where, m, name, d, policy, reserved)
            if m.kind == "user":
                matched |= {name} if d.user_by_name(name) is not None else set()
                continue
            matched |= sees.get(name, set())
            unseen = sorted(n for n in in_ad.get(name, set()) - sees.get(name, set()) if n)
            if unseen:
                out.append(
                    f"{where}: {len(unseen)} member(s) of {name!r} in AD are not in it for YARN ({source}), e.g. "
                    f"{', '.join(unseen[:3])}: they are placed by a later rule, not in {m.queue} (a primary-group-only "
                    "membership is never returned by LdapGroupsMapping; see `dirkit hadoop core-site --from-state`)"
                )
        if matched and matched <= decided:
            out.append(f"{where}: never decides: every user it matches is placed by an earlier mapping")
        decided |= matched
    return out


def _enabled_members(d: Directory, names: set[str]) -> dict[str, set[str]]:
    """group name -> its enabled members' names in AD's view (effective: nesting and primary
    group), for these groups only: one look at each user's effective map, which users with the
    same groups share."""
    guids = {g.guid: n for n in names if (g := d.group_by_name(n)) is not None}
    out: dict[str, set[str]] = {n: set() for n in names}
    hits: dict[int, list[str]] = {}  # id of an effective map -> the mapped groups in it
    for u in d.users.values():
        if not (u.enabled and u.name):
            continue
        mine = d.effective.get(u.guid, {})
        found = hits.get(id(mine))
        if found is None:
            found = hits[id(mine)] = [guids[g] for g in guids.keys() & mine.keys()]
        for n in found:
            out[n].add(u.name)
    return out


def _name_warnings(
    where: str, m: QueueMappingConfig, name: str, d: Directory, policy: NamePolicy, reserved: Reserved
) -> list[str]:
    exists = d.user_by_name if m.kind == "user" else d.group_by_name
    if reserved.reason(name) is not None:
        return [
            f"{where}: {m.kind} {name!r} is a reserved name of the cluster: no AD {m.kind} reaches YARN under it, "
            "so this rule only matches the cluster's own identity"
        ]
    norm = policy.normalise(name).name
    if norm is not None and norm != name and exists(norm) is not None:
        return [
            f"{where}: {m.kind} {name!r} is {norm!r} on the cluster (names policy): write {norm!r} or it never matches"
        ]
    if exists(name) is None:
        return [f"{where}: {m.kind} {name!r} is not in the AD snapshot: this rule never matches"]
    return []
