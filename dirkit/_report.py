"""The access report (`dirkit report`): who can reach what, computed once for everyone.

For each user: effective groups with the chain behind each, the names the cluster nodes show
(SSSD) and the groups they cannot resolve, the HDFS home the policy gives them, and per S3
prefix the IAM role EMRFS would pick and the mapping that decides it. Per role: who gets it,
where and through which mapping. Per group: direct and effective members. The roles come from
the same first-match `decide` as `dirkit emr explain`; the cluster's view from the same
prediction as `dirkit snapshot --user`.

Every report carries its evidence: the snapshot's content digest, the DC and USN it was read
from, the run that applied it, dirkit's version and when the report was made. ``--at`` reports
a past snapshot (the state keeps them, _state.py); ``--since`` adds who gained and lost each
role and group since an earlier one, and who was revoked (disabled or gone) in that window.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from . import __version__
from ._budget import Budget
from ._config import Config, ad_site
from ._directory.model import Directory, Issue
from ._homes.policy import home_path
from ._outputs import hadoop, yarn
from ._outputs.auth_to_local import short_name
from ._outputs.role_mappings import decide
from ._outputs.yarn import Placement
from ._plan import content_digest
from ._sssd.view import ClusterView
from ._state import HomeRecord, Revocation, SnapshotRow
from .errors import AuthToLocalError, UsageError

FORMAT = "dirkit.report/1"
CSV_FIELDS = ("user", "enabled", "prefix", "role", "mapping_index", "reason", "groups", "cluster_unresolved", "queue")


@dataclass(frozen=True)
class Access:
    """The role EMRFS picks for one user on one prefix, and the mapping that decides it."""

    prefix: str
    role: str
    mapping_index: int | None  # None: no mapping matched, the EC2 instance profile's role
    reason: str


@dataclass(frozen=True)
class UserAccess:
    """One user's line of the report."""

    name: str
    sam_account_name: str
    enabled: bool
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group, the chain from the user's direct group)
    cluster_name: str
    cluster_unresolved: tuple[str, ...]  # groups the nodes show as SIDs (AD names)
    home: str | None
    access: tuple[Access, ...]
    hadoop_name: str = ""  # what Hadoop's auth_to_local makes of sAMAccountName@REALM ("" : nothing)
    hue_name: str = ""  # the login name Hue syncs ("": no [hue])
    home_state: HomeRecord | None = None  # as the last run that listed the homes left it
    revocation: Revocation | None = None  # the last `verify --revoked` proof for this user
    queue: Placement | None = None  # the YARN queue ([yarn]) and the rule that decides it


@dataclass(frozen=True)
class Revoked:
    """A user enabled at the start of a window and disabled or gone at its end."""

    guid: str
    name: str
    sam_account_name: str
    why: str  # "disabled" | "removed"
    proof: Revocation | None = None  # the last `verify --revoked` proof for this user


@dataclass(frozen=True)
class Changes:
    """What changed between two reports (``--since``): per role the (user, prefix) grants gained
    and lost, per group the effective members gained and lost, and the users revoked. Both are
    computed with today's role mappings: what changed in AD, not in the config."""

    since: str
    since_evidence: Mapping[str, Any]
    roles: Mapping[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]]  # role -> (gained, lost)
    groups: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]  # group -> (gained, lost)
    revoked: tuple[Revoked, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``changes`` object of docs/json.md's ``dirkit.report/1``."""
        return {
            "since": self.since,
            "since_evidence": dict(self.since_evidence),
            "roles": [
                {
                    "role": r,
                    "gained": [{"user": u, "prefix": p} for u, p in gained],
                    "lost": [{"user": u, "prefix": p} for u, p in lost],
                }
                for r, (gained, lost) in sorted(self.roles.items())
            ],
            "groups": [
                {"group": g, "gained": list(gained), "lost": list(lost)}
                for g, (gained, lost) in sorted(self.groups.items())
            ],
            "revoked": [
                {
                    "guid": r.guid,
                    "name": r.name,
                    "sam_account_name": r.sam_account_name,
                    "why": r.why,
                    "proof": r.proof.to_json() if r.proof else None,
                }
                for r in self.revoked
            ],
        }


@dataclass(frozen=True)
class AccessReport:
    """The whole report; ``to_json`` is docs/json.md's ``dirkit.report/1``, ``to_csv`` one row per user and prefix."""

    evidence: Mapping[str, Any]
    prefixes: tuple[str, ...]
    users: tuple[UserAccess, ...]
    roles: Mapping[str, tuple[tuple[str, str, int | None, str], ...]]  # role -> (user, prefix, mapping index, reason)
    groups: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]  # group -> (direct, effective members)
    nesting: tuple[tuple[str, str], ...] = ()  # (group, the group it is a direct member of), by name
    changes: Changes | None = None
    # AD objects refused a name because the cluster reserves it (who tried to become hdfs...),
    # and groups named like a superuser group, with their members: the snapshot's issues.
    reserved: tuple[Issue, ...] = ()
    budget: Budget | None = None  # how long the cluster may still honour a revoked user

    def _sections(self) -> dict[str, Any]:
        """The top-level fields; the long lists as generators (json_chunks writes them a user at a time)."""
        return {
            "format": FORMAT,
            "evidence": dict(self.evidence),
            "prefixes": list(self.prefixes),
            "users": (_user_json(u) for u in self.users),
            "roles": (
                {"role": r, "grants": [{"user": u, "prefix": p, "mapping_index": i} for u, p, i, _ in grants]}
                for r, grants in sorted(self.roles.items())
            ),
            "groups": (
                {"group": g, "direct_members": list(direct), "effective_members": list(eff)}
                for g, (direct, eff) in sorted(self.groups.items())
            ),
            "nesting": [{"group": g, "member_of": parent} for g, parent in self.nesting],
            "changes": self.changes.to_json() if self.changes else None,
            "reserved": [i.to_json() for i in self.reserved],
            "revocation_budget": self.budget.to_json() if self.budget else None,
        }

    def to_json(self) -> dict[str, Any]:
        """The report as docs/json.md documents it."""
        return {k: list(v) if isinstance(v, Iterator) else v for k, v in self._sections().items()}

    def json_chunks(self) -> Iterator[str]:
        """``json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\\n"``, a
        user (role, group) at a time: at 10k users x 20 prefixes the whole document as Python
        objects peaked at ~700 MiB, written this way it never exists at once."""

        def dumps(value: Any, indent: int) -> str:
            text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
            return text.replace("\n", "\n" + " " * indent)

        yield "{"
        for n, (key, value) in enumerate(sorted(self._sections().items())):
            yield f"{',' if n else ''}\n  {json.dumps(key)}: "
            if not isinstance(value, Iterator):
                yield dumps(value, 2)
                continue
            first = True
            for item in value:
                yield ("[\n    " if first else ",\n    ") + dumps(item, 4)
                first = False
            yield "[]" if first else "\n  ]"
        yield "\n}\n"

    def to_html(self) -> str:
        """One self-contained HTML page (_report_html.py): sortable, filterable tables, the nesting graph."""
        from ._report_html import render

        return render(self)

    def to_csv(self) -> str:
        """One row per user and prefix, for a spreadsheet (the evidence in the first lines, as comments)."""
        out = io.StringIO()
        for k, v in sorted(self.evidence.items()):
            out.write(f"# {k}: {'' if v is None else v}\n")
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_FIELDS)
        for u in self.users:
            for a in u.access:
                groups = ";".join(g for g, _ in u.groups)
                index = "" if a.mapping_index is None else a.mapping_index
                queue = u.queue.queue if u.queue else ""
                row = (
                    u.name,
                    u.enabled,
                    a.prefix,
                    a.role,
                    index,
                    a.reason,
                    groups,
                    ";".join(u.cluster_unresolved),
                    queue,
                )
                w.writerow([inert(c) if isinstance(c, str) else c for c in row])
        return out.getvalue()


# A spreadsheet evaluates a cell that starts with one of these (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """A CSV cell a spreadsheet shows as the text it is: one that would start a formula gets a
    leading apostrophe (OWASP's rule). AD names may start with '=' or '+'; this keeps
    ``=image(...)`` in a group name from running when an auditor opens the report."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def prefixes(cfg: Config) -> tuple[str, ...]:
    """``[report] s3_paths``, else every prefix a role mapping names and each bucket's root."""
    if cfg.report is not None and cfg.report.s3_paths:
        return tuple(cfg.report.s3_paths)
    emr = cfg.emr
    found = {p for m in (emr.role_mappings if emr else []) for p in (m.prefixes or [])}
    found |= {f"s3://{b}/" for b in (emr.buckets if emr else [])}
    return tuple(sorted(found))


def build(
    cfg: Config,
    d: Directory,
    view: ClusterView,
    snapshot: SnapshotRow | None,
    *,
    homes: Mapping[str, HomeRecord] | None = None,
    revocations: Mapping[str, Revocation] | None = None,
    as_of: float | None = None,
    now: float | None = None,
    budget: Budget | None = None,
) -> AccessReport:
    """The report of snapshot ``d`` (``snapshot``: its row in the state; None for a fresh read),
    with what the state knows of each home and each user's last revocation proof (by GUID)."""
    homes = homes or {}
    revocations = revocations or {}
    emr = cfg.emr
    paths = prefixes(cfg)
    roles: dict[str, list[tuple[str, str, int | None, str]]] = {}
    listed = {n for m in (emr.role_mappings if emr else []) for n in (m.users or [])}
    rules, lower = hadoop.auth_to_local(ad_site(cfg)), cfg.names.case == "lower"  # Hue: force_username_lowercase
    decided: dict[int, tuple[Access, ...]] = {}
    rm_groups = yarn.resourcemanager_groups(cfg, d)[0] if cfg.yarn is not None else {}
    users = []
    for u in d.named_users():
        name = u.name or ""
        group_names = d.group_names_of(u)
        chains = tuple(
            (d.groups[gid].name or "", tuple(d.groups[g].sam for g in d.chain(u.guid, gid)))
            for gid in sorted(d.effective.get(u.guid, {}), key=lambda g: d.groups[g].name or "")
            if d.groups[gid].name
        )
        # Users with the same groups share one membership map (build.py): unless a user mapping
        # names them, EMRFS decides the same for all of them, so each decision is made once.
        key = None if name in listed else id(d.effective.get(u.guid))
        access = decided.get(key) if key is not None else None
        if access is None:
            access = tuple(
                Access(path, dec.role, dec.mapping_index, dec.reason)
                for path in paths
                if (dec := decide(emr.role_mappings, emr.ec2_role_arn, name, group_names, path) if emr else None)
            )
            if key is not None:
                decided[key] = access
        for a in access:
            roles.setdefault(a.role, []).append((name, a.prefix, a.mapping_index, a.reason))
        node = view.users.get(u.guid)
        unresolved = (
            tuple(sorted(d.groups[g.guid].name or d.groups[g.guid].sam for g in node.unresolved)) if node else ()
        )
        home = home_path(cfg.hdfs.prefix, name) if cfg.hdfs is not None else None
        users.append(
            UserAccess(
                name=name,
                sam_account_name=u.sam,
                enabled=u.enabled,
                groups=chains,
                cluster_name=node.name if node else name,
                cluster_unresolved=unresolved,
                home=home,
                access=access,
                hadoop_name=_hadoop_name(rules, u.sam, cfg),
                hue_name=(u.sam.lower() if lower else u.sam) if cfg.hue is not None else "",
                home_state=homes.get(name) if home else None,
                revocation=revocations.get(u.guid),
                queue=yarn.place(cfg.yarn, name, rm_groups.get(u.guid, [])) if cfg.yarn is not None else None,
            )
        )
    direct: dict[str, list[str]] = {g.guid: [] for g in d.named_groups()}
    effective: dict[str, list[str]] = {g.guid: [] for g in d.named_groups()}
    for u in d.named_users():  # named_users() is sorted: so are the member lists
        for gid in d.direct.get(u.guid, ()):
            direct.get(gid, []).append(u.name or "")
        for gid in d.effective.get(u.guid, {}):
            effective.get(gid, []).append(u.name or "")
    groups = {d.groups[g].name or "": (tuple(direct[g]), tuple(effective[g])) for g in direct}
    info = d.read
    evidence = {
        "snapshot_digest": content_digest(d),
        "dc": info.dc or None,
        "usn": info.highest_usn,
        "run_id": snapshot.run_id if snapshot else None,
        "snapshot_taken": utc(snapshot.taken) if snapshot else None,
        "as_of": utc(as_of) if as_of is not None else None,
        "dirkit_version": __version__,
        "generated": utc(now if now is not None else time.time()),
    }
    by_dn = {g.dn.lower(): g for g in d.groups.values()}
    nesting = sorted(
        {
            (child.name, parent.name)
            for parent in d.groups.values()
            for m in parent.member_dns
            if (child := by_dn.get(m.lower())) is not None and child.name and parent.name
        }
    )
    reserved = tuple(i for i in d.issues if i.kind in ("reserved_name", "superuser_group"))
    return AccessReport(
        evidence,
        paths,
        tuple(users),
        {r: tuple(v) for r, v in roles.items()},
        groups,
        tuple(nesting),
        reserved=reserved,
        budget=budget,
    )


def _hadoop_name(rules: list[str], sam: str, cfg: Config) -> str:
    """The name Hadoop's KerberosName gives ``sam@REALM`` under the rendered core-site ("" if none)."""
    mechanism = cfg.hadoop.auth_to_local_mechanism if cfg.hadoop else "hadoop"
    try:
        return short_name(rules, f"{sam}@{cfg.directory.realm}", cfg.directory.realm, mechanism)
    except AuthToLocalError:
        return ""


def _user_json(u: UserAccess) -> dict[str, Any]:
    return {
        "name": u.name,
        "sam_account_name": u.sam_account_name,
        "enabled": u.enabled,
        "groups": [{"group": g, "via": list(via)} for g, via in u.groups],
        "cluster": {"name": u.cluster_name, "unresolved_groups": list(u.cluster_unresolved)},
        "hadoop_name": u.hadoop_name or None,
        "hue_name": u.hue_name or None,
        "home": u.home,
        "home_state": _home_json(u.home_state),
        "revocation": u.revocation.to_json() if u.revocation else None,
        "queue": u.queue.to_json() if u.queue else None,
        "access": [
            {"prefix": a.prefix, "role": a.role, "mapping_index": a.mapping_index, "reason": a.reason} for a in u.access
        ],
    }


def changes(
    old: AccessReport,
    new: AccessReport,
    old_d: Directory,
    new_d: Directory,
    since: float,
    proofs: Mapping[str, Revocation] | None = None,
) -> Changes:
    """Who gained and lost each role (per prefix) and group, and who was revoked (with the last
    revocation proof of each, from ``proofs`` by objectGUID), from ``old`` to ``new``."""
    proofs = proofs or {}
    roles: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {}
    for role in sorted(set(old.roles) | set(new.roles)):
        before = {(g[0], g[1]) for g in old.roles.get(role, ())}
        after = {(g[0], g[1]) for g in new.roles.get(role, ())}
        if before != after:
            roles[role] = (tuple(sorted(after - before)), tuple(sorted(before - after)))
    groups: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for g in sorted(set(old.groups) | set(new.groups)):
        before_m = set(old.groups.get(g, ((), ()))[1])
        after_m = set(new.groups.get(g, ((), ()))[1])
        if before_m != after_m:
            groups[g] = (tuple(sorted(after_m - before_m)), tuple(sorted(before_m - after_m)))
    gone = tuple(replace(r, proof=proofs.get(r.guid)) for r in revoked(old_d, new_d))
    return Changes(utc(since), old.evidence, roles, groups, gone)


def revoked(old: Directory, new: Directory) -> tuple[Revoked, ...]:
    """Users enabled in ``old`` and disabled or gone in ``new`` (by objectGUID: a rename is not a removal)."""
    out = []
    for u in old.named_users():
        now = new.users.get(u.guid)
        if u.enabled and (now is None or not now.enabled):
            out.append(Revoked(u.guid, u.name or "", u.sam, "removed" if now is None else "disabled"))
    return tuple(out)


def parse_time(text: str, option: str) -> float:
    """``YYYY-MM-DD`` (that day's start, UTC) or an ISO 8601 time (UTC unless it has an offset)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a date: give YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def utc(t: float) -> str:
    """A time as the report writes it: UTC, ISO 8601, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _home_json(h: HomeRecord | None) -> dict[str, Any] | None:
    if h is None or h.checked is None:
        return None
    return {"owner": h.owner, "group": h.group, "mode": h.mode, "checked": utc(h.checked)}
