"""The stored form of a snapshot: compact, streamed both ways, internal (the public JSON is
``Directory.to_json``).

Format 3 is zlib-compressed JSON lines. The first line is a header (format, counts, stats,
issues); then batches of rows, ``["u", rows]`` users, ``["g", rows]`` groups, ``["m", rows]``
membership maps. Objects refer to each other by integer position, not by string: a group's
member is the index of a user (``i >= 0``) or of a group (``-1 - j``), or a DN string for
anything else; a user names the membership map they share with every user of the same groups;
a map is a flat list of ``group, via (-1: direct), primary, depth`` quadruples.

Nothing is built whole: writing encodes a batch at a time into the compressor, reading
decompresses a line at a time, so the only copy of a 1M-user snapshot in memory is the model
itself. Loading restores the sharing ``build`` made (one string per DN, one map per set of
groups, one ``Membership`` per distinct value): a loaded snapshot costs what a read one does.
Formats 1 and 2 (one JSON document) are still read.

A patch ("p1") is what a delta changed against the snapshot it was applied to: the users and
groups it touched (incremental.Touched: outside them every object, name and membership map is
the base's own), whole or gone by GUID, with the new snapshot's issues and stats. Written in
proportion to the change; read by overlaying it on its base (decode_patch).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from .model import Directory, Group, Issue, Membership, ReadInfo, User, copy_of

FORMAT = 3
_BATCH = 2000  # rows per line: large enough for json's C encoder, small enough to stay cheap


def encode(d: Directory) -> bytes:
    """The compressed stored form of ``d``."""
    z = zlib.compressobj(1)
    return b"".join(z.compress(line) for line in _lines(d)) + z.flush()


def _lines(d: Directory) -> Iterator[bytes]:
    users, groups = list(d.users.values()), list(d.groups.values())
    user_at = {u.dn: i for i, u in enumerate(users)}
    group_at = {g.guid: j for j, g in enumerate(groups)}
    group_dn_at = {g.dn: -1 - j for j, g in enumerate(groups)}
    maps: dict[int, int] = {}  # id(membership map) -> its position (users share maps)
    shared: list[Mapping[str, Membership]] = []
    for u in users:
        ms = d.effective.get(u.guid, _NONE)
        if id(ms) not in maps:
            maps[id(ms)] = len(shared)
            shared.append(ms)

    def user(u: User) -> list[Any]:
        return [*_user_row(u), maps[id(d.effective.get(u.guid, _NONE))]]

    def group(g: Group) -> list[Any]:
        members = [user_at.get(m, group_dn_at.get(m, m)) for m in g.member_dns]
        return [g.guid, g.dn, g.sam, g.name, g.sid, g.usn, members]

    def membership_map(ms: Mapping[str, Membership]) -> list[int]:
        flat: list[int] = []
        for gid, m in ms.items():
            flat += [group_at[gid], -1 if m.via is None else group_at[m.via], int(m.primary), m.depth]
        return flat

    header = {"v": FORMAT, "users": len(users), "groups": len(groups), "maps": len(shared)}
    yield _line({**header, "stats": d.read.to_stats(), "issues": [[i.kind, i.dn, i.detail] for i in d.issues]})
    yield from _batches("u", users, user)
    yield from _batches("g", groups, group)
    yield from _batches("m", shared, membership_map)


T = TypeVar("T")
_NONE: Mapping[str, Membership] = MappingProxyType({})


def _line(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def _batches(kind: str, items: Sequence[T], row: Callable[[T], list[Any]]) -> Iterator[bytes]:
    for start in range(0, len(items), _BATCH):
        yield _line([kind, [row(x) for x in items[start : start + _BATCH]]])


PATCH = "p1"


def _user_row(u: User) -> list[Any]:
    return [u.guid, u.dn, u.sam, u.name, u.sid, u.upn, u.display_name, u.enabled, u.primary_group_sid, u.usn]


def encode_patch(d: Directory, users: Iterable[str], groups: Iterable[str]) -> bytes:
    """``d`` as a patch on the snapshot it was made from, ``users`` and ``groups`` (GUIDs) being
    what that delta touched."""
    urows, ugone, grows, ggone = [], [], [], []
    for guid in sorted(users):
        u = d.users.get(guid)
        if u is None:
            ugone.append(guid)
            continue
        ms = d.effective.get(guid, _NONE)
        urows.append([*_user_row(u), [[m.group_guid, m.via, int(m.primary), m.depth] for m in ms.values()]])
    for guid in sorted(groups):
        g = d.groups.get(guid)
        if g is None:
            ggone.append(guid)
            continue
        grows.append([g.guid, g.dn, g.sam, g.name, g.sid, g.usn, list(g.member_dns)])
    header = {"v": PATCH, "users": len(d.users), "groups": len(d.groups), "stats": d.read.to_stats()}
    body = {"issues": [[i.kind, i.dn, i.detail] for i in d.issues], "u": urows, "ug": ugone, "g": grows, "gg": ggone}
    z = zlib.compressobj(1)
    return z.compress(_line(header)) + z.compress(_line(body)) + z.flush()


def decode_patch(base: Directory, blob: bytes) -> Directory:
    """The snapshot the patch ``blob`` makes of ``base``. Raises as decode does."""
    lines = _decompressed_lines(blob)
    header = json.loads(next(lines))
    if header.get("v") != PATCH:
        raise ValueError(f"not a snapshot patch: {header.get('v')!r}")
    body = json.loads(next(lines))
    users, groups = copy_of(base.users), copy_of(base.groups)
    direct, effective = copy_of(base.direct), copy_of(base.effective)
    for guid in body["ug"]:
        users.pop(guid, None)
        direct.pop(guid, None)
        effective.pop(guid, None)
    for guid in body["gg"]:
        groups.pop(guid, None)
    for r in body["g"]:
        groups[r[0]] = Group(guid=r[0], dn=r[1], sam=r[2], name=r[3], sid=r[4], usn=r[5], member_dns=tuple(r[6]))
    for r in body["u"]:
        users[r[0]] = User(*r[:10])
        ms = {g: Membership(g, via, bool(primary), depth) for g, via, primary, depth in r[10]}
        effective[r[0]] = MappingProxyType(ms)
        mine = frozenset(g for g, m in ms.items() if m.via is None)
        if mine:
            direct[r[0]] = mine
        else:
            direct.pop(r[0], None)
    if (len(users), len(groups)) != (header["users"], header["groups"]):
        raise ValueError("the snapshot patch does not fit its base")
    return Directory(
        users=users,
        groups=groups,
        direct=direct,
        effective=MappingProxyType(effective),  # every map in it is frozen already
        issues=tuple(Issue(*i) for i in body["issues"]),
        read=ReadInfo.from_stats(header["stats"]),
    )


def _decompressed_lines(blob: bytes) -> Iterator[bytes]:
    z = zlib.decompressobj()
    rest = b""
    for start in range(0, len(blob), 1 << 20):
        rest += z.decompress(blob[start : start + (1 << 20)])
        *whole, rest = rest.split(b"\n")
        yield from whole
    rest += z.flush()
    if rest:
        yield rest


def decode(blob: bytes) -> Directory:
    """The snapshot stored as ``blob`` (any format this dirkit wrote). Raises ValueError, IndexError,
    KeyError, TypeError or zlib.error on a damaged one."""
    lines = _decompressed_lines(blob)
    header = json.loads(next(lines))
    if header.get("v") in (1, 2):  # one document, on one line
        return _from_document(header)
    if header.get("v") != FORMAT:
        raise ValueError(f"unknown snapshot format {header.get('v')!r}")
    return _from_lines(header, lines)


def _from_lines(header: dict[str, Any], lines: Iterable[bytes]) -> Directory:
    users: list[User] = []
    user_maps: list[int] = []
    group_rows: list[list[Any]] = []
    map_rows: list[list[int]] = []
    for raw in lines:
        kind, rows = json.loads(raw)
        if kind == "u":
            for r in rows:
                name = r[2] if r[3] == r[2] else r[3]  # shared, as build shares it
                users.append(User(r[0], r[1], r[2], name, *r[4:10]))
                user_maps.append(r[10])
        elif kind == "g":
            group_rows += rows
        elif kind == "m":
            map_rows += rows
        else:
            raise ValueError(f"unknown snapshot line kind {kind!r}")
    if (len(users), len(group_rows), len(map_rows)) != (header["users"], header["groups"], header["maps"]):
        raise ValueError("the snapshot is truncated")
    group_guids = [r[0] for r in group_rows]
    group_dns = [r[1] for r in group_rows]

    def member(m: int | str) -> str:
        if isinstance(m, str):
            return m
        return users[m].dn if m >= 0 else group_dns[-1 - m]

    groups = {
        r[0]: Group(guid=r[0], dn=r[1], sam=r[2], name=r[3], sid=r[4], usn=r[5], member_dns=tuple(map(member, r[6])))
        for r in group_rows
    }
    del group_rows
    interned: dict[tuple[int, int, int, int], Membership] = {}
    maps: list[MappingProxyType[str, Membership]] = []
    directs: list[frozenset[str]] = []
    for flat in map_rows:
        ms: dict[str, Membership] = {}
        for k in range(0, len(flat), 4):
            key = (flat[k], flat[k + 1], flat[k + 2], flat[k + 3])
            m = interned.get(key)
            if m is None:
                g, via = group_guids[key[0]], None if key[1] < 0 else group_guids[key[1]]
                m = interned[key] = Membership(g, via, bool(key[2]), key[3])
            ms[m.group_guid] = m
        maps.append(MappingProxyType(ms))
        directs.append(frozenset(g for g, m in ms.items() if m.via is None))
    del map_rows
    return Directory(
        users={u.guid: u for u in users},
        groups=groups,
        direct={u.guid: directs[i] for u, i in zip(users, user_maps, strict=True) if directs[i]},
        effective={u.guid: maps[i] for u, i in zip(users, user_maps, strict=True)},
        issues=tuple(Issue(*i) for i in header["issues"]),
        read=ReadInfo.from_stats(header["stats"]),
    )


def _membership(row: list[Any]) -> Membership:
    if len(row) == 3:  # v1: [group, chain, primary]
        g, path, primary = row
        return Membership(g, path[-2] if len(path) > 1 else None, bool(primary), len(path))
    g, via, primary, depth = row
    return Membership(g, via, bool(primary), int(depth))


def _from_document(data: dict[str, Any]) -> Directory:
    """Formats 1 and 2: one JSON document (a membership is [group, chain, primary] in v1,
    [group, via, primary, depth] in v2)."""
    users = {r[0]: User(*r) for r in data["users"]}
    groups = {
        r[0]: Group(guid=r[0], dn=r[1], sam=r[2], name=r[3], sid=r[4], usn=r[5], member_dns=tuple(r[6]))
        for r in data["groups"]
    }
    return Directory(
        users=users,
        groups=groups,
        direct={k: frozenset(v) for k, v in data["direct"].items()},
        effective={u: {row[0]: _membership(row) for row in ms} for u, ms in data["effective"].items()},
        issues=tuple(Issue(*i) for i in data["issues"]),
        read=ReadInfo.from_stats(data["stats"]),
    )
