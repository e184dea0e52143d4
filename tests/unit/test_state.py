import multiprocessing
import os
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dirkit._directory.build import RawUser, build
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy
from dirkit._state import SCHEMA_VERSION, StateStore
from dirkit.errors import LockedError, NotFoundError, StateError


def _dir(n: int) -> Directory:
    users = [RawUser(str(i), f"CN=u{i},DC=x", f"u{i}", f"S-1-5-21-1-{i}", None, None, 512, None, 1) for i in range(n)]
    return build(users, [], NamePolicy(), ["DC=x"])


def test_snapshot_round_trip_and_pruning(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    for n in range(1, 5):
        store.save_snapshot(store.start_run("sync"), _dir(n), keep=2)
    last = store.last_snapshot()
    assert last is not None and len(last.users) == 4
    assert store.db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 2


def test_retention_keeps_the_recent_snapshots_and_the_last_of_each_day(tmp_path: Path) -> None:
    # Issue 24: `report --at` needs the past; keep_snapshots alone kept 10 snapshots, a few
    # hours of a busy directory. Past them, one snapshot a day survives for history_days.
    store = StateStore(tmp_path / "s.sqlite")
    day = 86400.0
    t0 = 1_790_000_000.0 - 1_790_000_000.0 % day  # a UTC midnight
    times = [t0 + d * day + h * 3600 for d in range(5) for h in (1, 13)]  # two snapshots a day
    for i, t in enumerate(times, 1):
        store.save_snapshot(store.start_run("sync"), _dir(i), keep=3, history_days=3, now=t)
    rows = store.snapshots()
    # Days past the 3 newest that have snapshots: gone; within: the last of each day kept; the 3 newest whole.
    assert [(r.taken, r.kept) for r in rows] == [
        (times[4], False),  # day 2, 01:00 (days 0 and 1 are past the 3 newest days)
        (times[5], True),
        (times[6], False),
        (times[7], True),
        (times[8], True),
        (times[9], True),
    ]
    row, d = store.snapshot_at(t0 + 3 * day)  # the start of day 3: day 2's last snapshot was in force
    assert row.taken == times[5] and len(d.users) == 6
    with pytest.raises(NotFoundError, match="thinned out.*a date, YYYY-MM-DD"):
        store.snapshot_at(times[4] + 60)  # day 2 at 01:01: that snapshot's data is gone
    with pytest.raises(NotFoundError, match="no snapshot was applied by"):
        store.snapshot_at(t0 + day)
    assert len(store.snapshot_at(times[9] + 1)[1].users) == 10


def _daily(store: StateStore, days: int, t0: float) -> list[float]:
    """One sync a day (a snapshot each), noon UTC, as a quiet cron'd directory would have."""
    times = [t0 + d * 86400.0 + 43200 for d in range(days)]
    for i, t in enumerate(times, 1):
        run = store.start_run("sync")
        store.db.execute("UPDATE runs SET started = ? WHERE id = ?", (t, run))
        assert store.save_snapshot(run, _dir(i % 7 + 1), keep=10, history_days=400, now=t).retention == ""
    return times


def _run_at(store: StateStore, t: float, users: int) -> str:
    run = store.start_run("sync")
    store.db.execute("UPDATE runs SET started = ? WHERE id = ?", (t, run))
    return store.save_snapshot(run, _dir(users), keep=10, history_days=400, now=t).retention


def test_a_clock_jumping_ahead_deletes_no_history(tmp_path: Path) -> None:
    # Issue 31, item 2: 100 daily snapshots, then one run with the clock 401 days ahead: the
    # wall-clock retention left 10 rows and `report --at` day 30 failed for good.
    store = StateStore(tmp_path / "s.sqlite")
    t0 = 1_790_000_000.0 - 1_790_000_000.0 % 86400
    times = _daily(store, 100, t0)
    why = _run_at(store, times[-1] + 401 * 86400, 3)
    assert "more than 30 days after the previous run" in why
    assert len(store.snapshots()) == 101
    row, _ = store.snapshot_at(t0 + 30 * 86400 + 86399)  # the end of day 30: its snapshot
    assert row.taken == times[30]
    # Back to the right time: the next run's clock is earlier than that stored snapshot.
    assert "earlier than the newest stored snapshot" in _run_at(store, times[-1] + 86400, 4)
    assert len(store.snapshots()) == 102


def test_a_clock_going_back_neither_thins_nor_stands_in_for_the_past(tmp_path: Path) -> None:
    # One run with the clock two days back thinned the real snapshot of that day, and `--at`
    # its end returned the later picture (admin1 missing, a revocation not yet happened).
    store = StateStore(tmp_path / "s.sqlite")
    t0 = 1_790_000_000.0 - 1_790_000_000.0 % 86400
    times = _daily(store, 30, t0)
    day1 = times[-3]  # "day 1": two days before the last run
    why = _run_at(store, times[-1] - 2 * 86400 + 3600, 2)  # a later run, its clock two days back
    assert "earlier than the newest stored snapshot" in why
    row, d = store.snapshot_at(day1 - 43200 + 86399)  # the end of that day
    assert row.taken == day1 and row.kept and len(d.users) != 2
    assert len(store.snapshot_at(times[-1] + 60)[1].users) == 2  # and the newest is still the newest


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    a, b = StateStore(tmp_path / "s.sqlite"), StateStore(tmp_path / "s.sqlite")
    with a.lock():
        with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
            with b.lock():
                pass
    with b.lock():
        pass


def _hold_lock_forever(path: str) -> None:
    with StateStore(Path(path)).lock():
        time.sleep(60)


def test_killed_holder_releases_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    StateStore(path).close()
    proc = multiprocessing.get_context("fork").Process(target=_hold_lock_forever, args=(str(path),))
    proc.start()
    time.sleep(0.5)
    with pytest.raises(LockedError):
        with StateStore(path).lock():
            pass
    os.kill(proc.pid or 0, signal.SIGKILL)
    proc.join()
    with StateStore(path).lock():
        pass


def _write_then_die(path: str) -> None:
    store = StateStore(Path(path))
    store.db.execute("BEGIN IMMEDIATE")
    store.db.execute("INSERT INTO snapshots(run_id, taken, users, groups, data) VALUES (1, 0, 0, 0, x'00')")
    os.kill(os.getpid(), signal.SIGKILL)  # killed mid-transaction


def test_run_killed_mid_write_leaves_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = StateStore(path)
    store.save_snapshot(store.start_run("sync"), _dir(3), keep=5)
    proc = multiprocessing.get_context("fork").Process(target=_write_then_die, args=(str(path),))
    proc.start()
    proc.join()
    last = StateStore(path).last_snapshot()
    assert last is not None and len(last.users) == 3


def test_old_schema_is_migrated_and_garbage_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from dirkit.errors import EXIT_CONFIG, StateError

    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    # The tables as the first dirkit created them (no user_version, no USN/digest columns).
    db.execute(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, command TEXT NOT NULL, started REAL NOT NULL, ended REAL, "
        "outcome TEXT NOT NULL DEFAULT 'running', counts TEXT NOT NULL DEFAULT '{}', message TEXT NOT NULL DEFAULT '')"
    )
    db.execute(
        "CREATE TABLE snapshots (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, taken REAL NOT NULL, "
        "users INTEGER NOT NULL, groups INTEGER NOT NULL, data BLOB NOT NULL)"
    )
    db.commit()
    db.close()
    assert StateStore(old).last_meta() == ([], None, None)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not a usable dirkit state database") as exc:
        StateStore(junk)
    assert exc.value.exit_code == EXIT_CONFIG  # the message names state.path, like a config error


def test_foreign_newer_and_corrupt_databases_are_refused_and_left_alone(tmp_path: Path) -> None:
    import sqlite3

    from dirkit.errors import StateError

    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE runs (x TEXT)")  # another program's table that happens to be called runs
    db.commit()
    db.close()
    with pytest.raises(StateError, match="not a dirkit state database"):
        StateStore(other)
    db = sqlite3.connect(other)
    assert [r[1] for r in db.execute("PRAGMA table_info(runs)")] == ["x"]  # untouched
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'snapshots'").fetchone() is None
    db.close()

    newer = tmp_path / "newer.sqlite"
    StateStore(newer).close()
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer dirkit"):
        StateStore(newer)

    corrupt = tmp_path / "corrupt.sqlite"
    store = StateStore(corrupt)
    store.db.execute("INSERT INTO runs(command, started) VALUES ('sync', 0)")
    store.db.execute("INSERT INTO snapshots(run_id, taken, users, groups, data) VALUES (1, 0, 0, 0, x'00ff')")
    with pytest.raises(StateError, match="snapshot 1 is unreadable"):
        store.last_snapshot()
    store.close()


def test_state_database_is_private(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        store = StateStore(tmp_path / "new" / "state.sqlite")
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "state.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


# -- issue 19, item 3: the state directory follows no symlink and must be private -------------


def _secret(tmp_path: Path) -> Path:
    s = tmp_path / "elsewhere" / "secret"
    s.parent.mkdir()
    s.write_text("precious\n")
    s.chmod(0o644)
    return s


def test_a_planted_lock_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    state = tmp_path / "state" / "state.sqlite"
    StateStore(state).close()
    target = _secret(tmp_path)
    (state.parent / "state.sqlite.lock").symlink_to(target)
    with pytest.raises(StateError, match=r"state.sqlite.lock is a symlink.*remove it") as err:
        with StateStore(state).lock():
            pass
    assert err.value.exit_code == 4
    assert target.read_text() == "precious\n"


def test_a_planted_database_symlink_is_refused_even_by_read_only_history(tmp_path: Path) -> None:
    from seed_fixture import seed_config

    from dirkit import Dirkit

    state = tmp_path / "state" / "state.sqlite"
    state.parent.mkdir(mode=0o700)
    target = _secret(tmp_path)
    state.symlink_to(target)
    kit = Dirkit(seed_config(state={"path": str(state)}))
    with pytest.raises(StateError, match="never follows one there"):
        kit.history()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_text() == "precious\n"


@pytest.mark.parametrize("how", ["group-writable", "world-writable", "other-owner"])
def test_a_state_directory_another_user_could_write_is_refused(tmp_path: Path, how: str) -> None:
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    if how == "group-writable":
        d.chmod(0o770)
    elif how == "world-writable":
        d.chmod(0o1777)  # sticky like /tmp: still another user's file could sit there
    else:
        os.chown(d, 4242, -1)
    with pytest.raises(StateError) as err:
        StateStore(d / "state.sqlite")
    msg = str(err.value)
    assert err.value.exit_code == 4 and "\n" not in msg
    assert str(d) in msg and ("chmod go-w" in msg or "chown root" in msg)
    assert not (d / "state.sqlite").exists()


def test_a_database_another_user_owns_or_may_write_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    StateStore(state).close()
    state.chmod(0o666)
    with pytest.raises(StateError, match="writable by other users"):
        StateStore(state)
    state.chmod(0o600)
    os.chown(state, 4242, -1)
    with pytest.raises(StateError, match="owned by uid 4242"):
        StateStore(state)


def test_the_cli_refuses_a_loose_state_directory_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from seed_fixture import simple_config_file

    from dirkit._cli import main

    d = tmp_path / "loose"
    d.mkdir()
    d.chmod(0o777)
    f = simple_config_file(tmp_path / "c.toml", d / "state.sqlite")
    r = CliRunner().invoke(main, ["history", "-c", str(f)])
    assert r.exit_code == 4, r.output
    assert "writable by other users" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_homes_are_found_by_guid_through_an_index_also_in_a_migrated_database(tmp_path: Path) -> None:
    # Issue 21: remember_homes deletes and updates one row per home by objectGUID; without an
    # index each is a scan of the table, so a 10k-user sync spent 9.7 s there (quadratic).
    import sqlite3

    old = tmp_path / "v7.sqlite"
    store = StateStore(old)
    store.db.execute("DROP INDEX homes_by_guid")
    store.db.execute("PRAGMA user_version = 7")  # as dirkit 7 left it
    store.close()
    for path in (old, tmp_path / "new.sqlite"):
        store = StateStore(path)
        store.remember_homes({"alice": "g-alice", "bob": "g-bob"})
        plan = store.db.execute("EXPLAIN QUERY PLAN DELETE FROM homes WHERE guid = ? AND name != ?", ("g", "n"))
        assert any("USING INDEX homes_by_guid" in row[-1] for row in plan.fetchall()), path
        assert {n: o.guid for n, o in store.owned_homes().items()} == {"alice": "g-alice", "bob": "g-bob"}
        store.close()
    assert sqlite3.connect(old).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("write", ["revocations", "homes", "pending"])
def test_a_deadline_inside_a_state_write_leaves_no_open_transaction_to_eat_the_runs_record(
    tmp_path: Path, write: str
) -> None:
    # Issue 31, item 3: the deadline is a BaseException; the writes caught only sqlite3.Error,
    # skipped the ROLLBACK, and end_run then wrote into the still-open transaction, which the
    # close rolled back: the run stayed 'running' (later: 'interrupted'), not 'failed'.
    from dirkit._deadline import Expired
    from dirkit._state import Revocation

    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    run = store.start_run("sync")
    real = store.db

    class Expiring:  # the connection, with the alarm going off inside the write
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def executemany(self, *args: object) -> None:
            raise Expired("the run passed its deadline (run.deadline_seconds = 1)")

    # A stand-in connection (the real one underneath): the deadline's alarm cannot be made to land
    # inside one executemany on demand, so this raises what the alarm raises, where it would.
    store.db = Expiring()  # type: ignore[assignment]  # a wrapper, not an sqlite3.Connection
    with pytest.raises(Expired):
        if write == "revocations":
            store.record_revocations([Revocation("g", "alice", 1.0, True, ())])
        elif write == "homes":
            store.remember_homes({"alice": "g"})
        else:
            store.record_pending({"alice": "g"})
    store.db = real
    assert not real.in_transaction
    store.end_run(run, "failed", message="deadline")
    store.close()
    with StateStore(path) as again:
        assert [(r.id, r.outcome) for r in again.runs(1)] == [(run, "failed")]


def test_a_delta_is_stored_as_a_patch_and_every_kept_snapshot_loads_as_it_was(tmp_path: Path) -> None:
    # Issue 33, item 1: a delta's snapshot is written in proportion to what it touched (a patch
    # on the one before, at most PATCH_CHAIN deep); loading one gives exactly the snapshot
    # saved, and retention keeps whole every snapshot a kept one is a patch on.
    from dataclasses import replace as copy

    from dirkit._directory.source import MemoryDeltaSource
    from dirkit._state import PATCH_CHAIN

    users = [RawUser(str(i), f"CN=u{i},DC=x", f"u{i}", f"S-1-5-21-1-{i}", None, None, 512, None, 1) for i in range(200)]
    source = MemoryDeltaSource(users, [], NamePolicy(), ["DC=x"], "ldaps://dc")
    store = StateStore(tmp_path / "s.sqlite")
    day, t0 = 86400.0, 1_790_000_000.0
    saved: dict[int, Directory] = {}
    patches = 0
    current = source.read()
    saved[store.save_snapshot(store.start_run("sync"), current, keep=3, history_days=2, now=t0).id] = current
    for step in range(3 * PATCH_CHAIN):
        u = source.users[str(step)]
        source.change(users=[copy(u, uac=514)])
        wm = copy(store.watermark() or _wm(), usn=source.usn - 1)
        applied = source.read_delta(wm, _given(current)).directory
        assert applied is not None
        current = applied
        row = store.save_snapshot(
            store.start_run("sync"), current, keep=3, history_days=2, now=t0 + step * day / 4, base=saved[max(saved)]
        )
        saved[row.id] = current
        (base_id,) = store.db.execute("SELECT base_id FROM snapshots WHERE id = ?", (row.id,)).fetchone()
        patches += base_id is not None
    bases = dict(store.db.execute("SELECT id, base_id FROM snapshots"))
    assert patches >= 2 * PATCH_CHAIN  # most were patches; every PATCH_CHAIN + 1st one whole
    assert max(len(store._chain(i)) for i in bases) <= PATCH_CHAIN + 1
    kept = [r for r in store.snapshots() if r.kept]
    assert len(kept) < len(saved)  # retention ran
    for r in kept:
        assert store._load(r.id) == saved[r.id], r.id
    patch = store.db.execute("SELECT length(data) FROM snapshots WHERE base_id IS NOT NULL LIMIT 1").fetchone()[0]
    whole = store.db.execute("SELECT length(data) FROM snapshots WHERE base_id IS NULL LIMIT 1").fetchone()[0]
    assert patch * 5 < whole


def _given(d: Directory) -> Callable[[], Directory]:
    return lambda: d


def _wm() -> Any:
    from dirkit._directory.delta import Watermark

    return Watermark("ldaps://dc", "memory", 0, "", 0.0, 0.0, True)
