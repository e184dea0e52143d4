"""The Prometheus text-format file a run leaves behind, for node_exporter's textfile collector.

Written after every sync (whatever its outcome) to ``metrics.textfile``, atomically: a temporary
file in the same directory, then a rename, so the collector never reads half a file. The values
come from the run's record (sync.py), so the metrics and `dirkit history --run N` agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ._run_record import HomeActionCounts, ReadRecord, RunRecord
from ._safe_files import remove_stale_temps, write_atomic

OUTCOMES = ("applied", "no-changes", "dry-run", "threshold", "partial", "failed", "interrupted")
READ_KINDS = ("full", "delta")
Sample = tuple[dict[str, str], float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return lines


def render(record: RunRecord, last_success: float | None) -> str:
    """The metrics of one run (its record), plus when a run last succeeded."""
    read = record.read or ReadRecord(kind="")
    homes = record.homes or HomeActionCounts()
    out: list[str] = []
    out += _family(
        "dirkit_last_run_outcome",
        "gauge",
        "1 for the outcome of the last sync run, 0 for the others.",
        (({"outcome": o}, float(record.outcome == o)) for o in OUTCOMES),
    )
    out += _family(
        "dirkit_last_run_timestamp_seconds", "gauge", "When the last run ended.", [({}, record.ended or 0.0)]
    )
    out += _family(
        "dirkit_last_success_timestamp_seconds",
        "gauge",
        "When a run last applied (or had nothing to apply); 0 if never.",
        [({}, last_success or 0.0)],
    )
    out += _family(
        "dirkit_last_run_duration_seconds", "gauge", "How long the last run took.", [({}, record.seconds or 0.0)]
    )
    out += _family(
        "dirkit_read_kind",
        "gauge",
        "1 for the kind of directory read the last run made (full or delta).",
        (({"kind": k}, float(read.kind == k)) for k in READ_KINDS),
    )
    out += _family("dirkit_ldap_searches", "gauge", "LDAP searches the last run made.", [({}, read.searches)])
    out += _family(
        "dirkit_directory_objects",
        "gauge",
        "Users and groups the last run read.",
        [({"kind": "users"}, read.users), ({"kind": "groups"}, read.groups)],
    )
    out += _family(
        "dirkit_plan_changes",
        "gauge",
        "Changes the last run planned, by kind.",
        (({"kind": k}, float(v)) for k, v in sorted((record.plan.counts if record.plan else {}).items())),
    )
    out += _family(
        "dirkit_plan_held",
        "gauge",
        "1 when a plan is held by a safety limit, waiting for `dirkit approve`.",
        [({}, float(bool(record.held_pending)))],
    )
    out += _family(
        "dirkit_hdfs_home_actions",
        "gauge",
        "HDFS home actions the last run did, and the ones that failed.",
        [({"result": "done"}, homes.done), ({"result": "failed"}, homes.failed)],
    )
    out += _family(
        "dirkit_retention_skipped",
        "gauge",
        "1 if the last run applied no snapshot retention because its clock could not be trusted.",
        [({}, float(bool(record.retention_skipped)))],
    )
    out += _family(
        "dirkit_directory_issues",
        "gauge",
        "Directory objects left out of the outputs, by kind of issue.",
        (({"kind": k}, float(v)) for k, v in sorted((record.issues or {}).items())),
    )
    return "\n".join(out) + "\n"


def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (mode 0644: metrics hold no secret). Called with the run
    lock held: a temp file left by a killed run is removed first."""
    remove_stale_temps(path)
    write_atomic(path, text.encode(), 0o644, key="metrics.textfile")
