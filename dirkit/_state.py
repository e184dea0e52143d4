"""The state store (SQLite): applied snapshots, run history, and the run lock.

A snapshot is written in one transaction, so a run killed at any point leaves the previous
applied state exactly as it was. The lock is an flock on ``<state>.lock``: the kernel drops it
when a process dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _deadline as deadline
from . import _faults as faults
from ._directory import encoding, incremental
from ._directory.delta import Watermark
from ._directory.model import Directory, ReadInfo
from ._homes.plan import Owned
from ._run_record import RunRecord
from ._safe_files import check_private_dir, open_private
from .errors import LockedError, NotFoundError, StateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    outcome TEXT NOT NULL DEFAULT 'running',
    counts TEXT NOT NULL DEFAULT '{}',
    message TEXT NOT NULL DEFAULT '',
    -- What the run read, planned, applied, held and what failed (sync.RunRecord), as JSON.
    record TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    taken REAL NOT NULL,
    users INTEGER NOT NULL,
    groups INTEGER NOT NULL,
    data BLOB NOT NULL,
    -- 100-quantiles of the users' uSNChanged: lets the next read split its work evenly
    -- without loading the whole snapshot first.
    usn_quantiles TEXT NOT NULL DEFAULT '[]',
    -- plan.plan_digest() of this snapshot: an equal digest means nothing to plan.
    plan_digest TEXT NOT NULL DEFAULT '',
    -- plan.content_digest(): equal means storing this read again would change nothing.
    content_digest TEXT NOT NULL DEFAULT '',
    -- Directory.stats as JSON: what a run with nothing changed reports, without loading data.
    stats TEXT NOT NULL DEFAULT '{}',
    -- NULL: data is the whole snapshot; else data is a patch (encoding.encode_patch) on the
    -- snapshot of that id, at most PATCH_CHAIN patches from a whole one. Retention never
    -- thins or deletes a snapshot that a kept one is a patch on.
    base_id INTEGER
    -- An empty data blob: a snapshot thinned out by retention (save_snapshot); its row stays,
    -- so `dirkit report --at` can say that the picture of that moment is no longer kept.
);
-- Every home dirkit made: only these are ever renamed, handed over or locked, so a service
-- account's directory, or an admin's, never is, whatever AD account takes its name.
CREATE TABLE IF NOT EXISTS homes (
    name TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    -- When dirkit first saw the home's user gone (or disabled); NULL while they are there.
    departed REAL,
    -- The objectGUID of the user it was provisioned for: a rename is followed, a reused name reported.
    guid TEXT,
    -- 'pending': recorded before its MKDIRS (or the RENAME to it); 'created': dirkit made it and
    -- handed it over; 'legacy': a row from before schema 11, when every wanted name was recorded
    -- whether dirkit made the directory or found it: never trusted (no GUID kept).
    origin TEXT NOT NULL DEFAULT 'legacy',
    -- Owner, group and mode as the last run that listed the prefix left them, and when.
    owner TEXT,
    grp TEXT,
    mode TEXT,
    checked REAL
);
-- Where the last applied read stopped (directory/delta.py): one row.
CREATE TABLE IF NOT EXISTS watermark (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    dc TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    usn INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    taken REAL NOT NULL,
    last_full REAL NOT NULL,
    -- May the sync account read tombstones there? 0 not known, 1 yes, 2 no (delta.Watermark).
    tombstones_seen INTEGER NOT NULL DEFAULT 0
);
-- The last homes pass of `dirkit sync` that planned and applied without a failure (one row):
-- the snapshot it planned against (content digest), the prefix's modificationTime it left, and
-- when every home was last planned. A delta's pass may plan only its users' homes from it.
CREATE TABLE IF NOT EXISTS homes_pass (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    content_digest TEXT NOT NULL,
    prefix_mtime INTEGER NOT NULL,
    full REAL NOT NULL,
    wanted INTEGER NOT NULL DEFAULT 0
);
-- The documents the last applied sync rendered (one row): from what (a digest of the snapshot's
-- content digest, the configuration and dirkit's version), each file's SHA-256 as written, and
-- the documents' warnings. The same inputs and the same files: nothing to render again.
CREATE TABLE IF NOT EXISTS documents_pass (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    inputs TEXT NOT NULL,
    files TEXT NOT NULL,
    warnings TEXT NOT NULL
);
-- The last `dirkit verify --revoked` proof per user (by objectGUID): was each access denied?
CREATE TABLE IF NOT EXISTS revocations (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    checked REAL NOT NULL,
    denied INTEGER NOT NULL,
    -- [{"check", "status", "detail"}...] as `verify --json` writes them.
    checks TEXT NOT NULL
);
-- Plans held by a safety limit, by Plan.digest: approved (by `dirkit approve`), and settled
-- (applied_run) by the next run that applies a plan, whichever it is.
CREATE TABLE IF NOT EXISTS held (
    digest TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL,
    held REAL NOT NULL,
    reason TEXT NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    approved REAL,
    applied_run INTEGER
);
"""


DAY = 86400.0
# A run more than this after the previous one applies no retention: a clock that jumped ahead
# (or a machine restored from an old image) must not thin or delete a year of history at once.
CLOCK_GAP_DAYS = 30.0
# A delta's snapshot is stored as a patch on the one before while this many patches or fewer
# lead to a whole one, and while it touched at most a tenth of the objects (a load decodes the
# whole one and applies the patches: a longer chain would make loads slower than saves gain).
PATCH_CHAIN = 8


@dataclass(frozen=True)
class HomesPass:
    """The last clean homes pass of `dirkit sync` (the homes_pass table)."""

    content_digest: str  # of the snapshot it planned against
    prefix_mtime: int  # the prefix's modificationTime it left (ms)
    full: float  # when it last planned every home (Unix time)
    wanted: int = 0  # homes wanted then (what a pass with nothing to plan reports)


@dataclass(frozen=True)
class DocumentsPass:
    """The documents the last applied sync rendered (the documents_pass table)."""

    inputs: str  # see _sync.documents_inputs
    files: Mapping[str, str]  # file name -> SHA-256 of what was written
    warnings: tuple[tuple[str, str], ...] = ()  # (document, warning)


@dataclass(frozen=True)
class Saved:
    """A stored snapshot's id, and why retention was not applied ("" when it was)."""

    id: int
    retention: str = ""


@dataclass(frozen=True)
class SnapshotRow:
    """An applied snapshot's row: which run applied it, when, its size and content digest;
    ``kept`` is False once retention thinned its data out."""

    id: int
    run_id: int
    taken: float
    users: int
    groups: int
    content_digest: str
    kept: bool


@dataclass(frozen=True)
class HomeRecord:
    """A home dirkit provisioned, as the last run that listed the prefix saw it (None: not seen yet)."""

    name: str
    owner: str | None
    group: str | None
    mode: str | None
    checked: float | None
    departed: float | None


@dataclass(frozen=True)
class Revocation:
    """The last revocation proof of one user: when, whether every access was denied, each check."""

    guid: str
    name: str
    checked: float
    denied: bool
    checks: tuple[Mapping[str, Any], ...]

    @property
    def verdict(self) -> str:
        """ "denied", "NOT denied" (some check found access), or "not proven" (no evidence either way)."""
        if self.denied:
            return "denied"
        if any(str(c.get("detail", "")).startswith("NOT denied") for c in self.checks):
            return "NOT denied"
        return "not proven"

    @property
    def evidence(self) -> list[dict[str, str]]:
        """What the verdict rests on: each check that found the access refused, with its answer."""
        return [
            {"check": str(c["check"]), "detail": str(c["detail"])} for c in self.checks if c.get("status") == "pass"
        ]

    def to_json(self) -> dict[str, Any]:
        """As docs/json.md's report documents it (``users[].revocation``)."""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.checked))
        return {
            "checked": when,
            "denied": self.denied,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "checks": [dict(c) for c in self.checks],
        }


@dataclass(frozen=True)
class Run:
    """One run's row in the state database: when, what kind, its outcome, counts and record."""

    id: int
    command: str
    started: float
    ended: float | None
    outcome: str
    counts: dict[str, Any]
    message: str
    record: dict[str, Any] = field(default_factory=dict)  # as stored: RunRecord.to_json() of its run

    @property
    def details(self) -> RunRecord:
        """The run's record, typed (a killed run's is empty but for its id and command)."""
        return RunRecord.from_json(self.record, self.id, self.command)

    def to_json(self) -> dict[str, Any]:
        """This run as docs/json.md's `history --json` documents it."""
        return {
            "id": self.id,
            "command": self.command,
            "started": self.started,
            "ended": self.ended,
            "outcome": self.outcome,
            "counts": self.counts,
            "message": self.message,
            "record": self.record,
        }


@dataclass(frozen=True)
class HeldPlan:
    """A plan a safety limit stopped: nothing of it was applied until a human approved it."""

    digest: str
    run_id: int
    held: float
    reason: str
    counts: dict[str, int]
    approved: float | None
    applied_run: int | None

    def to_json(self) -> dict[str, Any]:
        """This held plan as docs/json.md's `history --json` documents it."""
        return {
            "digest": self.digest,
            "run_id": self.run_id,
            "held": self.held,
            "reason": self.reason,
            "counts": self.counts,
            "approved": self.approved,
            "applied_run": self.applied_run,
        }


_RIGHTS = {None: 0, True: 1, False: 2}  # Watermark.tombstone_rights in the tombstones_seen column
SCHEMA_VERSION = 12  # kept in PRAGMA user_version; 0 = created before versioning (or not ours)
UNVERSIONED_TABLES = {"runs", "snapshots"}  # what the first dirkit created


@dataclass
class SnapshotKeeper:
    """The newest snapshot a process loaded or stored, kept in memory across its runs (``dirkit
    watch``, an API caller syncing again): reused while the state's newest row is still that one
    (same id, time and content digest; another process's run or a replaced file changes them),
    so a delta after a delta loads nothing and its index and derived values are already made."""

    row: tuple[int, float, str] | None = None
    directory: Directory | None = None

    def get(self, row: tuple[int, float, str]) -> Directory | None:
        return self.directory if row == self.row else None

    def keep(self, row: tuple[int, float, str], directory: Directory) -> None:
        self.row, self.directory = row, directory


class StateStore:
    """The state database. It holds DNs, SIDs and memberships: the file is 0600, and a directory
    created for it is 0700. Another program's database, or a newer dirkit's, is never changed.
    The directory and the files in it must be the running user's and writable by nobody else
    (StateError, exit 4, otherwise); no symlink is followed there."""

    def __init__(self, path: Path, keeper: SnapshotKeeper | None = None) -> None:
        self.path = path
        self.keeper = keeper
        # dirkit runs as root: a directory someone else may write would let them swap the
        # database or its lock for a symlink to any file. Refuse it, as ssh refuses a loose ~/.ssh.
        check_private_dir(path.parent, "state.path", StateError)
        for side in (self._lock_path(), Path(f"{path}-wal"), Path(f"{path}-shm")):
            if side.is_symlink():
                raise StateError(f"state.path: {side} is a symlink; dirkit never follows one there: remove it")
        os.close(open_private(path, "state.path", StateError))
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"state.path {path}: cannot open the state database ({exc})") from exc
        try:
            self._open_schema()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise StateError(f"state.path {path}: not a usable dirkit state database ({exc})") from exc
        except StateError:
            self.db.close()
            raise

    def _open_schema(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state.path {self.path}: written by a newer dirkit (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade dirkit, or point state.path at another file"
            )
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and tables and not self._older_dirkit(tables):
            raise StateError(
                f"state.path {self.path}: not a dirkit state database (it has the tables "
                f"{', '.join(sorted(tables))}); dirkit leaves it alone: point state.path at another file"
            )
        self.db.execute("PRAGMA journal_mode=WAL")
        if version < SCHEMA_VERSION:
            self.db.executescript(SCHEMA)
            self._migrate()
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _older_dirkit(self, tables: set[str]) -> bool:
        """An unversioned database written by an earlier dirkit: only our tables, ours in shape."""
        if tables != UNVERSIONED_TABLES:
            return False
        runs = {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}
        snaps = {r[1] for r in self.db.execute("PRAGMA table_info(snapshots)")}
        return {"id", "command", "started", "outcome"} <= runs and {"id", "run_id", "data"} <= snaps

    def _migrate(self) -> None:
        """Add columns that newer versions keep (a state DB from an older dirkit keeps working)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(snapshots)")}
        for column, ddl in (
            ("usn_quantiles", "TEXT NOT NULL DEFAULT '[]'"),
            ("plan_digest", "TEXT NOT NULL DEFAULT ''"),
            ("content_digest", "TEXT NOT NULL DEFAULT ''"),
            ("stats", "TEXT NOT NULL DEFAULT '{}'"),
            ("base_id", "INTEGER"),
        ):
            if column not in have:
                self.db.execute(f"ALTER TABLE snapshots ADD COLUMN {column} {ddl}")
        if "tombstones_seen" not in {r[1] for r in self.db.execute("PRAGMA table_info(watermark)")}:
            self.db.execute("ALTER TABLE watermark ADD COLUMN tombstones_seen INTEGER NOT NULL DEFAULT 0")
        if "departed" not in {r[1] for r in self.db.execute("PRAGMA table_info(homes)")}:
            self.db.execute("ALTER TABLE homes ADD COLUMN departed REAL")
        home_columns = {r[1] for r in self.db.execute("PRAGMA table_info(homes)")}
        for column, ddl in (
            ("guid", "TEXT"),
            ("owner", "TEXT"),
            ("grp", "TEXT"),
            ("mode", "TEXT"),
            ("checked", "REAL"),
        ):
            if column not in home_columns:
                self.db.execute(f"ALTER TABLE homes ADD COLUMN {column} {ddl}")
        if "record" not in {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}:
            self.db.execute("ALTER TABLE runs ADD COLUMN record TEXT NOT NULL DEFAULT '{}'")
        if "origin" not in home_columns:
            # Schema < 11 recorded every wanted name, made or found, with its user's GUID: which
            # directories dirkit really created cannot be told from it, so none is trusted.
            self.db.execute("ALTER TABLE homes ADD COLUMN origin TEXT NOT NULL DEFAULT 'legacy'")
            self.db.execute("UPDATE homes SET guid = NULL")
        # remember_homes looks homes up by GUID once per home: without the index, a scan each
        # (10k homes: 9.7 s a sync, quadratic in the users).
        self.db.execute("CREATE INDEX IF NOT EXISTS homes_by_guid ON homes(guid)")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sql(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Run one statement; a SQLite failure (disk full, locked too long, corrupt) becomes a
        StateError naming the state file."""
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StateError(f"state.path {self.path}: {exc} (statement: {sql.split()[0]})") from exc

    # -- lock ------------------------------------------------------------------------------
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def lock(self) -> Iterator[None]:
        lock_path = self._lock_path()
        fd = open_private(lock_path, "state.path (its lock file)", StateError)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                raise LockedError(f"another dirkit run (pid {holder}) holds {lock_path}; exiting") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the flock

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, command: str) -> int:
        """Record a new run. Call with the lock held: a run still marked running then was
        killed (the lock dies with its process), and is marked interrupted."""
        self._sql(
            "UPDATE runs SET outcome = 'interrupted', ended = ?, message = 'the process ended without recording an "
            "outcome (killed?); the next run converges' WHERE outcome = 'running'",
            (time.time(),),
        )
        cur = self._sql("INSERT INTO runs(command, started) VALUES (?, ?)", (command, time.time()))
        return int(cur.lastrowid or 0)

    def end_run(
        self,
        run_id: int,
        outcome: str,
        counts: dict[str, Any] | None = None,
        message: str = "",
        record: dict[str, Any] | None = None,
    ) -> None:
        self._sql(
            "UPDATE runs SET ended=?, outcome=?, counts=?, message=?, record=? WHERE id=?",
            (
                time.time(),
                outcome,
                json.dumps(counts or {}, sort_keys=True),
                message,
                json.dumps(record or {}, sort_keys=True, default=str),
                run_id,
            ),
        )

    def runs(self, limit: int = 20) -> list[Run]:
        rows = self._sql(
            "SELECT id, command, started, ended, outcome, counts, message, record FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [Run(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], json.loads(r[7])) for r in rows]

    def running_runs(self) -> list[Run]:
        """Runs still marked running: with the lock held, runs that were killed."""
        rows = self._sql("SELECT id FROM runs WHERE outcome = 'running' ORDER BY id").fetchall()
        return [run for (rid,) in rows if (run := self.run(rid)) is not None]

    def run(self, run_id: int) -> Run | None:
        r = self._sql(
            "SELECT id, command, started, ended, outcome, counts, message, record FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        return Run(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], json.loads(r[7])) if r else None

    def last_success(self) -> float | None:
        """When the last run that applied (or had nothing to apply) ended."""
        r = self._sql("SELECT MAX(ended) FROM runs WHERE outcome IN ('applied', 'no-changes')").fetchone()
        return float(r[0]) if r and r[0] is not None else None

    # -- held plans ------------------------------------------------------------------------
    def hold(self, digest: str, run_id: int, reason: str, counts: dict[str, int]) -> None:
        """Keep a plan a safety limit stopped (the first run that held it stays its run)."""
        self._sql(
            "INSERT OR IGNORE INTO held(digest, run_id, held, reason, counts) VALUES (?, ?, ?, ?, ?)",
            (digest, run_id, time.time(), reason, json.dumps(counts, sort_keys=True)),
        )

    def held_plans(self, pending_only: bool = True) -> list[HeldPlan]:
        where = "WHERE applied_run IS NULL" if pending_only else ""
        rows = self._sql(
            f"SELECT digest, run_id, held, reason, counts, approved, applied_run FROM held {where} ORDER BY held DESC"
        ).fetchall()
        return [HeldPlan(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def find_held(self, prefix: str) -> HeldPlan | None:
        """The pending held plan whose digest starts with ``prefix`` (None if none, or several)."""
        found = [h for h in self.held_plans() if h.digest.startswith(prefix.lower())]
        return found[0] if len(found) == 1 else None

    def approve(self, digest: str) -> None:
        self._sql("UPDATE held SET approved = ? WHERE digest = ? AND approved IS NULL", (time.time(), digest))

    def approved(self, digest: str) -> bool:
        r = self._sql(
            "SELECT 1 FROM held WHERE digest = ? AND approved IS NOT NULL AND applied_run IS NULL", (digest,)
        ).fetchone()
        return r is not None

    def resolve_held(self, run_id: int) -> None:
        """A run applied a plan: every held plan is settled by it (applied, if it was the one
        approved; else out of date, since the applied state it was planned against is gone)."""
        self._sql("UPDATE held SET applied_run = ? WHERE applied_run IS NULL", (run_id,))

    # -- snapshots -------------------------------------------------------------------------
    def save_snapshot(
        self,
        run_id: int,
        directory: Directory,
        keep: int,
        digest: str = "",
        content: str = "",
        history_days: int = 0,
        now: float | None = None,
        base: Directory | None = None,
    ) -> Saved:
        """Store an applied snapshot; then retention, by the snapshots' own order, never by the
        clock alone: the ``keep`` newest are kept whole; past them, for the newest
        ``history_days`` UTC days that have snapshots, the last of each day (the picture in force
        at the day's end, what `report --at DATE` asks for), the others thinned to their metadata
        row; rows of older days are deleted. A run whose clock reads earlier than the newest
        snapshot, or more than CLOCK_GAP_DAYS after the previous run, applies no retention and
        says why (``Saved.retention``): one wrong clock must not delete or reorder history.
        ``base``: the newest stored snapshot, loaded, when ``directory`` is a delta applied to it:
        then only what the delta touched is written (a patch), within PATCH_CHAIN."""
        now = time.time() if now is None else now
        why_not = self._clock_problem(run_id, now)
        base_id, blob = self._patch_on(directory, base)
        blob = blob or encoding.encode(directory)
        usns = sorted(u.usn for u in directory.users.values())
        quantiles = [usns[len(usns) * i // 100] for i in range(100)] if usns else []
        with self._write("cannot store the snapshot"):
            cur = self._sql(
                "INSERT INTO snapshots(run_id, taken, users, groups, data, usn_quantiles, plan_digest, content_digest, "
                "stats, base_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    now,
                    len(directory.users),
                    len(directory.groups),
                    blob,
                    json.dumps(quantiles),
                    digest,
                    content,
                    json.dumps(directory.read.to_stats(), sort_keys=True),
                    base_id,
                ),
            )
            if not why_not:
                self._retain(keep, history_days)
            faults.point("state-save")
        saved = Saved(int(cur.lastrowid or 0), why_not)
        if self.keeper is not None:  # committed: from now on it is the newest row
            self.keeper.keep((saved.id, now, content), directory)
        return saved

    def _patch_on(self, directory: Directory, base: Directory | None) -> tuple[int | None, bytes]:
        """(the newest snapshot's id, the patch of ``directory`` on it), or (None, b"")."""
        t = incremental.touched(directory, base) if base is not None else None
        if t is None or len(t.users) + len(t.groups) > (len(directory.users) + len(directory.groups)) // 10:
            return None, b""
        row = self._sql("SELECT id, length(data) > 0 FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        if row is None or not row[1] or len(self._chain(int(row[0]))) > PATCH_CHAIN:
            return None, b""
        return int(row[0]), encoding.encode_patch(directory, t.users, t.groups)

    def _chain(self, snapshot_id: int) -> list[int]:
        """The snapshot's id, then the ids it is a patch on, down to a whole one."""
        chain = [snapshot_id]
        while True:
            row = self._sql("SELECT base_id FROM snapshots WHERE id = ?", (chain[-1],)).fetchone()
            if row is None or row[0] is None or len(chain) > PATCH_CHAIN + 1:
                return chain
            chain.append(int(row[0]))

    def _clock_problem(self, run_id: int, now: float) -> str:
        """Why this run's clock cannot be trusted to order history ("" when it can)."""
        newest = self._sql("SELECT max(taken) FROM snapshots").fetchone()[0]
        if newest is not None and now < newest:
            return (
                f"no retention this run: the clock ({_utc(now)}) is earlier than the newest stored snapshot "
                f"({_utc(newest)}); check the host's clock (NTP)"
            )
        previous = self._sql("SELECT max(started) FROM runs WHERE id != ?", (run_id,)).fetchone()[0]
        if previous is not None and now - previous > CLOCK_GAP_DAYS * DAY:
            return (
                f"no retention this run: the clock ({_utc(now)}) is more than {CLOCK_GAP_DAYS:g} days after the "
                f"previous run ({_utc(previous)}); check the host's clock (NTP)"
            )
        return ""

    def _retain(self, keep: int, history_days: int) -> None:
        rows = self._sql("SELECT id, taken, length(data) > 0, base_id FROM snapshots ORDER BY id").fetchall()
        days = [int(t // DAY) for t in _in_force_from([float(r[1]) for r in rows])]
        recent = {r[0] for r in rows[-keep:]}
        last_of_day = {day: r[0] for r, day in zip(rows, days, strict=True)}  # ids ascend: the last wins
        kept_days = set(sorted(last_of_day)[-history_days:]) if history_days else set()
        gone = [(r[0],) for r, day in zip(rows, days, strict=True) if r[0] not in recent and day not in kept_days]
        thin = [
            (r[0],)
            for r, day in zip(rows, days, strict=True)
            if r[0] not in recent and day in kept_days and last_of_day[day] != r[0] and r[2]
        ]
        # A snapshot kept whole needs every one it is a patch on, whole too.
        base_of = {r[0]: r[3] for r in rows}
        dropped = {x for (x,) in gone} | {x for (x,) in thin}
        needed: set[int] = set()
        for r in rows:
            if r[2] and r[0] not in dropped:
                b = base_of.get(r[0])
                while b is not None and b not in needed:
                    needed.add(b)
                    b = base_of.get(b)
        gone = [g for g in gone if g[0] not in needed]
        thin = [t for t in thin if t[0] not in needed]
        self.db.executemany("DELETE FROM snapshots WHERE id = ?", gone)
        # The last snapshot of each kept day survives; the rest, past the recent ones, keep their row only.
        self.db.executemany("UPDATE snapshots SET data = x'' WHERE id = ?", thin)

    def snapshots(self) -> list[SnapshotRow]:
        """Every snapshot row, oldest first, without loading any (thinned ones included)."""
        rows = self._sql(
            "SELECT id, run_id, taken, users, groups, content_digest, length(data) > 0 FROM snapshots ORDER BY id"
        )
        return [
            SnapshotRow(int(r[0]), int(r[1]), float(r[2]), int(r[3]), int(r[4]), str(r[5]), bool(r[6])) for r in rows
        ]

    def snapshot_at(self, when: float) -> tuple[SnapshotRow, Directory]:
        """The snapshot in force at ``when``: the newest applied at or before it, in run order (a
        snapshot is in force from its own time or its predecessor's, whichever is later, so one
        stored under a clock that went back never stands for an earlier moment). NotFoundError
        when none was applied by then, or when that one was thinned out by retention."""
        rows = self.snapshots()
        older = [r for r, t in zip(rows, _in_force_from([r.taken for r in rows]), strict=True) if t <= when]
        if not older:
            first = f"the oldest kept is from {_utc(rows[0].taken)}" if rows else "none is kept yet"
            raise NotFoundError(
                f"no snapshot was applied by {_utc(when)}: {first} (state.history_days sets how far back they go)"
            )
        row = older[-1]
        if not row.kept:
            kept = [_utc(r.taken) for r in rows if r.kept]
            raise NotFoundError(
                f"the snapshot in force at {_utc(when)} (applied {_utc(row.taken)} by run {row.run_id}) was "
                "thinned out: past state.keep_snapshots only the last snapshot of each UTC day is kept, so "
                f"ask for a day's start (a date, YYYY-MM-DD); the newest kept: {', '.join(kept[-5:]) or 'none'}"
            )
        return row, self._load(row.id)

    def last_meta(self) -> tuple[list[int], str | None, str | None]:
        """The last snapshot's USN quantiles, plan digest and content digest (None: no snapshot
        yet), without loading the snapshot itself."""
        row = self._sql(
            "SELECT usn_quantiles, plan_digest, content_digest FROM snapshots ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return (list(json.loads(row[0])), row[1], row[2]) if row else ([], None, None)

    def last_read(self) -> ReadInfo:
        """What the read of the last snapshot learned (defaults if none), without loading it."""
        row = self._sql("SELECT users, groups, stats FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        return ReadInfo.from_stats({"users": row[0], "groups": row[1], **json.loads(row[2])} if row else {})

    # -- watermark -------------------------------------------------------------------------
    def watermark(self) -> Watermark | None:
        row = self._sql(
            "SELECT dc, invocation_id, usn, fingerprint, taken, last_full, tombstones_seen FROM watermark"
        ).fetchone()
        if row is None:
            return None
        dc, invocation, usn, fp, taken, last_full, rights = row
        return Watermark(dc, invocation, usn, fp, taken, last_full, {1: True, 2: False}.get(rights))

    def save_watermark(self, wm: Watermark) -> None:
        self._sql(
            "INSERT OR REPLACE INTO watermark(id, dc, invocation_id, usn, fingerprint, taken, last_full, "
            "tombstones_seen) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
            (wm.dc, wm.invocation_id, wm.usn, wm.fingerprint, wm.taken, wm.last_full, _RIGHTS[wm.tombstone_rights]),
        )

    # -- homes -----------------------------------------------------------------------------
    def owned_homes(self) -> dict[str, Owned]:
        """Home name -> the objectGUID dirkit made it for (and whether that is still pending):
        the only homes dirkit renames, hands over or locks."""
        rows = self._sql("SELECT name, guid, origin FROM homes WHERE origin != 'legacy' AND guid IS NOT NULL")
        return {r[0]: Owned(r[1], r[2] == "pending") for r in rows}

    def departed_homes(self) -> dict[str, float]:
        """Home name -> when dirkit first saw its user gone (homes dirkit provisioned)."""
        return {r[0]: float(r[1]) for r in self._sql("SELECT name, departed FROM homes WHERE departed IS NOT NULL")}

    def record_pending(self, homes: Mapping[str, str]) -> None:
        """Before MKDIRS or RENAME: home name -> the objectGUID it is being made for (pending
        until ``remember_homes`` confirms it), so an interrupted create is known to be dirkit's."""
        now = time.time()
        with self._write("cannot record homes about to be made"):
            self.db.executemany(
                "INSERT INTO homes(name, first_seen, guid, origin) VALUES (?, ?, ?, 'pending') "
                "ON CONFLICT(name) DO UPDATE SET guid = excluded.guid, origin = 'pending', departed = NULL",
                [(n, now, g) for n, g in homes.items()],
            )

    def revocations(self) -> dict[str, Revocation]:
        """objectGUID -> the last revocation proof recorded for that user."""
        rows = self._sql("SELECT guid, name, checked, denied, checks FROM revocations")
        return {r[0]: Revocation(r[0], r[1], float(r[2]), bool(r[3]), tuple(json.loads(r[4]))) for r in rows}

    def record_revocations(self, proofs: Sequence[Revocation]) -> None:
        """Keep each user's newest proof (one transaction)."""
        with self._write("cannot record revocation proofs"):
            self.db.executemany(
                "INSERT OR REPLACE INTO revocations(guid, name, checked, denied, checks) VALUES (?,?,?,?,?)",
                [(p.guid, p.name, p.checked, int(p.denied), json.dumps([dict(c) for c in p.checks])) for p in proofs],
            )

    def homes_pass(self) -> HomesPass | None:
        row = self._sql("SELECT content_digest, prefix_mtime, full, wanted FROM homes_pass").fetchone()
        return None if row is None else HomesPass(str(row[0]), int(row[1]), float(row[2]), int(row[3]))

    def save_homes_pass(self, done: HomesPass | None) -> None:
        """The homes pass just done, or None: the next pass plans every home."""
        with self._write("cannot record the homes pass"):
            self._sql("DELETE FROM homes_pass")
            if done is not None:
                self._sql(
                    "INSERT INTO homes_pass(id, content_digest, prefix_mtime, full, wanted) VALUES (1, ?, ?, ?, ?)",
                    (done.content_digest, done.prefix_mtime, done.full, done.wanted),
                )

    def documents_pass(self) -> DocumentsPass | None:
        row = self._sql("SELECT inputs, files, warnings FROM documents_pass").fetchone()
        if row is None:
            return None
        return DocumentsPass(str(row[0]), dict(json.loads(row[1])), tuple((d, w) for d, w in json.loads(row[2])))

    def save_documents_pass(self, done: DocumentsPass) -> None:
        with self._write("cannot record the documents written"):
            self._sql(
                "INSERT OR REPLACE INTO documents_pass(id, inputs, files, warnings) VALUES (1, ?, ?, ?)",
                (
                    done.inputs,
                    json.dumps(dict(done.files), sort_keys=True),
                    json.dumps([list(w) for w in done.warnings]),
                ),
            )

    def home_statuses(self) -> dict[str, HomeRecord]:
        """Home name -> what the state knows of it: owner, group, mode as last seen, when, departed since."""
        rows = self._sql("SELECT name, owner, grp, mode, checked, departed FROM homes")
        return {r[0]: HomeRecord(*r) for r in rows}

    def remember_homes(
        self,
        owned: Mapping[str, str],
        departed: Sequence[str] = (),
        statuses: Mapping[str, tuple[str, str, str]] | None = None,
    ) -> None:
        """``owned``: home name -> objectGUID of the homes that are dirkit's after the run
        (``HomesResult.owned_homes``; a home renamed with its user loses its old name);
        ``departed``: dirkit's homes whose user is gone, dated the first time only;
        ``statuses``: home name -> (owner, group, mode) as the run left it (homes dirkit knows)."""
        now = time.time()
        statuses = statuses or {}
        with self._write("cannot record home names"):
            self.db.execute("DELETE FROM homes_pass")  # a pass is recorded after this, by sync alone
            moved = [(g, n) for n, g in owned.items()]
            self.db.executemany("DELETE FROM homes WHERE guid = ? AND name != ?", moved)
            self.db.executemany(
                "INSERT INTO homes(name, first_seen, guid, origin) VALUES (?, ?, ?, 'created') "
                "ON CONFLICT(name) DO UPDATE SET guid = excluded.guid, origin = 'created', departed = NULL",
                [(n, now, g) for n, g in owned.items()],
            )
            self.db.executemany(
                "UPDATE homes SET departed = ? WHERE name = ? AND departed IS NULL", [(now, n) for n in departed]
            )
            self.db.executemany(
                "UPDATE homes SET owner = ?, grp = ?, mode = ?, checked = ? WHERE name = ?",
                [(*st, now, n) for n, st in statuses.items()],
            )

    @contextmanager
    def _write(self, what: str) -> Iterator[None]:
        """Every multi-statement write: one transaction, shielded from the run's deadline (an
        alarm waits until it ends), committed, or rolled back on anything at all (a deadline or
        a kill signal is a BaseException: a transaction left open would take the run's own
        record, written next, down with it when the connection closes). SQLite's errors become
        StateError saying ``what`` failed."""
        with deadline.shielded():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StateError(f"state.path {self.path}: {what} ({exc})") from exc
                raise

    def last_snapshot(self) -> Directory | None:
        row = self._sql("SELECT id, taken, content_digest FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        key = (int(row[0]), float(row[1]), str(row[2]))
        kept = self.keeper.get(key) if self.keeper is not None else None
        if kept is not None:
            return kept
        d = self._load(key[0])
        if self.keeper is not None:
            self.keeper.keep(key, d)
        return d

    def last_snapshot_row(self) -> SnapshotRow | None:
        """The last applied snapshot's row (None: no sync applied yet), without loading it."""
        rows = self.snapshots()
        return rows[-1] if rows else None

    def _load(self, snapshot_id: int) -> Directory:
        """The snapshot: a whole one decoded, a patch applied to the one it is on (and so on)."""
        try:
            blobs: list[bytes] = []
            link: int | None = snapshot_id
            while link is not None and len(blobs) <= PATCH_CHAIN:
                data, link = self._sql("SELECT data, base_id FROM snapshots WHERE id = ?", (link,)).fetchone()
                blobs.append(data)
            d = encoding.decode(blobs[-1])  # a whole one (a patch here: "unknown snapshot format")
            for blob in reversed(blobs[:-1]):
                d = encoding.decode_patch(d, blob)
            return d
        except (zlib.error, ValueError, KeyError, TypeError, IndexError, StopIteration) as exc:
            raise StateError(
                f"state.path {self.path}: snapshot {snapshot_id} is unreadable ({exc}); move the file "
                "away to start afresh (the next run is then a first run)"
            ) from exc


def _in_force_from(taken: Sequence[float]) -> list[float]:
    """Each snapshot's time, consistent with the order runs applied them (ids): the running
    maximum, so a snapshot taken under a clock that went back is dated by the one before it."""
    out: list[float] = []
    for t in taken:
        out.append(max(t, out[-1]) if out else t)
    return out


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
