"""Crash anywhere, then re-run: a real `dirkit sync` process is killed (SIGKILL) at each of its
apply points, against the real lab; the next plain run must end in exactly the state of an
uninterrupted run: same homes (owner, group, mode, quota), same files byte for byte, same
snapshot digest. The kill point is named by DIRKIT_FAULT_KILL_AT (dirkit/_faults.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dirkit._homes.webhdfs import WebHdfs
from dirkit._state import StateStore

DIRKIT = [sys.executable, "-m", "dirkit._cli"]
QUOTA = {"group": "grp_analytics", "namespace": 5000, "space_bytes": 2**30}


def _sync(cfg: Path, kill_at: str | None = None, trace: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIRKIT_FAULT_")}
    if kill_at:
        env["DIRKIT_FAULT_KILL_AT"] = kill_at
    if trace:
        env["DIRKIT_FAULT_TRACE"] = str(trace)
    return subprocess.run([*DIRKIT, "sync", "-c", str(cfg)], env=env, capture_output=True, text=True, timeout=300)


def _outcome(cfg_file: Path, state: Path, out: Path, prefix: str, fs: WebHdfs) -> dict[str, Any]:
    """Everything a run leaves behind, relative to its own prefix and directories."""
    homes = {}
    for e in fs.list(prefix) or []:
        path = f"{prefix}/{e.name}"
        homes[e.name] = (e.owner, e.group, e.permission, fs.quota(path))
    files = {f.name: f.read_bytes() for f in sorted(out.iterdir())}
    with StateStore(state) as store:
        digest = store.last_meta()[1]
    return {"homes": homes, "files": files, "digest": digest}


def _setup(make_config_file: Any, tmp_path: Path, scratch: str, fs: WebHdfs, name: str) -> tuple[Path, ...]:
    prefix = f"{scratch}/{name}"
    fs.mkdirs(prefix, "755")
    out, state = tmp_path / f"out-{name}", tmp_path / f"state-{name}.sqlite"
    cfg = make_config_file(
        f"{name}.toml",
        hdfs={"prefix": prefix, "quotas": [QUOTA]},
        output={"directory": str(out)},
        state={"path": str(state)},
    )
    return cfg, state, out, Path(prefix)


@pytest.mark.parametrize("point", ["after-mkdirs", "after-setowner", "documents", "file-temp", "state-save"])
def test_killed_at_any_apply_point_the_next_run_converges(
    make_config_file: Any, tmp_path: Path, hdfs_scratch: str, superfs: WebHdfs, point: str
) -> None:
    ref_cfg, ref_state, ref_out, ref_prefix = _setup(make_config_file, tmp_path, hdfs_scratch, superfs, "reference")
    assert _sync(ref_cfg).returncode == 0
    reference = _outcome(ref_cfg, ref_state, ref_out, str(ref_prefix), superfs)
    assert reference["homes"] and len(reference["files"]) == 6 and reference["digest"]

    cfg, state, out, prefix = _setup(make_config_file, tmp_path, hdfs_scratch, superfs, "crashed")
    killed = _sync(cfg, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    again = _sync(cfg)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _outcome(cfg, state, out, str(prefix), superfs) == reference
    with StateStore(state) as store:
        assert [r.outcome for r in store.runs(2)] == ["applied", "interrupted"]


SEED = int(os.environ.get("DIRKIT_CRASH_SEED", "19"))
MOMENTS = 20


def moments(trace: list[str], seed: int, count: int = MOMENTS) -> list[int]:
    """``count`` of a traced run's fault points (1-based), seeded: one occurrence of every kind
    of point (so the read, the plan, a document write, the state save, the record and the
    metrics are always among them), the others one from each equal slice of the run."""
    rng = random.Random(seed)
    kinds = sorted(set(trace))
    chosen = {rng.choice([n for n, name in enumerate(trace, 1) if name == kind]) for kind in kinds}
    rest = [n for n in range(1, len(trace) + 1) if n not in chosen]
    slices = count - len(chosen)
    chosen |= {rng.choice(rest[i * len(rest) // slices : (i + 1) * len(rest) // slices]) for i in range(slices)}
    return sorted(chosen)


def test_killed_at_twenty_moments_over_a_whole_sync_each_converges(
    make_config_file: Any, tmp_path: Path, hdfs_scratch: str, superfs: WebHdfs
) -> None:
    # Issue 19: not only the apply points, but moments spread over a whole sync (reading,
    # planning, listing, homes, documents, state, record, metrics). Seeded: DIRKIT_CRASH_SEED
    # reproduces a failure.
    trace_file = tmp_path / "trace"
    ref_cfg, ref_state, ref_out, ref_prefix = _setup(make_config_file, tmp_path, hdfs_scratch, superfs, "reference")
    assert _sync(ref_cfg, trace=trace_file).returncode == 0
    reference = _outcome(ref_cfg, ref_state, ref_out, str(ref_prefix), superfs)
    trace = trace_file.read_text().split()
    assert {"ldap-page", "read", "planned", "homes-listed", "state-save", "recorded", "metrics"} <= set(trace)
    chosen = moments(trace, SEED)
    assert len(chosen) == MOMENTS and chosen[-1] > len(trace) * 3 // 4  # spread to the end of the run
    for n in chosen:
        where = f"seed {SEED}, point #{n} of {len(trace)} ({trace[n - 1]})"
        cfg, state, out, prefix = _setup(make_config_file, tmp_path, hdfs_scratch, superfs, f"m{n}")
        killed = _sync(cfg, kill_at=f"#{n}")
        assert killed.returncode == -signal.SIGKILL, f"{where}: {killed.stderr[-2000:]}"
        again = _sync(cfg)
        assert again.returncode == 0, f"{where}: {again.stderr[-2000:]}"
        assert _outcome(cfg, state, out, str(prefix), superfs) == reference, where
        with StateStore(state) as store:
            assert "running" not in [r.outcome for r in store.runs()], where
