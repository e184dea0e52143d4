import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from dirkit.directory.build import RawUser, build
from dirkit.directory.model import Directory
from dirkit.directory.names import NamePolicy
from dirkit.errors import LockedError
from dirkit.state import StateStore


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
    with pytest.raises(StateError, match="last snapshot is unreadable"):
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
