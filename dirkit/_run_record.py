"""A run's record: what it read, planned, held, applied and did to HDFS homes, and how it ended.

Written by the sync engine as the run goes, stored with the run (`dirkit history --run N`),
rendered as metrics and handed to the notifier: one type for all of them. ``to_json`` is the
format docs/json.md documents (a part the run did not reach is absent); ``from_json`` reads
what any version stored, the empty record of a run that was killed included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar, get_args

from ._directory.model import ReadInfo


@dataclass
class ReadRecord:
    """What the run read: full or delta (and why not a delta), from which DC, at what cost."""

    kind: str = "full"
    why: str = ""
    dc: str | None = None
    searches: int = 0
    changed_objects: int | None = None
    failed_over_from: list[str] = field(default_factory=list)
    users: int = 0
    groups: int = 0

    @classmethod
    def of(cls, info: ReadInfo) -> ReadRecord:
        """From what the read learned."""
        return cls(
            kind=info.kind or "full",
            why=info.why,
            dc=info.dc or None,
            searches=info.searches,
            changed_objects=info.changed_objects if info.kind == "delta" else None,
            failed_over_from=list(info.failed_over_from),
            users=info.users,
            groups=info.groups,
        )


@dataclass
class PlanRecord:
    """The plan the run computed: its digest (what `dirkit approve` takes) and counts."""

    digest: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    removals: int = 0
    first_run: bool = False
    threshold_exceeded: bool = False
    threshold_reason: str = ""


@dataclass
class HomeActionCounts:
    """The HDFS homes part of the run: actions planned, done and failed."""

    actions: int = 0
    done: int = 0
    failed: int = 0


@dataclass
class ActionRecord:
    """One command a run ran for what it revoked (``[revocation]``; _revocation.py)."""

    action: str  # "refresh": Hadoop's group caches; "node_cache": a node's SSSD cache
    program: str
    ok: bool
    seconds: float
    error: str = ""


RunOutcome = Literal["running", "applied", "no-changes", "dry-run", "threshold", "partial", "failed", "interrupted"]


@dataclass
class RunRecord:
    """One run, as it went; the parts it did not reach stay None."""

    run_id: int
    command: str
    outcome: RunOutcome = "running"
    message: str = ""
    started: float | None = None  # only in a killed run's notification, from its row
    ended: float | None = None
    seconds: float | None = None
    read: ReadRecord | None = None
    issues: dict[str, int] | None = None
    plan: PlanRecord | None = None
    held: str | None = None  # the digest of the plan this run held
    approved: str | None = None  # the digest of the held plan this run applied
    applied: bool = False
    files_changed: list[str] | None = None
    homes: HomeActionCounts | None = None
    held_pending: bool | None = None  # a plan is held after this run (any run's)
    retention_skipped: str | None = None  # why this run applied no snapshot retention (its clock)
    revocation: list[ActionRecord] | None = None  # the cache flushes it ran for what it revoked

    def to_json(self) -> dict[str, Any]:
        """The record as docs/json.md documents it: parts the run did not reach are absent."""
        out: dict[str, Any] = {"run_id": self.run_id, "command": self.command}
        parts: dict[str, Any] = {
            "started": self.started,
            "read": asdict(self.read) if self.read else None,
            "issues": self.issues,
            "plan": asdict(self.plan) if self.plan else None,
            "held": self.held,
            "approved": self.approved,
            "files_changed": self.files_changed,
            "homes": asdict(self.homes) if self.homes else None,
            "retention_skipped": self.retention_skipped,
            "revocation": [asdict(a) for a in self.revocation] if self.revocation is not None else None,
        }
        out.update({k: v for k, v in parts.items() if v is not None})
        if self.applied:
            out["applied"] = True
        if self.outcome != "running":
            out["outcome"] = self.outcome
        if self.ended is not None:  # recorded when the run ended
            out.update(message=self.message, ended=self.ended, seconds=self.seconds)
        if self.held_pending is not None:
            out["held_pending"] = self.held_pending
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], run_id: int, command: str) -> RunRecord:
        """A stored record (``{}`` for a run killed before it recorded anything)."""
        read, plan, homes = data.get("read"), data.get("plan"), data.get("homes")
        return cls(
            run_id=int(data.get("run_id", run_id)),
            command=str(data.get("command", command)),
            outcome=_outcome(data.get("outcome", "running")),
            message=str(data.get("message", "")),
            started=data.get("started"),
            ended=data.get("ended"),
            seconds=data.get("seconds"),
            read=_part(ReadRecord, read),
            issues=data.get("issues"),
            plan=_part(PlanRecord, plan),
            held=data.get("held"),
            approved=data.get("approved"),
            applied=bool(data.get("applied")),
            files_changed=data.get("files_changed"),
            homes=_part(HomeActionCounts, homes),
            held_pending=data.get("held_pending"),
            retention_skipped=data.get("retention_skipped"),
            revocation=_actions(data.get("revocation")),
        )


_OUTCOMES: tuple[RunOutcome, ...] = get_args(RunOutcome)


def _outcome(value: object) -> RunOutcome:
    """A stored outcome; one this version does not know (a newer dirkit's) reads as "failed"."""
    return next((known for known in _OUTCOMES if value == known), "failed")


_Part = TypeVar("_Part", ReadRecord, PlanRecord, HomeActionCounts, ActionRecord)


def _actions(data: list[Mapping[str, Any]] | None) -> list[ActionRecord] | None:
    if data is None:
        return None
    return [a for a in (_part(ActionRecord, x) for x in data) if a is not None]


def _part(cls: type[_Part], data: Mapping[str, Any] | None) -> _Part | None:
    # Keys another version wrote and this one does not know are left out, missing ones default.
    if not data:
        return None
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})
