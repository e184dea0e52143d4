"""The run record is one typed value (issue 22): what sync writes is what history, metrics and
the notifier read back, field for field, and the stored JSON keeps its documented shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from memory_hdfs import MemoryHdfs
from seed_fixture import seed_directory
from test_sync_outcomes import kit, without_users

from dirkit import MemorySource, RunRecord
from dirkit._state import StateStore
from dirkit.errors import PartialFailure, ThresholdError


def test_every_outcome_reads_back_as_it_was_written(tmp_path: Path) -> None:
    fs = MemoryHdfs("/user")
    fs.fail.add(("SETOWNER", "/user/dataeng1"))
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, fs, output={"directory": str(tmp_path / "out")})
    with pytest.raises(PartialFailure):
        k.sync()  # the state applied, one home not
    fs.fail.clear()
    k.sync()  # applied: the home finished
    k.sync()  # nothing to do
    source.directory = without_users(seed_directory(), "admin1", "dataeng1", "datascientist1")
    with pytest.raises(ThresholdError):
        k.sync()  # held
    runs = k.history(10)
    assert [r.outcome for r in runs] == ["threshold", "no-changes", "applied", "partial"]
    for run in runs:
        assert run.details.to_json() == run.record, run.outcome  # the stored JSON, exactly
    held, _, applied, partial = (r.details for r in runs)
    assert partial.read is not None and partial.read.users == len(seed_directory().users)
    assert partial.applied and partial.files_changed and partial.homes and partial.homes.failed == 1
    assert applied.homes is not None and applied.homes.done == 1 and applied.homes.failed == 0
    assert held.plan is not None and held.held == held.plan.digest and not held.applied and held.held_pending


def test_a_killed_runs_empty_record_is_typed_too(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.sqlite") as store, store.lock():
        store.start_run("sync")
    k = kit(tmp_path, MemorySource(seed_directory()))
    k.sync()  # marks the first run interrupted
    killed = k.run(1)
    assert killed.outcome == "interrupted" and killed.record == {}
    assert killed.details == RunRecord(1, "sync")
